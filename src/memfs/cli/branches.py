"""`memfs branch ...`: a few lines per command over the store API's branch methods."""

import json
import sys

import click

from .. import config, errors
from .common import emit, output_options, pass_m, plural


@click.group()
def branch():
    """Branches of a store: try changes aside (mount STORE@NAME), diff, merge or discard them."""


def _rev_or_time(at):
    """--at: a revision number, or a time (2026-12-07T10:00, 2h, ...)."""
    if at is None:
        return None, None
    if at.isdigit():
        return int(at), None
    return None, config.parse_time(at)


def _row(m, b):
    d = b.to_dict()
    d["created"], d["ended"] = config.fmt_time(b.store.created_at), config.fmt_time(b.ended_at)
    d.update({k: v for k, v in m.usage(b.store).items() if k == "files"})
    return d


@branch.command("create")
@click.argument("store_name", metavar="STORE")
@click.argument("name")
@click.option("--at", metavar="REV|TIME", help="Start from the store as it was at this revision or time (default: now).")
@pass_m
def branch_create(c, store_name, name, at):
    """Create branch NAME of STORE: its files start as the store's (now, or --at)."""
    rev, when = _rev_or_time(at)
    b = c.m.create_branch(store_name, name, rev=rev, at=when, identity=c.identity)
    click.echo(f"created branch {b.ref} at revision {b.base_rev} ({plural(c.m.usage(b.store)['files'], 'file')}); "
               f"mount it: memfs mount MOUNTPOINT --store {b.ref}=rw")


@branch.command("ls")
@click.argument("store_name", metavar="[STORE]", required=False)
@click.option("--open", "only_open", is_flag=True, help="Only open branches.")
@click.option("--all", "snapshots", is_flag=True, help="Include the hidden copies of time-travel mounts.")
@output_options
@pass_m
def branch_ls(c, store_name, only_open, snapshots, fmt):
    """List branches (of STORE, or of every store), oldest first."""
    rows = [_row(c.m, b) for b in c.m.branches(store_name, include_closed=not only_open, include_snapshots=snapshots)]
    emit(rows, fmt, ["ref", "status", "base_rev", "files", "created", "ended"],
         lambda r: f"{r['ref']:<32} {r['status']:<9} from revision {r['base_rev']:<6} "
                   f"{plural(r['files'], 'file', width=5)}  "
                   f"created {r['created']}" + (f"  {r['status']} {r['ended']}" if r["ended_at"] else ""))


@branch.command("show")
@click.argument("ref", metavar="STORE@NAME")
@pass_m
def branch_show(c, ref):
    """Describe a branch (JSON): where it started, its state, what merging it would do now."""
    b = c.m.branch(ref)
    d = _row(c.m, b)
    d["revisions_since_fork"] = len(c.m.log(b.store, after=b.fork_rev))
    if b.status == "open":
        plan, _ = c.m.plan_merge(b.store)
        d["merge"] = {"files": len(plan.files), "conflicts": len(plan.conflicts),
                      "by_status": {s: sum(1 for f in plan.files if f.status == s) for s in sorted({f.status for f in plan.files})}}
    click.echo(json.dumps(d, indent=2, default=str))


@branch.command("diff")
@click.argument("ref", metavar="STORE@NAME")
@click.option("-U", "--unified", "context", type=int, default=3, show_default=True, help="Lines of context.")
@pass_m
def branch_diff(c, ref, context):
    """The branch's own changes since it started, as a unified diff."""
    click.echo(c.m.branch_diff(ref, context=context), nl=False)


def _lines(rep):
    for f in rep.files:
        where = f.path if not f.branch_path or f.branch_path == f.path else f"{f.branch_path} -> {f.path}"
        if f.store_path and f.store_path != f.path and f.action == "rename":
            where = f"{f.store_path} -> {f.path}"
        click.echo(f"{f.status:<9} {f.action or '-':<7} {where}  ({f.reason})")


@branch.command("merge")
@click.argument("ref", metavar="STORE@NAME")
@click.option("--dry-run", is_flag=True, help="Show the merge as a diff of the store; write nothing.")
@click.option("--ours", multiple=True, is_flag=False, flag_value="*", metavar="[PATH]",
              help="Settle the conflict at PATH (repeatable; alone: every conflict) by keeping the store's version.")
@click.option("--theirs", multiple=True, is_flag=False, flag_value="*", metavar="[PATH]",
              help="Settle the conflict at PATH (alone: every conflict) by taking the branch's version.")
@click.option("--clean-only", is_flag=True, help="Apply the files without conflicts; leave the branch open.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_m
def branch_merge(c, ref, dry_run, ours, theirs, clean_only, as_json):
    """Merge a branch into its store: three-way, file by file (taken, merged line by line,
    conflict). Nothing is applied while a conflict is unsettled (exit 5), unless --clean-only."""
    take = None
    if "*" in ours and "*" in theirs:
        raise errors.InvalidInput("--ours and --theirs cannot both settle every conflict")
    if "*" in ours or "*" in theirs:
        take = "ours" if "*" in ours else "theirs"
    resolve = {p: "ours" for p in ours if p != "*"}
    for p in theirs:
        if p != "*":
            if p in resolve:
                raise errors.InvalidInput(f"{p} is given to both --ours and --theirs")
            resolve[p] = "theirs"
    try:
        rep = c.m.merge_branch(ref, resolve=resolve, take=take, clean_only=clean_only, dry_run=dry_run,
                               identity=c.identity)
    except errors.MemfsError as e:
        if getattr(e, "report", None) is not None and not as_json:
            _lines(e.report)
        elif getattr(e, "report", None) is not None:
            click.echo(json.dumps(e.report.to_dict(), indent=2))
        raise
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=2))
        return
    _lines(rep)
    if dry_run:
        plan_diff = c.m.merge_diff(rep)
        click.echo(plan_diff, nl=False)
        n = len(rep.conflicts)
        click.echo(f"dry run: {plural(len(rep.files) - n, 'file')} would change, {plural(n, 'conflict')}; nothing written")
        if n:
            sys.exit(errors.PreconditionFailed.exit_code)
        return
    left = f", {plural(len(rep.conflicts), 'conflict')} left on the branch (still open)" if rep.conflicts else ""
    click.echo(f"merged {rep.branch}: {plural(len(rep.revisions), 'revision')}{left}")


@branch.command("discard")
@click.argument("ref", metavar="STORE@NAME")
@pass_m
def branch_discard(c, ref):
    """Close a branch without merging (it stays readable, read-only)."""
    b = c.m.discard_branch(ref)
    click.echo(f"discarded branch {b.ref}; {b.parent.name} is unchanged")
