"""The HTTP API: `memfs serve` and its API keys (`memfs keys …`)."""

import click

from .. import config, errors
from .common import emit, output_options, pass_m


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs API keys (memfs keys create).")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Server log level.")
@pass_m
def serve(c, host, port, log_level):
    """Serve Anthropic's memory stores API (the anthropic SDK works with base_url pointed here) and
    the web console at /."""
    from ..http import check_bind, serve as run

    check_bind(c.m, host)
    keys = len(c.m.api_keys(include_revoked=False))
    banner = (f"memfs API on http://{host}:{port} (database {c.db_path}; "
              f"{f'{keys} API keys' if keys else 'no API keys: open to anyone on this machine'}); "
              f"console at http://{host}:{port}/")
    c.m.close()
    c._m = None
    run(c.db_path, host, port, log_level=log_level, ready=lambda: click.echo(banner, err=True))


@click.group()
def keys():
    """Create, list and revoke API keys of the HTTP API."""


def _key_dict(m, k):
    names = {s.uid: s.name for s in m.list_stores()}
    return {"id": k.id, "name": k.name, "stores": {names.get(uid, uid): mode for uid, mode in k.scopes.items()},
            "all_stores": k.all_stores, "created_at": config.fmt_time(k.created_at), "created_by": k.created_by,
            "revoked_at": config.fmt_time(k.revoked_at) if k.revoked_at else None}


@keys.command("create")
@click.option("--store", "stores", multiple=True, metavar="NAME=ro|rw", help="A store the key may read (ro) or "
              "read and write (rw); repeatable.")
@click.option("--all-stores", type=click.Choice(["ro", "rw"]), is_flag=False, flag_value="rw", default=None,
              help="Every store, present and future (--all-stores alone: rw, which may also create stores).")
@click.option("--name", help="A label for the key (default: its id).")
@pass_m
def keys_create(c, stores, all_stores, name):
    """Create an API key and print its secret (shown this once; only a hash is kept)."""
    scopes = {}
    for spec in stores:
        ref, sep, mode = spec.rpartition("=")
        if not sep or not ref:
            raise errors.InvalidInput(f"expected NAME=ro|rw, got {spec!r}")
        scopes[ref] = mode
    k, secret = c.m.create_api_key(stores=scopes, all_stores=all_stores, name=name, identity=c.identity)
    click.echo(f"created API key {k.id} ({k.name}); its secret, shown only now:", err=True)
    click.echo(secret)


@keys.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@output_options
@pass_m
def keys_list(c, include_revoked, fmt):
    """List API keys (never their secrets)."""
    rows = [_key_dict(c.m, k) for k in c.m.api_keys(include_revoked=include_revoked)]
    def line(r):
        scope = ([f"*={r['all_stores']}"] if r["all_stores"] else []) + [f"{n}={m}" for n, m in r["stores"].items()]
        gone = f"  REVOKED {r['revoked_at']}" if r["revoked_at"] else ""
        return f"{r['id']:<24} {r['name']:<20} {' '.join(scope)}  created {r['created_at']}{gone}"

    emit(rows, fmt, ["id", "name", "all_stores", "created_at", "revoked_at"], line)


@keys.command("revoke")
@click.argument("key_id", metavar="KEY")
@pass_m
def keys_revoke(c, key_id):
    """Revoke an API key (by id or name): requests with it fail from now on."""
    k = c.m.revoke_api_key(key_id)
    click.echo(f"revoked API key {k.id} ({k.name})")
