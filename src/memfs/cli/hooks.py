"""Write hooks: `memfs hooks add|ls|rm`."""

import click

from .. import config
from .common import emit, output_options, pass_m


@click.group()
def hooks():
    """Write hooks: commands that allow, refuse or redact each write of a store (see
    contrib/hooks/). A hook reads the write as JSON on stdin and answers
    {"decision": "allow" | "refuse" | "redact", ...} on stdout."""


def _hook_dict(h):
    d = h.to_dict()
    d["created_at"] = config.fmt_time(h.created_at)
    return d


@hooks.command("add")
@click.argument("store_name", metavar="STORE")
@click.argument("command")
@click.option("--on", "event", type=click.Choice(["write"]), default="write", show_default=True,
              help="What runs the hook: every write, create and append of the store.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds the hook may take.")
@click.option("--fail", type=click.Choice(["closed", "open"]), default="closed", show_default=True,
              help="A hook that times out, crashes or answers garbage: refuse the write (closed) or allow it (open).")
@pass_m
def hooks_add(c, store_name, command, event, timeout, fail):
    """Run COMMAND (a shell command) before every write of STORE."""
    h = c.m.add_hook(store_name, command, on=event, timeout=timeout, fail=fail, identity=c.identity)
    click.echo(f"added hook {h.id} on {h.event} of {h.store_name}: {h.command} "
               f"(timeout {h.timeout:g}s, fails {h.fail})")


@hooks.command("ls")
@click.argument("store_name", metavar="[STORE]", required=False)
@output_options
@pass_m
def hooks_ls(c, store_name, fmt):
    """List the hooks of STORE (or of every store), in the order they run."""
    rows = [_hook_dict(h) for h in c.m.hooks(store_name)]
    emit(rows, fmt, ["id", "store_name", "event", "command", "timeout", "fail", "created_at", "created_by"],
         lambda r: f"{r['id']:>4}  {r['store_name']}  on {r['event']}  timeout {r['timeout']:g}s  "
                   f"fail {r['fail']:<6}  {r['command']}")


@hooks.command("rm")
@click.argument("hook_id", metavar="ID")
@pass_m
def hooks_rm(c, hook_id):
    """Remove the hook ID."""
    h = c.m.remove_hook(hook_id)
    click.echo(f"removed hook {h.id} of {h.store_name}: {h.command}")
