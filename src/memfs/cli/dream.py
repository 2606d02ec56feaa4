"""`memfs dream …`: run, review, apply, reject, revert and cancel dreams (the work is in memfs/dream/)."""

from __future__ import annotations

import json
import sys

import click

from .. import config, errors
from ..dream import explain, jobs, lock, render
from .common import emit, output_options, pass_m, plural

DREAM_HELP = """Exit codes: 0 ok (also when another process holds the store's dream lock: the run
is skipped with a message), 1 the dream failed, 2 bad input, 3 not found, 5 apply or revert left
conflicts, 12 the dream had no session or transcript to read (it looked at the files only),
130 canceled. With --all-stores (one line per store: dreamed, nothing to read, skipped or failed,
and why): 1 when a store failed (the others are still dreamed), else 0 when a store was dreamed,
else 12 (no store had anything, or enough, to read)."""


@click.group(epilog=DREAM_HELP)
def dream():
    """Consolidate a store's memory from the sessions that touched it, as a reviewable proposal."""


def _progress():
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    prog = Progress(transient=True, console=None)
    state = {}

    def cb(what, done, total):
        if "task" not in state:
            prog.start()
            state["task"] = prog.add_task(what, total=total)
        prog.update(state["task"], completed=done, total=total, description=what)
        if done >= total:
            prog.stop()

    return cb


def _job(m, job_id):
    """A job by id; `latest` is the newest one."""
    if job_id == "latest":
        jobs_ = m.dream_jobs(limit=1)
        if not jobs_:
            raise errors.NotFound("there are no dream jobs yet (memfs dream run STORE)")
        return jobs_[0]
    return m.dream_job(job_id)


def _job_line(j) -> str:
    n, ses = len((j.proposal or {}).get("changes", [])), len(j.inputs.sessions or [])
    return f"dream {j.id} of {j.store_name} {j.status}: {plural(ses, 'session')}, {plural(n, 'change')} proposed"


@dream.command("run")
@click.argument("store_name", metavar="STORE", required=False)
@click.option("--since", help="Sessions active since (7d, 24h, 2026-11-27; default 7d).")
@click.option("--sessions", "session_ids", multiple=True, metavar="ID", help="Exactly these sessions (repeatable).")
@click.option("--engine", type=click.Choice(["local", "claude"]), help="Default: claude with ANTHROPIC_API_KEY, else local.")
@click.option("--model", help="The Claude model (claude engine).")
@click.option("--instructions", help="What to focus on (at most 4,096 characters).")
@click.option("--budget-tokens", type=int, help="Hard limit on tokens the job may use (claude engine).")
@click.option("--apply", "apply_now", is_flag=True, help="Apply the proposal at once (in place).")
@click.option("--into-new-store", metavar="NAME", help="Write the dreamed store as a new store; the input is untouched.")
@click.option("--into-branch", metavar="NAME", help="Write the proposal as branch STORE@NAME: mount, edit, merge it.")
@click.option("--all-stores", is_flag=True, help="Every live store with enough new activity (for cron).")
@click.option("--min-sessions", type=click.IntRange(0), default=0,
              help="Skip a store with fewer new sessions than this.")
@click.option("--unread-days", type=click.FloatRange(0), help="Local engine: list notes no session read or wrote in N days "
              "for review (default 30; 0: off).")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON (--all-stores: one JSON object per "
              "store and line).")
