"""The memfs command line: a few lines per command over the store API."""

import json
import os
import sys

import click

from . import config, errors, settings
from .store import DIR

from .clitools import (STATUS_HELP, Ctx, MemfsGroup, emit, output_options, pass_m,  # noqa: F401
                       rev_dict, rev_line, split_ref)


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


# ---------------------------------------------------------------------------- database & stores


@cli.command()
@pass_m
def init(c):
    """Create the database (if needed) and print its path."""
    c.create = True
    c.m
    click.echo(c.db_path)


@cli.command("path")
@pass_m
def path_cmd(c):
    """Print where the database lives."""
    click.echo(c.db_path)


@cli.group()
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
         lambda r: f"{r['name']:<24} {r['files']:>6} files {r['bytes']:>9} bytes {r['revisions']:>7} revs"
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
    """Rename a store."""
    s = c.m.update_store(name, name=new_name)
    click.echo(f"renamed store {name} to {s.name}")


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


# ---------------------------------------------------------------------------- files


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--if-match", metavar="HASH", help="Only write if the stored content has this SHA-256.")
@click.option("--if-absent", is_flag=True, help="Only write if the path does not exist.")
@click.option("-m", "--message", help="A note recorded on the revision.")
@pass_m
def put(c, ref, file, if_match, if_absent, message):
    """Write a file from FILE or stdin."""
    if if_match and if_absent:
        raise errors.InvalidInput("--if-match and --if-absent exclude each other")
    store, path = split_ref(ref)
    r = c.m.write(store, path, file.read(), if_match=if_match, if_absent=if_absent, message=message)
    if r.revision:
        click.echo(f"{r.revision.op} {store}:{r.node.path} revision {r.revision.id} sha256 {r.node.sha256}")
    else:
        click.echo(f"unchanged {store}:{r.node.path} sha256 {r.node.sha256}")


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@click.option("--rev", type=int, help="As of this revision.")
@click.option("--at", "at", help="As of this time (2026-11-27T10:00, 2h, ...).")
@pass_m
def cat(c, ref, rev, at):
    """Print a file, now or as it was."""
    store, path = split_ref(ref)
    data = c.m.read(store, path, rev=rev, at=config.parse_time(at) if at else None)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@cli.command()
@click.argument("ref", metavar="STORE:[PATH]")
@click.option("--rev", type=int, help="As of this revision.")
@click.option("-R", "--recursive", is_flag=True, help="Everything under PATH.")
@output_options
@pass_m
def ls(c, ref, rev, recursive, fmt):
    """List a directory (now or at a revision)."""
    store, path = split_ref(ref, need_path=False)
    st = c.m.stat(store, path, rev=rev)
    if st.kind != DIR:  # a file lists itself, as ls does
        entries = [st]
    elif recursive and rev is None:
        entries = [e for e in c.m.walk(store, path) if e.path != path]
    elif recursive:
        prefix = path.rstrip("/") + "/"
        entries = [e for p, e in sorted(c.m.tree(store, rev).items()) if p.startswith(prefix)]
    else:
        entries = c.m.listdir(store, path, rev=rev)
    rows = [{"path": e.path, "kind": e.kind, "size": e.size, "mode": oct(e.mode), "sha256": e.sha256,
             "revision": e.rev} for e in entries]
    emit(rows, fmt, ["kind", "size", "revision", "path"],
         lambda r: f"{r['kind']:<7} {r['size']:>7} {r['revision']:>7}  {r['path']}{'/' if r['kind'] == DIR else ''}")


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@click.option("-r", "--recursive", is_flag=True, help="Remove a directory and everything in it.")
@click.option("--if-match", metavar="HASH", help="Only delete if the stored content has this SHA-256.")
@pass_m
def rm(c, ref, recursive, if_match):
    """Delete a file (or, with -r, a directory tree). History is kept."""
    store, path = split_ref(ref)
    st = c.m.stat(store, path)
    if st.kind == DIR:
        if not recursive:
            raise errors.IsADirectory(f"{store}:{path} is a directory (use -r)")
        revs = c.m.remove_tree(store, path)
    else:
        revs = [c.m.delete(store, path, if_match=if_match)]
    click.echo(f"removed {len(revs)} {'entry' if len(revs) == 1 else 'entries'} (last revision {revs[-1].id})")


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@click.option("-p", "--parents", is_flag=True, help="Create parents as needed; no error if it exists.")
@pass_m
def mkdir(c, ref, parents):
    """Create a directory."""
    store, path = split_ref(ref)
    n = c.m.mkdir(store, path, parents=parents, exist_ok=parents)
    click.echo(f"{store}:{n.path}/")


