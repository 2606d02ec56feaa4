"""Copies: `memfs replicate`, `export`, `import`."""

import os

import click

from .. import errors
from .common import pass_m, plural


@click.command()
@click.option("--to", "target", required=True, metavar="DB_OR_URL",
              help="Another memfs database (PATH or sqlite:///PATH) or server (http(s)://HOST:PORT).")
@click.option("--store", "stores", multiple=True, metavar="NAME", help="Only this store (repeatable; default: all).")
@click.option("--once", is_flag=True, help="Stop once caught up (default: keep following the change feed).")
@click.option("--key", envvar="MEMFS_REPLICATE_KEY", help="API key of a server target (--all-stores=rw to create "
              "stores there) [$MEMFS_REPLICATE_KEY].")
@pass_m
def replicate(c, target, stores, once, key):
    """Keep another memfs in sync with this one, from the change feed.

    Every revision is replayed in order with its original agent, session, actor, time and
    message. The cursor lives in the target, written with each revision, so a killed replicator
    restarts where it stopped, with nothing twice and nothing missing. Branches are not
    replicated (their changes are, once merged)."""
    from ..replication import open_target, replicate as run

    t = open_target(target, key)
    try:
        n, cursor = run(c.m, t, stores=stores, once=once,
                        progress=None if once else lambda n, cur: click.echo(f"replicated {plural(n, 'revision')} (source "
                                                                             f"revision {cur})", err=True))
    finally:
        t.close()
    click.echo(f"replicated {plural(n, 'revision')} to {target} (up to source revision {cursor})")
    kids = [b.ref for b in c.m.branches() if not stores or b.parent.name in stores or b.parent.uid in stores]
    if kids:
        click.echo(f"not replicated: {len(kids)} branches ({', '.join(kids[:5])}{', ...' if len(kids) > 5 else ''}); "
                   "a branch's changes replicate once merged")


@click.command("export")
@click.argument("store_name", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "tar", "sqlite"]), default="jsonl", show_default=True,
              help="jsonl: one record per revision and blob; tar: the tree as files plus .memfs-history.jsonl; "
                   "sqlite: a SQLite database (tables stores, files, revisions: every revision, with its "
                   "attribution and content) for sqlite-utils or Datasette; needs -o.")
@click.option("--with-history", is_flag=True, help="Every revision (default: only the current tree).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: standard output).")
@pass_m
def export_cmd(c, store_name, fmt, with_history, output):
    """Export a store, with its attribution (and its whole history with --with-history)."""
    from ..replication import export_store

    c.m.get_store(store_name)  # an unknown store fails before any file is made
    if fmt == "sqlite":
        from ..export_sqlite import export_sqlite

        if not output:
            raise errors.InvalidInput("--format sqlite writes a database file: give -o FILE")
        n = export_sqlite(c.m, store_name, output)
        click.echo(f"exported {store_name}: {plural(n['revisions'], 'revision')}, {plural(n['files'], 'file')} "
                   f"to {output}", err=True)
        return
    if not output:
        export_store(c.m, store_name, click.get_binary_stream("stdout"), fmt, with_history)
        return
    part = output + ".part"
    with open(part, "wb") as f:
        end = export_store(c.m, store_name, f, fmt, with_history)
    os.replace(part, output)
    click.echo(f"exported {store_name}: {end['revisions']} revisions, {end['blobs']} blobs to {output}", err=True)


@click.command("import")
@click.argument("file", metavar="FILE")
@click.option("--as", "name", help="Name of the new store (default: the exported store's name).")
@click.option("--create", is_flag=True, help="Create the database if there is none yet (as memfs init).")
@pass_m
def import_cmd(c, file, name, create):
    """Import an export (jsonl or tar) as a new store, with its history and attribution."""
    from ..replication import import_file

    c.create = create
    s, n = import_file(c.m, file, name)
    click.echo(f"imported store {s.name} ({s.uid}): {plural(n, 'revision')}")
