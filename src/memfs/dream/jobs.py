"""The dream job life cycle: select sessions, snapshot the store at a base revision, run an
engine, store the proposal; then apply, reject or revert it.

A job moves pending -> running -> completed | failed | canceled. It never changes the store by
itself: the proposal waits for `apply` (or is applied at once with `apply=True`, or written into
a new store with `into_new_store`, or as a branch of the store with `into_branch`, to mount,
edit and merge). The store's dream lock is held while the engine runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional

from .. import errors
from ..store import FILE, DreamInputs, is_binary
from .. import transcripts as T
from . import apply as applying
from . import engines, explain, lock
from .context import BudgetExceeded, Canceled, DreamContext
from .proposal import Proposal

DEFAULT_SINCE = 7 * 86400

# USD per million tokens (input, output), for the cost estimate of a job
PRICES = {"opus": (15.0, 75.0), "sonnet": (3.0, 15.0), "haiku": (1.0, 5.0)}


def estimate_cost(model: Optional[str], usage: dict) -> Optional[float]:
    if not model:
        return None
    for fam, (pin, pout) in PRICES.items():
        if fam in model:
            cin = usage.get("input_tokens", 0) + 1.25 * usage.get("cache_creation_input_tokens", 0) + \
                0.1 * usage.get("cache_read_input_tokens", 0)
            return round((cin * pin + usage.get("output_tokens", 0) * pout) / 1e6, 6)
    return None


def local_options(engine: Optional[str], **opts) -> Optional[dict]:
    """Options only the local engine takes, given when it is the one that runs."""
    opts = {k: v for k, v in opts.items() if v is not None}
    return opts if opts and (engine or engines.default_engine()) == "local" else None


def select_sessions(m, store, *, since: Optional[float] = None, sessions: Optional[Iterable[str]] = None) -> list[str]:
    """The sessions a dream of `store` reads: those named, or those that touched the store since
    a time: mount and API sessions that held or wrote it, writers in its log (dreams excluded),
    and transcripts registered for it."""
    if sessions:
        ids = sorted(set(sessions))
        unknown = _unknown_sessions(m, ids)
        if unknown:  # a typo would otherwise be a dream that read nothing and said it read it
            raise errors.NotFound(f"no such session: {', '.join(unknown)} (no mount or API session, write or "
                                  f"registered transcript has that id: see memfs sessions, memfs transcripts ls)")
        return ids
    ids = {s.session_id for s in m.sessions(store, since=since)}
    ids |= {r.session for r in m.log(store, since=since) if r.session and r.actor != "dream"}
    ids |= {t.session_id for t in m.transcripts(store=store, since=since)}
    return sorted(ids)


def _unknown_sessions(m, ids: list) -> list:
    known = {t.session_id for t in m.transcripts(session_ids=ids)}
    left = [s for s in ids if s not in known]
    if left:
        known = {s.session_id for s in m.sessions()}
        left = [s for s in left if s not in known and not m.log(session=s, limit=1)]
    return left


def snapshot(m, store, rev: int):
    files, shas, entries = {}, {}, {}
    for p, e in sorted(m.tree(store, rev).items()):
        if e.kind != FILE:
            continue
        shas[p], entries[p] = e.sha256, e
        data = m.blob(e.sha256)
        if not is_binary(data):
            files[p] = data.decode("utf-8")
    return files, shas, entries


@dataclass
class RunResult:
    job: object
    skipped: Optional[str] = None
    apply_report: Optional[applying.ApplyReport] = None
    new_store: Optional[str] = None
    new_branch: Optional[str] = None  # STORE@NAME
    nothing_to_read: bool = False  # skipped, with no session or transcript to read (or nothing new)
    extra: dict = field(default_factory=dict)


def run(m, store_ref, *, since: Optional[float] = None, sessions: Optional[Iterable[str]] = None,
        engine: Optional[str] = None, model: Optional[str] = None, instructions: Optional[str] = None,
        budget_tokens: Optional[int] = None, apply: bool = False, into_new_store: Optional[str] = None,
        min_sessions: int = 0, resume: bool = False, now: Optional[float] = None,
        progress: Optional[Callable[[str, int, int], None]] = None, engine_options: Optional[dict] = None,
        job_id: Optional[str] = None, into_branch: Optional[str] = None) -> RunResult:
    """Dream one store. Returns the job (completed, failed or canceled), or a skip reason when
    there was too little new activity. LockHeld when another process is dreaming the store.
    `job_id`: run this pending job (made earlier, e.g. by `POST /v1/dreams`) instead of a new one;
    its `inputs` and `output` keep their other keys, and InvalidInput if it is no longer pending."""
    store = m.get_store(store_ref)
    if sum(map(bool, (apply, into_new_store, into_branch))) > 1:
        raise errors.InvalidInput("--apply, --into-new-store and --into-branch exclude each other")
    if into_branch:  # a name that is taken (or bad) fails now, not after the engine ran
        try:
            m.branch(store, into_branch)
            raise errors.AlreadyExists(f"store {store.name!r} already has a branch named {into_branch!r}")
        except errors.NotFound:
            pass
    if store.archived and not into_new_store:
        raise errors.ReadOnly(f"store {store.name!r} is archived: dream it --into-new-store")
    if sessions and since is not None:
        raise errors.InvalidInput("give --since or --sessions, not both")
    if budget_tokens is not None and budget_tokens < 1:
        raise errors.InvalidInput("--budget-tokens must be a positive number")
    engine = engine or engines.default_engine()
    eng = engines.get(engine, **(engine_options or {}))
    if into_new_store:
        into_new_store = into_new_store.strip()
        try:
            m.get_store(into_new_store)
            raise errors.AlreadyExists(f"a store named {into_new_store!r} already exists")
        except errors.StoreNotFound:
            pass
    window = since if since is not None or sessions else time.time() - DEFAULT_SINCE
    last = None
    if resume:
        done = [j for j in m.dream_jobs(store, status="completed")]
        last = done[0] if done else None
        if last is not None and not sessions:
            window = max(window, last.created_at)
    with lock.hold(m, store):
        ids = select_sessions(m, store, since=None if sessions else window, sessions=sessions)
        head = m.store_head(store)
        if resume and last is not None and last.base_rev == head and not ids:
            return RunResult(None, skipped=f"nothing new since revision {head} (job {last.id})", nothing_to_read=True)
        if len(ids) < min_sessions:
            when = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(window))
            if not ids:
                return RunResult(None, skipped=f"no session or transcript touched {store.name} since {when}",
                                 nothing_to_read=True)
            return RunResult(None, skipped=f"{len(ids)} session{'s' if len(ids) != 1 else ''} since {when}, "
                                           f"fewer than --min-sessions {min_sessions}")
        regs = m.transcripts(session_ids=ids)
        output = ({"type": "create_new", "memory_store": into_new_store} if into_new_store else
                  {"type": "branch", "memory_store": f"{store.name}@{into_branch}"} if into_branch else
                  {"type": "update_existing", "memory_store": store.name} if apply else {"type": "propose"})
        chosen = dict(memory_store=store.name, sessions=ids, since=None if sessions else window,
                      transcripts=[t.path for t in regs], budget_tokens=budget_tokens,
                      explain=explain.explain(m, store, ids, window=None if sessions else window,
                                              sessions_given=bool(sessions)))
        if job_id is not None:
            old = m.dream_job(job_id)
            job = m.update_dream_job(job_id, expect_status=("pending",), status="running", started_at=time.time(),
                                     base_rev=head, inputs=replace(old.inputs, **chosen),
                                     output={**(old.output or {}), **output},
                                     model=model or old.model or getattr(eng, "model", None))
        else:
            job = m.create_dream_job(store, engine=engine, model=model or getattr(eng, "model", None),
                                     instructions=instructions, inputs=DreamInputs(**chosen), output=output)
            job = m.update_dream_job(job.id, status="running", started_at=time.time(), base_rev=head)
        res = RunResult(job)
        ctx = None
        try:
            files, shas, entries = snapshot(m, store, head)
            ctx = DreamContext(
                m=m, store=store, base_rev=head, files=files, shas=shas, entries=entries, session_ids=ids,
                load_sessions=lambda: T.iter_sessions(m, ids, store=store, until_rev=head),
                now=now if now is not None else time.time(), instructions=instructions, job_id=job.id,
                model=model, budget_tokens=budget_tokens,
                cancel_check=lambda: m.dream_job(job.id).cancel_requested_at is not None, progress=progress)
            proposal = applying.screen(m, store, job, eng.run(ctx))
            usage = dict(ctx.usage)
            cost = estimate_cost(getattr(eng, "model", None) if engine != "local" else None, usage)
            if cost is not None:
                usage["cost_usd"] = cost
            job = m.update_dream_job(job.id, status="completed", proposal=proposal.to_dict(), usage=usage,
                                     ended_at=time.time(), model=getattr(eng, "model", None) or model)
        except Canceled as e:
            job = m.update_dream_job(job.id, status="canceled", ended_at=time.time(), usage=dict(ctx.usage) if ctx else {},
                                     error={"type": "canceled", "message": e.message})
            res.job = job
            return res
        except KeyboardInterrupt:
            m.update_dream_job(job.id, status="canceled", ended_at=time.time(),
                               error={"type": "canceled", "message": "interrupted"})
            raise
        except BudgetExceeded as e:
            job = m.update_dream_job(job.id, status="failed", ended_at=time.time(), usage=dict(ctx.usage) if ctx else {},
                                     error={"type": "budget_exceeded", "message": e.message})
            res.job = job
            return res
        except Exception as e:  # the job records any failure; the caller decides how loud to be
            kind = e.error_type if isinstance(e, errors.MemfsError) else type(e).__name__
            msg = e.message if isinstance(e, errors.MemfsError) else str(e)
            job = m.update_dream_job(job.id, status="failed", ended_at=time.time(), usage=dict(ctx.usage) if ctx else {},
                                     error={"type": kind, "message": msg[:2000]})
            res.job = job
            return res
        res.job = job
        if apply:
            res.apply_report = apply_job(m, job.id)
            res.job = m.dream_job(job.id)
        elif into_new_store:
            res.new_store = write_new_store(m, store, job, into_new_store, files, shas, entries)
            res.job = m.dream_job(job.id)
        elif into_branch:
            res.new_branch = write_branch(m, store, job, into_branch)
            res.job = m.dream_job(job.id)
        return res


def write_branch(m, store, job, name) -> str:
    """The proposal as a branch of the store made at the job's base revision: mount it, grep
    it, edit it, and merge it (`memfs branch merge`), with edits made to the store since merged
    in, not lost. Each change is a branch revision attributed to the job."""
    proposal = Proposal.from_dict(job.proposal)
    b = m.create_branch(store, name, rev=job.base_rev, identity=applying.dream_identity(job))
    ident = applying.dream_identity(job)
    for c in sorted(proposal.changes, key=lambda c: c.path):
        msg = f"dream {job.id}: " + "; ".join(a.reason for a in c.annotations[:3])[:500]
        if c.action == "delete":
            m.delete(b.store, c.path, identity=ident, message=msg)
        else:
            m.write(b.store, c.path, c.content.encode("utf-8"), identity=ident, message=msg)
    m.update_dream_job(job.id, output={**(job.output or {}), "memory_store": b.ref, "memory_store_id": b.store.uid})
    return b.ref


def write_new_store(m, store, job, name, files, shas, entries) -> str:
    """The base tree with the proposal applied, as a new store; the input stays untouched."""
    proposal = Proposal.from_dict(job.proposal)
    new = m.create_store(name, f"Dream {job.id} of {store.name}"[:1024], max_content_bytes=store.max_content_bytes)
    ident = applying.dream_identity(job)
    changed = {c.path: c for c in proposal.changes}
    for p in sorted(entries):
        c = changed.get(p)
        if c is not None and c.action == "delete":
            continue
        data = c.content.encode("utf-8") if c is not None else m.blob(shas[p])
        m.write(new, p, data, identity=ident, message=f"dream {job.id}")
    for p, c in sorted(changed.items()):
        if c.action == "create":
            m.write(new, p, c.content.encode("utf-8"), identity=ident, message=f"dream {job.id}")
    out = dict(job.output or {})
    out.update({"memory_store": new.name, "memory_store_id": new.uid})
    m.update_dream_job(job.id, output=out)
    return new.name


def _finished(m, job_id):
    job = m.dream_job(job_id)
    if job.status != "completed":
        raise errors.InvalidInput(f"dream job {job.id} is {job.status}: only a completed job can be applied")
    if job.review in ("rejected",):
        raise errors.InvalidInput(f"dream job {job.id} was rejected")
    return job


def apply_job(m, job_id: str, paths: Optional[Iterable[str]] = None, *, merge: bool = False,
              dry_run: bool = False) -> applying.ApplyReport:
    job = _finished(m, job_id)
    store = m.get_store(job.store_id)
    proposal = Proposal.from_dict(job.proposal)
    rep = applying.apply_proposal(m, store, job, proposal, paths, merge=merge, dry_run=dry_run)
    if not dry_run:
        applying.record(m, job, rep, proposal)
    return rep


def reject_job(m, job_id: str):
    job = m.dream_job(job_id)
    if job.review in ("applied", "partially_applied"):
        raise errors.InvalidInput(f"dream job {job.id} was applied: use `memfs dream revert {job.id}`")
    if job.status in ("pending", "running"):
        m.cancel_dream_job(job.id)
    return m.update_dream_job(job.id, review="rejected")


def revert_job(m, job_id: str, *, dry_run: bool = False) -> applying.ApplyReport:
    job = m.dream_job(job_id)
    if not (job.applied or {}).get("files"):
        raise errors.InvalidInput(f"dream job {job.id} has nothing applied to revert")
    return applying.revert_job(m, m.get_store(job.store_id), job, dry_run=dry_run)


@dataclass
class StoreOutcome:
    """What `run_all` did with one store. `outcome`: "dreamed" (read at least one session),
    "nothing_to_read" (no session or transcript, or nothing new since the last dream: a dream
    over the files alone, or none), "skipped" (fewer sessions than --min-sessions, or another
    process is dreaming it) or "failed"."""
    store: str
    outcome: str
    reason: str = ""
    job: Optional[str] = None
    sessions: int = 0
    changes: int = 0
    applied: Optional[int] = None
    locked: bool = False

    def line(self) -> str:
        word = self.outcome.replace("_", " ")
        return f"{self.store}: {word}: {self.reason}" if self.reason else f"{self.store}: {word}"

    def to_dict(self) -> dict:
        return {"store": self.store, "outcome": self.outcome, "reason": self.reason, "job": self.job,
                "sessions": self.sessions, "changes": self.changes, "applied": self.applied}


def all_stores_status(outcomes: list) -> int:
    """The exit status of `dream run --all-stores`: 1 when a store failed (the others were still
    dreamed); else 0 when a store was dreamed (or is being dreamed by another process); else
    explain.NOTHING_TO_READ: no store had anything (or enough) to read, or there is no store."""
    if any(o.outcome == "failed" for o in outcomes):
        return 1
    if any(o.outcome == "dreamed" or o.locked for o in outcomes):
        return 0
    return explain.NOTHING_TO_READ


def _outcome(st, res: RunResult) -> StoreOutcome:
    if res.skipped:
        return StoreOutcome(st.name, "nothing_to_read" if res.nothing_to_read else "skipped", res.skipped)
    j = res.job
    n = len((j.proposal or {}).get("changes", []))
    out = StoreOutcome(st.name, "dreamed", job=j.id, sessions=len(j.inputs.sessions or []), changes=n)
    if j.status != "completed":
        out.outcome = "failed"
        out.reason = f"{j.id} {j.status}: {(j.error or {}).get('message', '')}"
        return out
    did = f"{j.id}, {out.sessions} session{'s' if out.sessions != 1 else ''}, {n} change{'s' if n != 1 else ''} proposed"
    if res.apply_report:
        out.applied = len(res.apply_report.applied)
        conflicts = len(res.apply_report.conflicts)
        did += f", {out.applied} applied" + (f", {conflicts} conflicts" if conflicts else "")
    ex = j.inputs.explain or {}
    if ex.get("nothing_to_read"):
        out.outcome = "nothing_to_read"
        since = f" since {explain._day(ex['window'])}" if ex.get("window") else ""
        left = ex.get("left_out_count") or 0
        out.reason = (f"no session or transcript touched {st.name}{since}; dreamed the files only: {did}"
                      + (f" ({left} registered transcript{'s' if left != 1 else ''} left out: memfs dream show {j.id})"
                         if left else ""))
    else:
        out.reason = did
    return out


def run_all(m, *, since: Optional[float], min_sessions: int, log: Optional[Callable[[StoreOutcome], None]] = None,
            **kw) -> list[StoreOutcome]:
    """Dream every live store with enough new activity since its last dream (cron). A store that
    fails does not stop the others. `log` hears each store's outcome as it is known."""
    outcomes = []
    for st in m.list_stores(include_archived=False):
        try:
            o = _outcome(st, run(m, st, since=since, min_sessions=min_sessions, resume=True, **kw))
        except lock.LockHeld as e:
            o = StoreOutcome(st.name, "skipped", e.message, locked=True)
        except errors.MemfsError as e:
            o = StoreOutcome(st.name, "failed", e.message)
        except Exception as e:  # a store's failure is its line; the next store still dreams
            o = StoreOutcome(st.name, "failed", f"{type(e).__name__}: {e}")
        outcomes.append(o)
        if log is not None:
            log(o)
    return outcomes