@cli.command()
@click.argument("ref", metavar="STORE:SRC")
@click.argument("dst", metavar="DST")
@click.option("--no-clobber", is_flag=True, help="Fail if DST exists.")
@pass_m
def mv(c, ref, dst, no_clobber):
    """Rename a file or directory inside a store (DST is a path, or STORE:PATH of the same store)."""
    store, src = split_ref(ref)
    if ":" in dst:
        dstore, dst = split_ref(dst)
        if c.m.get_store(dstore).id != c.m.get_store(store).id:
            raise errors.CrossStore("cannot move between stores")
    r = c.m.rename(store, src, dst, noreplace=no_clobber)
    click.echo(f"renamed {store}:{r.old_path} -> {r.path} (revision {r.id})")


# ---------------------------------------------------------------------------- history


@cli.command()
@click.argument("ref", metavar="[STORE[:PATH]]", required=False)
@click.option("--agent", "agent_f", help="Only this agent's changes.")
@click.option("--session", "session_f", help="Only this session's changes.")
@click.option("--since", help="Only changes since (7d, 2h, 2026-11-27, ...).")
@click.option("--until", help="Only changes until.")
@click.option("--op", "ops", multiple=True, help="Only these operations (repeatable): create, write, delete, rename, "
              "mkdir, rmdir, symlink, chmod.")
@click.option("-n", "--limit", type=int, default=0, help="At most N revisions (0: all).")
@click.option("--after", type=int, help="Only revisions after this one (a cursor: the id of the last seen).")
@click.option("-f", "--follow", is_flag=True, help="Print revisions as they are committed, oldest first, until "
              "interrupted (with --json: one JSON object per line); from --after, else from now.")
@output_options
@pass_m
def log(c, ref, agent_f, session_f, since, until, ops, limit, after, follow, fmt):
    """The revision log of everything, a store, or a path (newest first)."""
    store = path = None
    if ref:
        store, _, path = ref.partition(":")
        path = path or None
    if follow:
        return _follow(c, store, path, agent_f, session_f, ops, after, fmt)
    revs = c.m.log(store, path, agent=agent_f, session=session_f, ops=ops or None, after=after,
                   since=config.parse_time(since) if since else None,
                   until=config.parse_time(until) if until else None, limit=limit or None)
    emit([rev_dict(r) for r in revs], fmt, ["id", "time", "store_name", "op", "path", "sha256", "agent", "session", "actor"],
         _rev_line_d)


def _rev_line_d(d):
    from .store import Revision

    return rev_line(Revision(**{k: d[k] for k in Revision.__dataclass_fields__}))


