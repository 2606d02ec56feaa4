"""Files: `memfs put`, `cat`, `ls`, `rm`, `mkdir`, `mv`."""

import sys

import click

from .. import config, errors
from ..store import DIR
from .common import emit, output_options, pass_m, plural, split_ref


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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
    click.echo(f"removed {plural(len(revs), 'entry')} (last revision {revs[-1].id})")


@click.command()
@click.argument("ref", metavar="STORE:PATH")
@click.option("-p", "--parents", is_flag=True, help="Create parents as needed; no error if it exists.")
@pass_m
def mkdir(c, ref, parents):
    """Create a directory."""
    store, path = split_ref(ref)
    n = c.m.mkdir(store, path, parents=parents, exist_ok=parents)
    click.echo(f"{store}:{n.path}/")


@click.command()
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