@pass_m
def dream_run(c, store_name, since, session_ids, engine, model, instructions, budget_tokens, apply_now,
              into_new_store, all_stores, min_sessions, unread_days, as_json, into_branch=None):
    """Dream a store: propose merged duplicates, lessons, stale fixes, verification notes."""
    since_ts = config.parse_time(since) if since else None
    if all_stores:
        if store_name or session_ids or into_new_store or into_branch:
            raise errors.InvalidInput("--all-stores takes no STORE, --sessions, --into-new-store or --into-branch")
        outcomes = jobs.run_all(c.m, since=since_ts, min_sessions=min_sessions,
                                log=(lambda o: click.echo(json.dumps(o.to_dict()))) if as_json else
                                (lambda o: click.echo(o.line())),
                                engine=engine, model=model, instructions=instructions, budget_tokens=budget_tokens,
                                apply=apply_now, engine_options=jobs.local_options(engine, unread_days=unread_days))
        if not outcomes and not as_json:
            click.echo("no live store to dream (memfs store ls)")
        failed = [o.store for o in outcomes if o.outcome == "failed"]
        if failed:
            click.echo(f"Error: {len(failed)} of {len(outcomes)} stores failed to dream: {', '.join(failed)}", err=True)
        sys.exit(jobs.all_stores_status(outcomes))
    if not store_name:
        raise errors.InvalidInput("give a STORE, or --all-stores")
    try:
        res = jobs.run(c.m, store_name, since=since_ts, sessions=list(session_ids) or None, engine=engine,
                       model=model, instructions=instructions, budget_tokens=budget_tokens, apply=apply_now,
                       into_new_store=into_new_store, min_sessions=min_sessions, progress=_progress(),
                       into_branch=into_branch,
                       engine_options=jobs.local_options(engine, unread_days=unread_days))
    except lock.LockHeld as e:
        click.echo(f"skipped: {e.message}")
        return
    if res.skipped:
        click.echo(f"{store_name}: {'nothing to read' if res.nothing_to_read else 'skipped'}: {res.skipped}")
        if res.nothing_to_read:
            sys.exit(explain.NOTHING_TO_READ)
        return
    j = res.job
    if as_json:
        click.echo(json.dumps(j.to_dict(), indent=2, default=str))
    else:
        click.echo(_job_line(j))
        for ln in explain.lines(j.inputs.explain, j.store_name):
            click.echo(ln)
        if j.status == "completed":
            proposal = j.proposal or {}
            if proposal.get("report"):
                click.echo(proposal["report"].rstrip("\n"))
            if res.apply_report:
                _print_outcomes(res.apply_report.outcomes)
            elif res.new_branch:
                click.echo(f"wrote the proposal as branch {res.new_branch}; review: memfs branch diff {res.new_branch}; "
                           f"merge: memfs branch merge {res.new_branch}")
            elif res.new_store:
                click.echo(f"wrote the dreamed store as {res.new_store}; {j.store_name} is untouched")
            elif proposal.get("changes"):
                click.echo(f"review: memfs dream show {j.id}; apply: memfs dream apply {j.id}")
    if j.status == "failed":
        raise errors.MemfsError(f"dream {j.id} failed: {j.error.get('type')}: {j.error.get('message')}")
    if j.status == "canceled":
        click.echo(f"dream {j.id} canceled", err=True)
        sys.exit(130)
    if (j.inputs.explain or {}).get("nothing_to_read"):
        sys.exit(explain.NOTHING_TO_READ)


def _job_row(j):
    return {"id": j.id, "store": j.store_name, "status": j.status, "review": j.review, "engine": j.engine,
            "model": j.model, "base_rev": j.base_rev, "created": config.fmt_time(j.created_at),
            "ended": config.fmt_time(j.ended_at), "sessions": len(j.inputs.sessions or []),
            "changes": len((j.proposal or {}).get("changes", [])), "usage": j.usage,
            "error": (j.error or {}).get("message")}


@dream.command("ls")
@click.argument("store_name", metavar="[STORE]", required=False)
@click.option("--status", type=click.Choice(["pending", "running", "completed", "failed", "canceled"]))
@click.option("-n", "--limit", type=click.IntRange(0), default=0, help="At most N jobs (0: all).")
@output_options
@pass_m
def dream_ls(c, store_name, status, limit, fmt):
    """Dream jobs, newest first."""
    rows = [_job_row(j) for j in c.m.dream_jobs(store_name, status=status, limit=limit or None)]
    emit(rows, fmt, ["id", "store", "status", "review", "engine", "created", "sessions", "changes"],
         lambda r: f"{r['id']}  {r['store'] or '-':<16} {r['status']:<9} {r['review']:<17} {r['engine']:<6} "
                   f"{r['created']}  {plural(r['sessions'], 'session', width=4)} {plural(r['changes'], 'change', width=4).rstrip()}")