@cli.command()
@click.argument("rev", type=int)
@click.option("--json", "as_json", is_flag=True, help="Output the revision as JSON.")
@pass_m
def show(c, rev, as_json):
    """Show one revision and what it changed."""
    r = c.m.revision(rev)
    if as_json:
        click.echo(json.dumps(rev_dict(r), indent=2))
        return
    click.echo(rev_line(r))
    if r.kind == "file" and r.op in ("create", "write", "delete"):
        text = c.m._diff_text(c.m.get_store(r.store_id), r.path, r.base_rev or 0, r.id if r.op != "delete" else 0,
                              node_id=r.node_id)
        click.echo(text, nl=False)


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@click.argument("revs", type=int, nargs=-1)
@pass_m
def diff(c, ref, revs):
    """Unified diff of a file: its last change, since REV, or between two REVs.

    With a directory or the store root, the whole subtree between two revisions."""
    if len(revs) > 2:
        raise errors.InvalidInput("give at most two revisions")
    store, path = split_ref(ref, need_path=False)
    a, b = (list(revs) + [None, None])[:2]
    node = c.m.lookup(store, path) if path != "/" else None
    if path == "/" or (node is not None and node.kind == DIR):
        if a is None:
            raise errors.InvalidInput("diff of a directory needs a revision to compare with")
        text = c.m.diff_store(store, a, b, path=path)
    else:
        text = c.m.diff(store, path, a, b)
    click.echo(text, nl=False)


@cli.command()
@click.argument("ref", metavar="STORE:PATH")
@pass_m
def blame(c, ref):
    """Each line of a file with the revision, agent and time that last changed it."""
    store, path = split_ref(ref)
    for r, line in c.m.blame(store, path):
        click.echo(f"{r.id:>7} {(r.agent or '-')[:16]:<16} {config.fmt_time(r.created_at)}  {line}")


@cli.command()
@click.argument("ref", metavar="STORE[:PATH]")
@click.option("--to", "to", type=int, required=True, help="The revision to go back to.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@pass_m
def revert(c, ref, to, dry_run):
    """Make a store (or a path in it) look as it did at a revision, as new revisions."""
    store, _, path = ref.partition(":")
    out = c.m.revert(store, to, path or None, dry_run=dry_run)
    if dry_run:
        for act, p, e in out:
            click.echo(f"{act:<5} {p}")
        click.echo(f"{len(out)} paths would change")
    else:
        for r in out:
            click.echo(rev_line(r))
        click.echo(f"reverted {store}{':' + path if path else ''} to revision {to}: {len(out)} new revisions")


@cli.command()
@click.argument("store_name", metavar="[STORE]", required=False)
@click.option("--since", help="Only sessions active since (7d, 2026-11-27, ...).")
@click.option("--active", is_flag=True, default=None, help="Only sessions still open.")
@output_options
@pass_m
def sessions(c, store_name, since, active, fmt):
    """Client sessions (mounts, API clients), newest first; with STORE, those that touched it."""
    rows = []
    for s in c.m.sessions(store_name, since=config.parse_time(since) if since else None, active=active):
        d = dict(s.__dict__)
        d["started"], d["ended"] = config.fmt_time(s.started_at), config.fmt_time(s.ended_at)
        rows.append(d)
    emit(rows, fmt, ["session_id", "agent", "kind", "host", "pid", "started", "ended", "stores"],
         lambda r: f"{r['session_id']:<24} {r['agent'] or '-':<16} {r['kind']:<6} {r['started']}  {r['ended']:<20} "
                   f"{' '.join(f'{k}={v}' for k, v in r['stores'].items())}")


@cli.command()
@click.option("--read-data/--no-read-data", default=True, help="Re-hash every blob (default) or only check structure.")
@click.option("--json", "as_json", is_flag=True, help="Output the report as JSON.")
@pass_m
def doctor(c, read_data, as_json):
    """Check the database: SQLite integrity, every revision's blob, every hash, every head."""
    rep = c.m.doctor(read_data=read_data)
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=2))
    else:
        ch = rep.checked
        click.echo(f"checked {ch['stores']} stores, {ch['nodes']} files and directories, {ch['revisions']} revisions, "
                   f"{ch['blobs']} blobs ({ch['blobs_read']} re-hashed)")
        for p in rep.problems:
            click.echo(f"PROBLEM {p['type']}: {p['message']}")
        click.echo("ok" if rep.ok else f"{len(rep.problems)} problems found")
    if not rep.ok:
        sys.exit(1)


