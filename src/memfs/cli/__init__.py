"""The memfs command line: a few lines per command over the store API.

One module per family of commands (stores, files, history, mount, serve, ...); each defines
plain click commands and groups, registered on the `memfs` group below. What they share (the
context, error translation, output formats) is in common.py.
"""

import click

from .. import settings
from . import admin, branches, dream, files, health, history, hooks, mount, search, serve, stores, transcripts, transfer
from .common import STATUS_HELP, Ctx, MemfsGroup


@click.group(cls=MemfsGroup, epilog=STATUS_HELP)
@click.version_option(package_name="memfs-agents", prog_name="memfs")
@click.option("--db", envvar="MEMFS_DB", help="Database file (default: $MEMFS_DB, else the memfs user directory).")
@click.option("--agent", envvar="MEMFS_AGENT", help="Agent id recorded on changes ($MEMFS_AGENT).")
@click.option("--session", envvar="MEMFS_SESSION", help="Session id recorded on changes ($MEMFS_SESSION).")
@click.pass_context
def cli(ctx, db, agent, session):
    """memfs: versioned, attributed memory stores for AI agents."""
    settings.check()  # a bad MEMFS_* setting is one line and exit 2, before any command runs
    ctx.obj = Ctx(db, agent, session)


for command in (
    stores.init, stores.path_cmd, stores.store,
    files.put, files.cat, files.ls, files.rm, files.mkdir, files.mv,
    history.log, history.show, history.diff, history.blame, history.revert, history.sessions,
    admin.doctor, admin.migrate, admin.redact,
    mount.mount, mount.umount, mount.mounts, mount.prompt, mount.mcp_cmd,
    serve.serve, serve.keys,
    transcripts.transcripts, dream.dream,
    health.stats, health.reads,
    branches.branch,
    hooks.hooks,
    transfer.replicate, transfer.export_cmd, transfer.import_cmd,
    search.grep_cmd,
):
    cli.add_command(command)


def main():
    cli(prog_name="memfs")


if __name__ == "__main__":
    main()
