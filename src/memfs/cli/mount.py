"""Agents' ways in: `memfs mount`, `umount`, `mounts`, `prompt`, `mcp`."""

import os
import sys

import click

from .. import config, errors
from .common import emit, output_options, pass_m


@click.command()
@click.argument("mountpoint", type=click.Path())
@click.option("--store", "stores", multiple=True, metavar="NAME[=rw|ro]",
              help="A store to mount (repeatable); rw by default. One store is mounted at MOUNTPOINT "
                   "itself; several each get a directory named by their slug.")
@click.option("--foreground", is_flag=True, help="Stay attached; log to stderr.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Log file of the background daemon.")
@click.option("--debug", is_flag=True, help="Log every FUSE request.")
@click.option("--agent", "agent_opt", help="Agent id recorded on every change made through the mount.")
@click.option("--session", "session_opt", help="Session id (default: a new one).")
@click.option("--allow-other", is_flag=True, help="Let other users see the mount (private to you by default).")
@click.option("--at", metavar="REV|TIME", help="Time travel: the stores as they were at this revision or time, "
              "read-only (a hidden copy, removed at unmount).")
@pass_m
def mount(c, mountpoint, stores, foreground, log_path, debug, agent_opt, session_opt, allow_other, at):
    """Mount memory stores as directories (returns once the mount is ready). A branch mounts as
    STORE@NAME (see `memfs branch`)."""
    from .branches import _rev_or_time
    from ..fuse import daemon

    specs = daemon.parse_store_specs(list(stores))
    _drop_stale(c)
    # unknown stores fail here, with one line, before any mount; archived ones become ro
    specs = [(s.name, scope) for s, scope in daemon.resolve_stores(c.m, specs)]
    mp = os.path.realpath(mountpoint)
    daemon.clear_dead_mount(mp)
    if not os.path.lexists(mp):
        raise errors.NotFound(f"mount point {mountpoint} does not exist (mkdir -p {mountpoint} first)")
    if not os.path.isdir(mp):
        raise errors.NotADirectory(f"mount point {mountpoint} is not a directory")
    if daemon.is_mounted(mp):
        raise errors.AlreadyExists(f"{mp} is already mounted")
    if at is not None:  # each store as a read-only snapshot branch, which the daemon drops at exit
        rev, when = _rev_or_time(at)
        snaps = []
        try:
            for name, _ in specs:
                snaps.append(c.m.create_branch(name, "", rev=rev, at=when, identity=c.identity, snapshot=True))
        except errors.MemfsError:
            for b in snaps:
                c.m.drop_branch(b.store)
            raise
        specs = [(b.ref, "ro") for b in snaps]
        label = ", ".join(f"{b.parent.name} as of revision {b.base_rev} (read-only)" for b in snaps)
        try:
            return _mount(c, mp, specs, foreground, log_path, debug, agent_opt, session_opt, allow_other, True,
                          label)
        except BaseException:
            if not foreground:
                for b in snaps:
                    try:
                        c.m.drop_branch(b.store)
                    except errors.NotFound:
                        pass
            raise
    return _mount(c, mp, specs, foreground, log_path, debug, agent_opt, session_opt, allow_other, False)


def _mount(c, mp, specs, foreground, log_path, debug, agent_opt, session_opt, allow_other, drop, label=None):
    from ..fuse import daemon

    agent, session = agent_opt or c.identity.agent, session_opt or c.identity.session
    if foreground:
        import logging

        logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        sys.exit(daemon.run(c.db_path, mp, specs, agent=agent, session=session, debug=debug,
                            allow_other=allow_other, drop_branches=drop))
    log_path = log_path or str(config.user_dir() / "logs" / (mp.strip("/").replace("/", "_") + ".log"))
    info = daemon.spawn(c.db_path, mp, specs, agent=agent, session=session, log_path=log_path,
                        allow_other=allow_other, drop_branches=drop)
    click.echo(f"mounted {label or ', '.join(f'{n}={s}' for n, s in specs)} on {mp} "
               f"(session {info['session']}, pid {info['pid']}, log {info['log']})")


@click.command()
@click.argument("mountpoint", type=click.Path())
@pass_m
def umount(c, mountpoint):
    """Commit everything open and unmount."""
    from ..fuse import daemon

    click.echo(daemon.stop(lambda: c.m, mountpoint))
    _drop_stale(c)


def _drop_stale(c):
    """Time-travel copies whose mount was killed (SIGKILL) go at the next mount or unmount."""
    try:
        for b in c.m.drop_stale_snapshots():
            click.echo(f"removed {b.ref}, the time-travel copy of a mount that is gone")
    except errors.Unavailable:  # unmounting works while the database is unreachable
        pass


@click.command()
@output_options
@pass_m
def mounts(c, fmt):
    """Live memfs mounts on this machine."""
    from ..fuse import daemon

    rows = daemon.live_mounts(c.m)
    emit(rows, fmt, ["mountpoint", "state", "pid", "agent", "session", "stores"],
         lambda r: f"{r['mountpoint']}  {r['state']}  pid {r['pid']}  agent {r['agent']}  session {r['session']}  "
                   f"{' '.join(f'{k}={v}' for k, v in r['stores'].items())}")


@click.command()
@click.option("--store", "stores", multiple=True, required=True, metavar="NAME[=rw|ro]", help="Stores and scopes.")
@click.option("--mount-root", help="Where the stores are mounted (default: where a live mount of this machine "
              "shows them, see memfs mounts; else /mnt/memory).")
@click.option("--budget", type=int, default=4096, show_default=True,
              help="Bytes of pinned memory (files under /system/) to include; 0: none.")
@pass_m
def prompt(c, stores, mount_root, budget):
    """Print the system-prompt text that tells an agent about its mounted stores, with their
    pinned memory (the files under /system/, within --budget; what was left out goes to stderr)."""
    from ..fuse import daemon
    from ..prompt import live_places, pinned, render

    scopes = daemon.resolve_stores(c.m, daemon.parse_store_specs(list(stores)))
    places = None if mount_root else live_places(daemon.live_mounts(c.m), [s for s, _ in scopes])
    pins = pinned(c.m, [s for s, _ in scopes], budget)
    click.echo(render(scopes, mount_root or "/mnt/memory", pins, places), nl=False)
    if pins.included or pins.left_out:
        click.echo(pins.report(), err=True)


@click.command("mcp")
@click.option("--store", "stores", multiple=True, required=True, metavar="NAME=rw|ro",
              help="A store the MCP client may use, and how (repeatable).")
@click.option("--agent", "agent_opt", help="Agent id recorded on the session's writes (default: --agent of memfs, or mcp).")
@click.option("--session", "session_opt", help="Session id (default: --session of memfs, else a new one).")
@pass_m
def mcp_cmd(c, stores, agent_opt, session_opt):
    """Serve STOREs to an MCP client over stdio (tools: list, read, write, history, search).

    Opens one session for the connection; every write carries its agent and session id. A
    read-only store refuses writes; a write with expected_sha256 fails, naming the stored hash,
    when the file changed."""
    from ..mcp_server import parse_scopes, serve

    scopes = parse_scopes(stores)
    agent = agent_opt or (c.identity.agent if c.identity.actor == "agent" else "mcp")
    serve(c.existing_db(), scopes, agent=agent, session=session_opt or c.identity.session)