@cli.command()
@click.option("--from", "src", required=True, metavar="URL",
              help="The database to move: a file path, sqlite:///PATH or postgresql://….")
@click.option("--to", "dst", required=True, metavar="URL", help="The target: an empty database, either backend.")
def migrate(src, dst):
    """Move a whole database to another backend (SQLite <-> PostgreSQL) with every revision, session,
    dream job, key and hook as it is (same ids), in one transaction, then verify it table by table."""
    from .backends.migrate import migrate as run

    rep = run(src, dst, progress=lambda table, n: click.echo(f"  {table:<20} {n:>9,} rows"))
    click.echo(f"migrated {sum(rep.tables.values()):,} rows in {len(rep.tables)} tables in {rep.seconds:.1f} s;"
               " verified: every table has the same rows")


# ---------------------------------------------------------------------------- the mount


@cli.command()
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
    from .branch_commands import _rev_or_time
    from .fuse import daemon

    specs = daemon.parse_store_specs(list(stores))
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
    from .fuse import daemon

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


@cli.command()
@click.argument("mountpoint", type=click.Path())
@pass_m
def umount(c, mountpoint):
    """Commit everything open and unmount."""
    from .fuse import daemon

    click.echo(daemon.stop(lambda: c.m, mountpoint))


@cli.command()
@output_options
@pass_m
def mounts(c, fmt):
    """Live memfs mounts on this machine."""
    from .fuse import daemon

    rows = daemon.live_mounts(c.m)
    emit(rows, fmt, ["mountpoint", "state", "pid", "agent", "session", "stores"],
         lambda r: f"{r['mountpoint']}  {r['state']}  pid {r['pid']}  agent {r['agent']}  session {r['session']}  "
                   f"{' '.join(f'{k}={v}' for k, v in r['stores'].items())}")


@cli.command()
@click.option("--store", "stores", multiple=True, required=True, metavar="NAME[=rw|ro]", help="Stores and scopes.")
@click.option("--mount-root", help="Where the stores are mounted (default: where a live mount of this machine "
              "shows them, see memfs mounts; else /mnt/memory).")
@click.option("--budget", type=int, default=4096, show_default=True,
              help="Bytes of pinned memory (files under /system/) to include; 0: none.")
@pass_m
def prompt(c, stores, mount_root, budget):
    """Print the system-prompt text that tells an agent about its mounted stores, with their
    pinned memory (the files under /system/, within --budget; what was left out goes to stderr)."""
    from .fuse import daemon
    from .prompt import live_places, pinned, render

    scopes = daemon.resolve_stores(c.m, daemon.parse_store_specs(list(stores)))
    places = None if mount_root else live_places(daemon.live_mounts(c.m), [s for s, _ in scopes])
    pins = pinned(c.m, [s for s, _ in scopes], budget)
    click.echo(render(scopes, mount_root or "/mnt/memory", pins, places), nl=False)
    if pins.included or pins.left_out:
        click.echo(pins.report(), err=True)


# ---------------------------------------------------------------------------- the HTTP API


def _follow(c, store, path, agent, session, ops, after, fmt):
    """`memfs log --follow`: the change feed, polled, printed as it grows; every line carries its
    revision id, the cursor to resume from with --after."""
    import time

    if fmt == "csv":
        raise errors.InvalidInput("--follow prints log lines or JSON lines, not CSV")
    if store:
        c.m.get_store(store)  # an unknown store fails now, not never
    cursor = c.m.head() if after is None else after
    while True:
        revs = c.m.log(store, path, agent=agent, session=session, ops=ops or None, after=cursor,
                       newest_first=False, limit=1000)
        for r in revs:
            click.echo(json.dumps(rev_dict(r), default=str) if fmt in ("json", "nl") else rev_line(r))
        sys.stdout.flush()
        if revs:
            cursor = revs[-1].id
        else:
            time.sleep(0.2)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback needs API keys (memfs keys create).")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Server log level.")
