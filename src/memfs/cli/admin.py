"""Care of the database: `memfs doctor`, `migrate` (to another backend), `redact`."""

import json
import sys

import click

from .. import errors
from ..store import migrate_database
from .common import pass_m, plural, rev_line


@click.command()
@click.option("--read-data/--no-read-data", default=True, help="Re-hash every blob (default) or only check structure.")
@click.option("--json", "as_json", is_flag=True, help="Output the report as JSON.")
@click.option("--fix", is_flag=True, help="First remove what is safe to remove: time-travel copies (memfs mount "
              "--at) whose mount is gone.")
@pass_m
def doctor(c, read_data, as_json, fix):
    """Check the database: SQLite integrity, every revision's blob, every hash, every head, and
    time-travel copies left by mounts that are gone."""
    fixed = c.m.drop_stale_snapshots() if fix else []
    rep = c.m.doctor(read_data=read_data)
    if fix:
        rep.fixed = [{"type": "stale_snapshot", "store": b.ref,
                      "message": f"removed {b.ref}, the time-travel copy of a mount that is gone"} for b in fixed]
    for f in rep.fixed if not as_json else ():
        click.echo(f["message"])
    if as_json:
        click.echo(json.dumps(rep.to_dict(), indent=2))
    else:
        ch = rep.checked
        click.echo(f"checked {plural(ch['stores'], 'store')}, {ch['nodes']} files and directories, "
                   f"{plural(ch['revisions'], 'revision')}, {plural(ch['blobs'], 'blob')} ({ch['blobs_read']} re-hashed)")
        for p in rep.problems:
            click.echo(f"PROBLEM {p['type']}: {p['message']}")
        click.echo("ok" if rep.ok else f"{plural(len(rep.problems), 'problem')} found")
    if not rep.ok:
        sys.exit(1)


@click.command()
@click.option("--from", "src", required=True, metavar="URL",
              help="The database to move: a file path, sqlite:///PATH or postgresql://….")
@click.option("--to", "dst", required=True, metavar="URL", help="The target: an empty database, either backend.")
def migrate(src, dst):
    """Move a whole database to another backend (SQLite <-> PostgreSQL) with every revision, session,
    dream job, key and hook as it is (same ids), in one transaction, then verify it table by table."""
    rep = migrate_database(src, dst, progress=lambda table, n: click.echo(f"  {table:<20} {n:>9,} {'row' if n == 1 else 'rows'}"))
    click.echo(f"migrated {sum(rep.tables.values()):,} rows in {plural(len(rep.tables), 'table')} in {rep.seconds:.1f} s;"
               " verified: every table has the same rows")




@click.command()
@click.argument("rev", type=int, required=False)
@click.option("--store", "store_name", help="With --pattern: the store to search.")
@click.option("--pattern", help="Redact every version of a file in --store (and its branches) whose content matches "
              "this regex.")
@click.option("--dry-run", is_flag=True, help="With --pattern: list what would be redacted; change nothing.")
@click.option("--vacuum", is_flag=True, help="Then rebuild the database file so no copy lingers in free pages.")
@pass_m
def redact(c, rev, store_name, pattern, dry_run, vacuum):
    """Blank the content of a revision (REV), or of every matching version in a store, for good.

    The revision rows stay, marked with who redacted them and when; a content blob goes once
    nothing refers to it. The store's branches are covered too: REV's copies in them (made when
    a branch was created, or by a merge) go with it, and --pattern searches every branch of
    --store. The version a live file still shows, in the store or in a branch, cannot be
    redacted: change or delete the file first."""
    if (rev is None) == (pattern is None):
        raise errors.InvalidInput("give a revision, or --store and --pattern")
    if pattern is not None and not store_name:
        raise errors.InvalidInput("--pattern needs --store")
    if rev is not None and (store_name or dry_run):
        raise errors.InvalidInput("--store and --dry-run go with --pattern")
    if rev is not None:
        copies = c.m.redaction_copies(rev)
        r = c.m.redact(rev, identity=c.identity)
        click.echo(f"redacted revision {r.id} ({r.store_name}:{r.path})")
        for x in copies:
            click.echo(f"redacted revision {x.id} ({x.store_name}:{x.path}), its copy in a branch")
    else:
        rep = c.m.redact_matching(store_name, pattern, identity=c.identity, dry_run=dry_run)
        for rid in rep.redacted:
            click.echo(f"{'would redact' if dry_run else 'redacted'} {rev_line(c.m.revision(rid)).strip()}")
        branches = len(rep.stores) - 1
        click.echo(f"{plural(len(rep.redacted), 'revision')} {'would be ' if dry_run else ''}redacted, "
                   f"{plural(rep.conflicts_blanked, 'refused write')} blanked, {plural(rep.blobs_removed, 'blob')} removed"
                   + (f" (in {rep.stores[0]} and its {plural(branches, 'branch', 'branches')})" if branches else ""))
        if rep.current:
            shown = [c.m.revision(r) for r in rep.current]
            hint = ("; change or delete those files (a merged or discarded branch is read-only: delete the branch "
                    "with memfs store rm 'STORE@NAME'), then run this again"
                    if any(x.store_name != rep.stores[0] for x in shown) else
                    "; change or delete those files, then run this again")
            raise errors.CurrentVersion(f"{plural(len(rep.current), 'matching version')} {'is' if len(rep.current) == 1 else 'are'} "
                                        f"what live files show now, "
                                        "not redacted: " + ", ".join(f"{x.store_name}:{x.path} (revision {x.id})"
                                                                     for x in shown) + hint)
    if vacuum and not dry_run:
        c.m.vacuum()
        click.echo("database file rebuilt")
