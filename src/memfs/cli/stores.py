"""Databases and stores: `memfs init`, `memfs path`, `memfs store …`."""

import json

import click

from .. import config, errors
from .common import emit, output_options, pass_m, plural


@click.command()
@pass_m
def init(c):
    """Create the database (if needed) and print its path."""
    c.create = True
    c.m
    click.echo(c.db_path)


@click.command("path")
@pass_m
def path_cmd(c):
    """Print where the database lives."""
    click.echo(c.db_path)


@click.group()
def store():
    """Create, list, describe, rename, archive and delete stores."""


def store_dict(m, s):
    d = {"id": s.uid, "name": s.name, "slug": s.slug, "description": s.description, "metadata": s.metadata,
         "max_content_bytes": s.max_content_bytes, "created_at": config.fmt_time(s.created_at),
         "updated_at": config.fmt_time(s.updated_at), "archived_at": config.fmt_time(s.archived_at) if s.archived else None}
    d.update(m.usage(s))
    return d


@store.command("create")
@click.argument("name")
@click.option("-d", "--description", default="", help="Shown to agents that mount the store.")
@click.option("--max-content-bytes", type=int, default=100 * 1024, show_default=True, help="Largest file allowed.")
@pass_m
def store_create(c, name, description, max_content_bytes):
    """Create a store."""
    s = c.m.create_store(name, description, max_content_bytes=max_content_bytes)
    click.echo(f"created store {s.name} ({s.uid})")


@store.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived stores.")
@output_options
@pass_m
def store_list(c, include_archived, fmt):
    """List stores."""
    rows = [store_dict(c.m, s) for s in c.m.list_stores(include_archived=include_archived)]
    emit(rows, fmt, ["name", "id", "files", "bytes", "revisions", "description"],
         lambda r: f"{r['name']:<24} {plural(r['files'], 'file', width=6)} {plural(r['bytes'], 'byte', width=9)} "
                   f"{plural(r['revisions'], 'rev', width=7).rstrip()}"
                   f"{'  (archived)' if r['archived_at'] else ''}  {r['description']}")


@store.command("show")
@click.argument("name")
@pass_m
def store_show(c, name):
    """Describe a store (JSON)."""
    click.echo(json.dumps(store_dict(c.m, c.m.get_store(name)), indent=2))


@store.command("rename")
@click.argument("name")
@click.argument("new_name")
@pass_m
def store_rename(c, name, new_name):
    """Rename a store (its branches follow: STORE@NAME becomes NEW_NAME@NAME)."""
    s = c.m.update_store(name, name=new_name)
    kids = c.m.branches(s)
    click.echo(f"renamed store {name} to {s.name}"
               + (f"; its branches follow: {', '.join(b.ref for b in kids)}" if kids else ""))


@store.command("describe")
@click.argument("name")
@click.argument("description")
@pass_m
def store_describe(c, name, description):
    """Set a store's description."""
    c.m.update_store(name, description=description)
    click.echo(f"updated {name}")


@store.command("archive")
@click.argument("name")
@pass_m
def store_archive(c, name):
    """Archive a store: it is read-only from then on (permanent)."""
    c.m.archive_store(name)
    click.echo(f"archived store {name}; it is read-only now")


@store.command("rm")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask.")
@pass_m
def store_rm(c, name, yes):
    """Delete a store and its whole history."""
    s = c.m.get_store(name)
    if not yes and not click.confirm(f"Delete store {s.name} and all its history?"):
        raise errors.InvalidInput("not deleted")
    c.m.delete_store(s)
    click.echo(f"deleted store {s.name}")