@pass_m
def serve(c, host, port, log_level):
    """Serve Anthropic's memory stores API (the anthropic SDK works with base_url pointed here) and
    the web console at /."""
    from .http import check_bind, serve as run

    check_bind(c.m, host)
    keys = len(c.m.api_keys(include_revoked=False))
    banner = (f"memfs API on http://{host}:{port} (database {c.db_path}; "
              f"{f'{keys} API keys' if keys else 'no API keys: open to anyone on this machine'}); "
              f"console at http://{host}:{port}/")
    c.m.close()
    c._m = None
    run(c.db_path, host, port, log_level=log_level, ready=lambda: click.echo(banner, err=True))


@cli.group()
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


@cli.command()
@click.argument("rev", type=int, required=False)
@click.option("--store", "store_name", help="With --pattern: the store to search.")
@click.option("--pattern", help="Redact every version of a file in --store whose content matches this regex.")
@click.option("--dry-run", is_flag=True, help="With --pattern: list what would be redacted; change nothing.")
@click.option("--vacuum", is_flag=True, help="Then rebuild the database file so no copy lingers in free pages.")
@pass_m
def redact(c, rev, store_name, pattern, dry_run, vacuum):
    """Blank the content of a revision (REV), or of every matching version in a store, for good.

    The revision rows stay, marked with who redacted them and when; a content blob goes once
    nothing refers to it. The version a live file still shows cannot be redacted: change or
    delete the file first."""
    if (rev is None) == (pattern is None):
        raise errors.InvalidInput("give a revision, or --store and --pattern")
    if pattern is not None and not store_name:
        raise errors.InvalidInput("--pattern needs --store")
    if rev is not None and (store_name or dry_run):
        raise errors.InvalidInput("--store and --dry-run go with --pattern")
    if rev is not None:
        r = c.m.redact(rev, identity=c.identity)
        click.echo(f"redacted revision {r.id} ({r.store_name}:{r.path})")
    else:
        rep = c.m.redact_matching(store_name, pattern, identity=c.identity, dry_run=dry_run)
        for rid in rep.redacted:
            click.echo(f"{'would redact' if dry_run else 'redacted'} {rev_line(c.m.revision(rid)).strip()}")
        click.echo(f"{len(rep.redacted)} revisions {'would be ' if dry_run else ''}redacted, "
                   f"{rep.conflicts_blanked} refused writes blanked, {rep.blobs_removed} blobs removed")
        if rep.current:
            shown = ", ".join(f"{c.m.revision(r).path} (revision {r})" for r in rep.current)
            raise errors.CurrentVersion(f"{len(rep.current)} matching versions are what live files show now, "
                                        f"not redacted: {shown}; change or delete those files, then run this again")
    if vacuum and not dry_run:
        c.m.vacuum()
        click.echo("database file rebuilt")


# ---------------------------------------------------------------------------- transcripts and dreaming
# (commands in memfs/dream/commands.py; imported here, after the helpers they share)

from .dream.commands import dream, transcripts  # noqa: E402

cli.add_command(transcripts)
cli.add_command(dream)
from .health_commands import reads, stats  # noqa: E402

cli.add_command(stats)
cli.add_command(reads)

from .branch_commands import branch  # noqa: E402

cli.add_command(branch)


# ---------------------------------------------------------------------------- write hooks


@cli.group()
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


# ---------------------------------------------------------------------------- replication, export, import