@dream.command("show")
@click.argument("job_id", metavar="JOB|latest")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="The job with its structured proposal, as JSON.")
@click.option("--color/--no-color", default=None, help="Colour the diff (default: when writing to a terminal).")
@pass_m
def dream_show(c, job_id, paths, as_json, color):
    """A job's proposal as a coloured diff; each hunk with its reason and evidence."""
    if as_json and paths:
        raise errors.InvalidInput("--json prints the whole job: give PATHs or --json, not both")
    j = _job(c.m, job_id)
    if as_json:
        click.echo(json.dumps(j.to_dict(), indent=2, default=str))
        return
    color = sys.stdout.isatty() if color is None else color
    click.echo(render.render_job(c.m, j, color=color, paths=list(paths) or None), nl=False, color=color)


def _print_outcomes(outcomes, words=None):
    """One line per file. `words` renames the done states: a dry run would apply, a revert reverted."""
    words = words or {}
    for o in outcomes:
        if o.status in ("applied", "merged"):
            word = words.get(o.status, o.status)
            reason = o.reason if o.reason and o.status not in words else ""
            click.echo(f"{word:<8} {o.action:<6} {o.path}" + (f"  revision {o.revision}" if o.revision else
                                                               f"  {reason}" if reason else ""))
        elif o.status == "already":
            click.echo(f"already  {o.action:<6} {o.path}")
        else:
            click.echo(f"conflict {o.action:<6} {o.path}: {o.reason}")


@dream.command("apply")
@click.argument("job_id", metavar="JOB|latest")
@click.argument("paths", nargs=-1)
@click.option("--merge", is_flag=True, help="Where a file changed since the base and the edits do not overlap, "
              "apply the three-way merge.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@pass_m
def dream_apply(c, job_id, paths, merge, dry_run):
    """Apply a proposal, all of it or some PATHs: one revision per file, never over an agent's newer write."""
    job_id = _job(c.m, job_id).id
    rep = jobs.apply_job(c.m, job_id, list(paths) or None, merge=merge, dry_run=dry_run)
    _print_outcomes(rep.outcomes, {"applied": "would apply", "merged": "would merge"} if dry_run else None)
    n = sum(1 for o in rep.outcomes if o.status in ("applied", "merged"))
    click.echo(f"{plural(n, 'path')} {'would change' if dry_run else 'changed'}, {plural(len(rep.conflicts), 'conflict')}")
    if rep.conflicts and not dry_run:
        merges = sum(1 for o in rep.conflicts if o.merge_available)
        hint = f" ({merges} can be merged: memfs dream apply {job_id} --merge)" if merges else ""
        k = len(rep.conflicts)
        raise errors.PreconditionFailed(f"{plural(k, 'file')} changed since the dream's base {'was' if k == 1 else 'were'} "
                                        f"not applied{hint}")


@dream.command("reject")
@click.argument("job_id", metavar="JOB|latest")
@pass_m
def dream_reject(c, job_id):
    """Reject a proposal: it stays on record and can no longer be applied."""
    j = jobs.reject_job(c.m, _job(c.m, job_id).id)
    click.echo(f"rejected dream {j.id}")


@dream.command("revert")
@click.argument("job_id", metavar="JOB|latest")
@click.option("--dry-run", is_flag=True, help="Show what would be undone; write nothing.")
@pass_m
def dream_revert(c, job_id, dry_run):
    """Undo an applied dream as new revisions (files changed since are left alone)."""
    rep = jobs.revert_job(c.m, _job(c.m, job_id).id, dry_run=dry_run)
    _print_outcomes(rep.outcomes, {"applied": "would revert" if dry_run else "reverted"})
    n = sum(1 for o in rep.outcomes if o.status == "applied")
    click.echo(f"{plural(n, 'path')} {'would be ' if dry_run else ''}reverted, {plural(len(rep.conflicts), 'conflict')}")
    if rep.conflicts and not dry_run:
        raise errors.PreconditionFailed(f"{plural(len(rep.conflicts), 'file')} changed since the dream {'was' if len(rep.conflicts) == 1 else 'were'} not reverted")


@dream.command("cancel")
@click.argument("job_id", metavar="JOB|latest")
@pass_m
def dream_cancel(c, job_id):
    """Ask a pending or running dream to stop."""
    j = c.m.cancel_dream_job(_job(c.m, job_id).id)
    click.echo(f"dream {j.id} is {j.status}" + (" (cancel requested)" if j.cancel_requested_at and
                                                j.status in ("pending", "running") else ""))
