"""History: `memfs log` (and `log --follow`), `show`, `diff`, `blame`, `revert`, `sessions`."""

import json
import sys

import click

from .. import config, errors
from ..store import DIR
from .common import emit, output_options, pass_m, plural, rev_dict, rev_line, split_ref


@click.command()
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
    from ..store import Revision

    return rev_line(Revision(**{k: d[k] for k in Revision.__dataclass_fields__}))


@click.command()
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
        text = c.m.diff_text(c.m.get_store(r.store_id), r.path, r.base_rev or 0, r.id if r.op != "delete" else 0,
                             node_id=r.node_id)
        click.echo(text, nl=False)


@click.command()
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


@click.command()
@click.argument("ref", metavar="STORE:PATH")
@pass_m
def blame(c, ref):
    """Each line of a file with the revision, agent and time that last changed it."""
    store, path = split_ref(ref)
    for r, line in c.m.blame(store, path):
        click.echo(f"{r.id:>7} {(r.agent or '-')[:16]:<16} {config.fmt_time(r.created_at)}  {line}")


@click.command()
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
        click.echo(f"{plural(len(out), 'path')} would change")
    else:
        for r in out:
            click.echo(rev_line(r))
        click.echo(f"reverted {store}{':' + path if path else ''} to revision {to}: {plural(len(out), 'new revision')}")


@click.command()
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