@cli.command()
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
    restarts where it stopped, with nothing twice and nothing missing."""
    from .replication import open_target, replicate as run

    t = open_target(target, key)
    try:
        n, cursor = run(c.m, t, stores=stores, once=once,
                        progress=None if once else lambda n, cur: click.echo(f"replicated {n} revisions (source "
                                                                             f"revision {cur})", err=True))
    finally:
        t.close()
    click.echo(f"replicated {n} revisions to {target} (up to source revision {cursor})")


@cli.command("export")
@click.argument("store_name", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "tar"]), default="jsonl", show_default=True,
              help="jsonl: one record per revision and blob; tar: the tree as files plus .memfs-history.jsonl.")
@click.option("--with-history", is_flag=True, help="Every revision (default: only the current tree).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: standard output).")
@pass_m
def export_cmd(c, store_name, fmt, with_history, output):
    """Export a store, with its attribution (and its whole history with --with-history)."""
    from .replication import export_store

    c.m.get_store(store_name)  # an unknown store fails before any file is made
    if not output:
        export_store(c.m, store_name, click.get_binary_stream("stdout"), fmt, with_history)
        return
    part = output + ".part"
    with open(part, "wb") as f:
        end = export_store(c.m, store_name, f, fmt, with_history)
    os.replace(part, output)
    click.echo(f"exported {store_name}: {end['revisions']} revisions, {end['blobs']} blobs to {output}", err=True)


@cli.command("import")
@click.argument("file", metavar="FILE")
@click.option("--as", "name", help="Name of the new store (default: the exported store's name).")
@click.option("--create", is_flag=True, help="Create the database if there is none yet (as memfs init).")
@pass_m
def import_cmd(c, file, name, create):
    """Import an export (jsonl or tar) as a new store, with its history and attribution."""
    from .replication import import_file

    c.create = create
    s, n = import_file(c.m, file, name)
    click.echo(f"imported store {s.name} ({s.uid}): {n} revisions")


# ---------------------------------------------------------------------------- search and MCP


@cli.command("grep")
@click.argument("store_name", metavar="STORE")
@click.argument("pattern")
@click.option("--history", is_flag=True, help="Search every version any file ever had, not only the current content.")
@click.option("-i", "--ignore-case", is_flag=True, help="Match without regard to case.")
@click.option("-F", "--fixed-strings", "fixed", is_flag=True, help="PATTERN is a plain string, not a regular expression.")
@click.option("--path", "prefix", default="/", metavar="PREFIX", help="Only files at or under this path.")
@click.option("--scan", is_flag=True, help="Do not use the full-text index: read every file (for comparison).")
@click.option("--reindex", is_flag=True, help="Rebuild the full-text index from the stored content first.")
@click.option("-n", "--limit", type=int, default=0, help="At most N matching lines (0: all).")
@output_options
@pass_m
def grep_cmd(c, store_name, pattern, history, ignore_case, fixed, prefix, scan, reindex, limit, fmt):
    """Print the lines of STORE's text files that match PATTERN (a Python regular expression), as
    PATH:LINE:TEXT; with --history, REV:PATH:LINE:TEXT for every version that had the line.

    Literal words in PATTERN are looked up in a full-text index first (SQLite FTS5, trigram), so
    only files that can match are read. Exits 1 when nothing matches, like grep."""
    if reindex:
        c.m.reindex_search()
    hits = c.m.grep(store_name, pattern, history=history, ignore_case=ignore_case, fixed=fixed, prefix=prefix,
                    use_index=False if scan else None, limit=limit or None)
    rows = [h.to_dict() for h in hits]
    for r in rows:
        r["time"] = config.fmt_time(r["created_at"])
    emit(rows, fmt, ["store", "path", "line", "text", "rev", "sha256", "agent", "session", "time"],
         (lambda r: f"{r['rev']}:{r['path']}:{r['line']}:{r['text']}") if history
         else (lambda r: f"{r['path']}:{r['line']}:{r['text']}"))
    if not hits:
        sys.exit(1)


@cli.command("mcp")
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
    from .mcp_server import parse_scopes, serve

    scopes = parse_scopes(stores)
    agent = agent_opt or (c.identity.agent if c.identity.actor == "agent" else "mcp")
    serve(c.existing_db(), scopes, agent=agent, session=session_opt or c.identity.session)


def main():
    cli(prog_name="memfs")


if __name__ == "__main__":
    main()
