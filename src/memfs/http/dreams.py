"""`/v1/dreams`: Anthropic's Dreams API over memfs's own dream engine (memfs/dream), plus memfs's
extensions `GET /v1/dreams/{id}/diff` (the proposal as a unified diff, each hunk with its reasons
and evidence), `POST /v1/dreams/{id}/apply` (the no-clobber apply of `memfs dream apply`), and
`POST /v1/dreams/{id}/reject` and `/revert` (`memfs dream reject`, `memfs dream revert`).

A dream is a dream job (`drm_…`), the same one `memfs dream ls/show/apply` see. Create records a
pending job and returns at once; a worker thread, with its own connection (a `Memfs` is not
shared between threads), runs it with `dream.jobs.run(job_id=…)`: pending -> running ->
completed | failed | canceled. `output_behavior` create_new (default) writes the result as a new
store and leaves the input alone; update_existing applies it to the input store (a file an agent
changed since the dream's base is never overwritten: it is reported under `memfs.conflicts`).

The engine is the server's: `MEMFS_DREAM_ENGINE`, else `claude` when an API key is configured
(ANTHROPIC_API_KEY), else `local`; `model` is recorded and passed on. memfs's input extension:
`{"type": "time_window", "since": RFC 3339}` in place of the `sessions` entry dreams the sessions
that touched the store since then. A dream is visible to a key that can read its input store
(404 otherwise); creating, canceling, archiving and applying need write access."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from typing import Any, Optional

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict

from .. import errors, settings
from ..dream import jobs as dreamjobs
from ..dream import engines
from ..dream.lock import LockHeld
from ..dream.proposal import Proposal
from ..dream.render import hunks, place
from ..store import DreamInputs, Memfs
from . import ids, render

log = logging.getLogger("memfs.http")

_DREAM = re.compile(r"drm_[0-9a-f]{20}")
MAX_SESSIONS = 100


def _conflict(message: str) -> errors.MemfsError:
    e = errors.InvalidInput(message)
    e.http_status = 409
    return e


class DreamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: list[dict[str, Any]]
    model: Any
    instructions: Optional[str] = None
    output_behavior: Optional[dict[str, Any]] = None


class DreamApply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: Optional[list[str]] = None
    merge: bool = False
    dry_run: bool = False


class DreamRevert(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False


# ---------------------------------------------------------------------------- the worker


class Runner:
    """Runs dream jobs in threads, each with its own database connection. `pause()` keeps new
    jobs pending until `resume()` (maintenance, and the tests of the pending state)."""

    def __init__(self, db_path: str):
        self.db_path = db_path
        self.cv = threading.Condition()
        self.paused = False
        self.closing = False
        self.threads: dict[str, threading.Thread] = {}

    def pause(self):
        with self.cv:
            self.paused = True

    def resume(self):
        with self.cv:
            self.paused = False
            self.cv.notify_all()

    def submit(self, job_id: str, kw: dict) -> None:
        t = threading.Thread(target=self._run, args=(job_id, kw), name=f"memfs-dream-{job_id}", daemon=True)
        with self.cv:
            self.threads = {k: v for k, v in self.threads.items() if v.is_alive()}
            self.threads[job_id] = t
        t.start()

    def wait(self, timeout: float = 10.0) -> None:
        for t in list(self.threads.values()):
            t.join(timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        with self.cv:
            self.closing = True
            self.cv.notify_all()
        live = [k for k, t in self.threads.items() if t.is_alive()]
        if live:
            with Memfs(self.db_path) as m:
                for jid in live:
                    try:
                        m.cancel_dream_job(jid)
                    except errors.MemfsError:
                        pass
        self.wait(timeout)

    def _run(self, job_id: str, kw: dict) -> None:
        with self.cv:
            while self.paused and not self.closing:
                self.cv.wait()
        try:
            with Memfs(self.db_path) as m:
                self._run_job(m, job_id, kw)
        except Exception:  # noqa: BLE001 - a worker must never die silently
            log.exception("dream %s: the worker failed", job_id)

    def _run_job(self, m: Memfs, job_id: str, kw: dict) -> None:
        job = m.dream_job(job_id)
        if job.status != "pending":
            return
        if job.cancel_requested_at is not None or self.closing:
            _finish(m, job_id, "canceled", {"type": "canceled", "message": "canceled before it started"})
            return
        try:
            res = dreamjobs.run(m, job.store_id, job_id=job_id, **kw)
        except LockHeld as e:
            _finish(m, job_id, "failed", {"type": "dream_in_progress", "message": e.message})
            return
        except errors.MemfsError as e:
            error = {"type": e.error_type, "message": e.message[:2000]}
            if m.dream_job(job_id).status == "completed":  # the output step failed: the client never saw it done
                m.update_dream_job(job_id, status="failed", ended_at=time.time(), error=error)
            else:
                _finish(m, job_id, "failed", error)
            return
        if res.job is not None and res.job.status == "completed":
            # the result is in its store (create_new) or applied (update_existing): now it is done
            j = m.dream_job(job_id)
            m.update_dream_job(job_id, output={**(j.output or {}), "finalized": True}, ended_at=time.time())


def _finish(m: Memfs, job_id: str, status: str, error: dict) -> None:
    """End a job that never got to run (a job that did, run() ended itself)."""
    try:
        m.update_dream_job(job_id, expect_status=("pending", "running"), status=status, ended_at=time.time(),
                           error=error)
    except errors.InvalidInput:
        pass  # already ended (canceled while pending, or run() recorded its own end)


def runner(app: FastAPI) -> Runner:
    return app.state.dreams


def shutdown(app: FastAPI) -> None:
    r = getattr(app.state, "dreams", None)
    if r is not None:
        r.shutdown()


# ---------------------------------------------------------------------------- rendering


def _ms(s) -> Optional[str]:
    return s.uid if s is not None else None


def status_of(j) -> str:
    """A dream made through the API is `completed` once its output step (the new store, or the
    apply) is done too, not when the engine finished: until then it shows as `running`."""
    if j.status == "completed" and j.inputs.api and not (j.output or {}).get("finalized"):
        return "running"
    return j.status


def dream(m: Memfs, j) -> dict:
    ins = j.inputs
    out = j.output or {}
    try:
        src = m.get_store(j.store_id)
    except errors.StoreNotFound:
        src = None
    inputs = [{"type": "memory_store", "memory_store_id": _ms(src)}]
    if ins.since is not None:  # the sessions were chosen by time
        inputs.append({"type": "time_window", "since": render.ts(ins.since)})
    else:
        inputs.append({"type": "sessions", "session_ids": sorted(ins.sessions or [])})
    kind = out.get("type")
    outputs = []
    status = status_of(j)
    if kind == "update_existing":
        behavior = {"type": "update_existing", "memory_store_id": _ms(src)}
        if j.status != "pending":
            outputs.append({"type": "memory_store", "memory_store_id": _ms(src)})
    else:
        behavior = {"type": "create_new"}
        if out.get("memory_store_id"):
            outputs.append({"type": "memory_store", "memory_store_id": out["memory_store_id"]})
    usage = j.usage or {}
    model = ins.model or {"id": j.model or j.engine, "speed": "standard"}
    applied = j.applied or {}
    return {
        "type": "dream", "id": j.id, "status": status, "inputs": inputs, "model": model,
        "instructions": j.instructions, "output_behavior": behavior, "outputs": outputs,
        "usage": {k: int(usage.get(k, 0) or 0) for k in ("input_tokens", "output_tokens",
                                                        "cache_creation_input_tokens", "cache_read_input_tokens")},
        "error": j.error if status == "failed" or (j.error and status == "canceled") else None,
        "session_id": None,
        "created_at": render.ts(j.created_at), "ended_at": render.ts(j.ended_at) if status == j.status else None,
        "archived_at": render.ts(ins.archived_at),
        # memfs's additions
        "memfs": {"engine": j.engine, "base_revision": j.base_rev, "review": j.review,
                  # the sessions the run read: none before it starts (an API job names the ones asked for)
                  "sessions_read": list(ins.sessions or []) if j.started_at is not None else [],
                  "explain": ins.explain,  # what was read and left out, and why (dream/explain.py)
                  "changes": len((j.proposal or {}).get("changes", [])),
                  "report": (j.proposal or {}).get("report") or None,
                  "applied": sorted((applied.get("files") or {}).keys()),
                  "conflicts": applied.get("conflicts") or {},
                  "cost_usd": usage.get("cost_usd"),
                  "started_at": render.ts(j.started_at)},
    }


def diff(m: Memfs, j) -> dict:
    """The proposal as unified diffs, one per file, each hunk with the annotations placed on it."""
    proposal = Proposal.from_dict(j.proposal)
    applied = j.applied or {}
    files_state, conflicts = applied.get("files") or {}, applied.get("conflicts") or {}
    files, whole = [], []
    for ch in proposal.changes:
        base = m.blob(ch.base_sha256).decode("utf-8", "replace") if ch.base_sha256 else ""
        a, b = base.splitlines(), (ch.content or "").splitlines()
        hs = list(hunks(a, b))
        placed = place(ch.annotations, hs)
        head = [f"--- {'a' + ch.path if ch.action != 'create' else '/dev/null'}",
                f"+++ {'b' + ch.path if ch.action != 'delete' else '/dev/null'}"]
        out_hunks, text = [], list(head)
        for (header, lines), notes in zip(hs, placed):
            body = [header] + [tag + line for tag, line in lines]
            text += body
            out_hunks.append({"header": header, "diff": "\n".join(body) + "\n",
                              "annotations": [n.to_dict() for n in notes]})
        state = (files_state.get(ch.path) or {}).get("status") or ("conflict" if ch.path in conflicts else None)
        files.append({"path": ch.path, "action": ch.action, "base_content_sha256": ch.base_sha256,
                      "content_sha256": ch.sha256, "state": state, "conflict": conflicts.get(ch.path),
                      "diff": "\n".join(text) + "\n", "hunks": out_hunks,
                      "annotations": [a.to_dict() for a in ch.annotations]})
        whole += text
    return {"type": "dream_diff", "dream_id": j.id, "base_revision": j.base_rev, "review": j.review,
            "report": proposal.report, "files": files, "diff": "\n".join(whole) + ("\n" if whole else "")}


# ---------------------------------------------------------------------------- routes


def _utf8(value, name):
    """JSON allows lone surrogates; SQLite does not."""
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidInput(f"{name}: not valid Unicode text (lone surrogate)") from None
    return value


def _parse_inputs(c, body: DreamCreate):
    stores = [i for i in body.inputs if isinstance(i, dict) and i.get("type") == "memory_store"]
    sess = [i for i in body.inputs if isinstance(i, dict) and i.get("type") in ("sessions", "time_window")]
    if len(stores) != 1 or len(sess) != 1 or len(body.inputs) != 2:
        raise errors.InvalidInput("inputs: give exactly one memory_store entry and exactly one sessions entry "
                                  "(or memfs's time_window entry)")
    sid = stores[0].get("memory_store_id")
    if not isinstance(sid, str):
        raise errors.InvalidInput("inputs: memory_store_id must be a string")
    s = c.store(sid, write=True)
    sel = sess[0]
    if sel["type"] == "sessions":
        ids_ = sel.get("session_ids")
        if not isinstance(ids_, list) or not 1 <= len(ids_) <= MAX_SESSIONS:
            raise errors.InvalidInput(f"inputs: session_ids must list 1 to {MAX_SESSIONS} session ids")
        for x in ids_:
            if not isinstance(x, str) or not x.strip() or len(x) > 255 or any(ord(ch) < 32 for ch in x):
                raise errors.InvalidInput(f"inputs: not a session id: {x!r}")
            _utf8(x, "inputs.session_ids")
        if len(set(ids_)) != len(ids_):
            raise errors.InvalidInput("inputs: session_ids has duplicates")
        return s, sorted(ids_), None
    since = sel.get("since")
    if not isinstance(since, str):
        raise errors.InvalidInput("inputs: time_window needs `since`, an RFC 3339 time")
    return s, None, render.parse_ts(since, "inputs.since", -1)


def _parse_model(model) -> dict:
    if isinstance(model, str):
        model = {"id": model}
    if not isinstance(model, dict) or not isinstance(model.get("id"), str) or not 1 <= len(model["id"]) <= 256:
        raise errors.InvalidInput("model: a model id (1-256 characters) or {id, speed}")
    if set(model) - {"id", "speed"} or model.get("speed", "standard") not in ("standard", None):
        raise errors.InvalidInput("model: only `id` and `speed` (`standard`) are accepted")
    return {"id": model["id"], "speed": "standard"}


def add_routes(app: FastAPI, ctx) -> None:
    app.state.dreams = Runner(app.state.db_path)
    D = "/v1/dreams"
    tags = ["dreams"]

    def visible(c, job_id: str, write: bool = False):
        missing = errors.NotFound(f"dream {job_id!r} not found")
        if not isinstance(job_id, str) or not _DREAM.fullmatch(job_id):
            raise missing
        try:
            j = c.m.dream_job(job_id)
            s = c.m.get_store(j.store_id)
        except errors.NotFound:
            raise missing from None
        c.allow(s, write, missing, f"dream {job_id}")
        return j, s

    @app.post(D, response_model=None, tags=tags)
    def create_dream(request: Request, body: DreamCreate):
        c = ctx(request)
        s, session_ids, since = _parse_inputs(c, body)
        model = _parse_model(body.model)
        if body.instructions is not None and not 1 <= len(body.instructions) <= 4096:
            raise errors.InvalidInput("instructions: 1 to 4,096 characters")
        _utf8(body.instructions, "instructions")
        _utf8(model["id"], "model")
        ob = body.output_behavior or {"type": "create_new"}
        kind = ob.get("type")
        if kind == "create_new" and set(ob) == {"type"}:
            if c.key is not None and c.key.all_stores != "rw":
                raise errors.NotPermitted("create_new makes a memory store: this API key may not create memory "
                                          "stores (it needs --all-stores=rw); use update_existing")
        elif kind == "update_existing" and set(ob) == {"type", "memory_store_id"}:
            if ob["memory_store_id"] != s.uid:
                raise errors.InvalidInput("output_behavior.memory_store_id must be the memory store in inputs")
        else:
            raise errors.InvalidInput("output_behavior: {type: create_new} or {type: update_existing, "
                                      "memory_store_id}")
        if s.archived:
            raise errors.InvalidInput(f"memory store {s.uid} is archived")
        busy = [j for st in ("pending", "running", "completed") for j in c.m.dream_jobs(s, status=st, limit=20)
                if status_of(j) in ("pending", "running")]
        if busy:
            raise _conflict(f"dream {busy[0].id} of memory store {s.uid} has not stopped yet")
        engine = settings.get("MEMFS_DREAM_ENGINE") or engines.default_engine()
        engines.get(engine)  # an unknown engine is the server's misconfiguration: fail here, not later
        if session_ids is not None:  # an unknown session id is the client's 404 now, not a failed job later
            dreamjobs.select_sessions(c.m, s, sessions=session_ids)
        inputs = DreamInputs(memory_store=s.name, sessions=session_ids, since=since, model=model, api=True)
        with c.writing:
            j = c.m.create_dream_job(s, engine=engine, model=model["id"], instructions=body.instructions,
                                     inputs=inputs, output={"type": kind})
        kw = {"engine": engine, "model": model["id"], "instructions": body.instructions}
        if session_ids is not None:
            kw["sessions"] = session_ids
        else:
            kw["since"] = since
        if kind == "update_existing":
            kw["apply"] = True
        else:
            kw["into_new_store"] = f"{s.name[:200]}-{j.id}"
        runner(app).submit(j.id, kw)
        return dream(c.m, j)

    @app.get(D, response_model=None, tags=tags)
    def list_dreams(request: Request, include_archived: bool = False,
                    statuses: Optional[list[str]] = Query(None, alias="statuses[]"),
                    created_at_gt: Optional[str] = None, created_at_lt: Optional[str] = None,
                    limit: int = Query(20, ge=1, le=100), page: Optional[str] = Query(None)):
        c = ctx(request)
        statuses = [*(statuses or ()), *request.query_params.getlist("statuses")]
        for st in statuses:
            if st not in ("pending", "running", "completed", "failed", "canceled"):
                raise errors.InvalidInput(f"statuses: unknown status {st!r}")
        gt = render.parse_ts(created_at_gt, "created_at_gt") if created_at_gt is not None else None
        lt = render.parse_ts(created_at_lt, "created_at_lt") if created_at_lt is not None else None
        after = ids.decode_cursor(page or None, "dreams", "")
        if after is not None and not isinstance(after, str):
            raise errors.InvalidInput("page: not a cursor that this listing returned")
        access, out, seen = {}, [], after is None
        for j in c.m.dream_jobs():
            if not seen:
                seen = j.id == after
                continue
            if j.store_name is None:
                continue
            if j.store_id not in access:
                access[j.store_id] = c.access(c.m.get_store(j.store_id))
            if not access[j.store_id]:
                continue
            if not include_archived and j.inputs.archived_at:
                continue
            if statuses and status_of(j) not in statuses:
                continue
            if (gt is not None and j.created_at <= gt) or (lt is not None and j.created_at >= lt):
                continue
            out.append(j)
            if len(out) > limit:
                break
        if after is not None and not seen:
            raise errors.InvalidInput("page: not a cursor that this listing returned (the dream is gone)")
        more = len(out) > limit
        out = out[:limit]
        nxt = ids.encode_cursor("dreams", "", out[-1].id) if more and out else None
        return {"data": [dream(c.m, j) for j in out], "next_page": nxt}

    @app.get(D + "/{dream_id}", response_model=None, tags=tags)
    def get_dream(request: Request, dream_id: str):
        c = ctx(request)
        j, _ = visible(c, dream_id)
        return dream(c.m, j)

    @app.post(D + "/{dream_id}/cancel", response_model=None, tags=tags)
    def cancel_dream(request: Request, dream_id: str):
        c = ctx(request)
        j, _ = visible(c, dream_id, write=True)
        if status_of(j) != j.status:
            raise _conflict(f"dream {j.id} is writing its result: it can no longer be canceled")
        if j.status in ("completed", "failed"):
            raise _conflict(f"dream {j.id} is {j.status}: only a pending or running dream can be canceled")
        with c.writing:
            if j.status == "pending":
                try:
                    c.m.update_dream_job(j.id, expect_status=("pending",), status="canceled", ended_at=time.time(),
                                         error={"type": "canceled", "message": "canceled before it started"})
                except errors.InvalidInput:
                    pass  # the worker just took it: ask it to stop instead
            c.m.cancel_dream_job(j.id)
        return dream(c.m, c.m.dream_job(j.id))

    @app.post(D + "/{dream_id}/archive", response_model=None, tags=tags)
    def archive_dream(request: Request, dream_id: str):
        c = ctx(request)
        j, _ = visible(c, dream_id, write=True)
        if status_of(j) in ("pending", "running"):
            raise _conflict(f"dream {j.id} is {status_of(j)}: cancel it or let it finish before archiving it")
        if not j.inputs.archived_at:
            with c.writing:
                j = c.m.update_dream_job(j.id, inputs=replace(j.inputs, archived_at=time.time()))
        return dream(c.m, j)

    @app.get(D + "/{dream_id}/diff", response_model=None, tags=tags)
    def dream_diff(request: Request, dream_id: str):
        c = ctx(request)
        j, _ = visible(c, dream_id)
        if status_of(j) != "completed" or j.proposal is None:
            raise _conflict(f"dream {j.id} is {status_of(j)}: only a completed dream has a proposal")
        return diff(c.m, j)

    @app.post(D + "/{dream_id}/apply", response_model=None, tags=tags)
    def dream_apply(request: Request, dream_id: str, body: Optional[DreamApply] = None):
        c = ctx(request)
        j, s = visible(c, dream_id, write=True)
        body = body or DreamApply()
        if status_of(j) != "completed":
            raise _conflict(f"dream {j.id} is {status_of(j)}: only a completed dream can be applied")
        if j.review == "rejected":
            raise _conflict(f"dream {j.id} was rejected")
        if s.archived:
            raise errors.ReadOnly(f"memory store {s.uid} is archived")
        paths = None
        if body.paths is not None:
            if not body.paths:
                raise errors.InvalidInput("paths: give at least one path, or leave paths out to apply everything")
            for p in body.paths:
                if not isinstance(p, str) or not p.startswith("/"):
                    raise errors.InvalidInput(f"paths: not a memory path: {p!r}")
            paths = body.paths
        try:
            with c.writing:
                rep = dreamjobs.apply_job(c.m, j.id, paths, merge=body.merge, dry_run=body.dry_run)
        except errors.NotFound as e:
            raise errors.InvalidInput(e.message) from None
        j = c.m.dream_job(j.id)
        return {"type": "dream_apply_result", "dream_id": j.id, "memory_store_id": s.uid, "dry_run": body.dry_run,
                "outcomes": [o.to_dict() for o in rep.outcomes],
                "applied": [o.path for o in rep.outcomes if o.status in ("applied", "merged")],
                "already": [o.path for o in rep.outcomes if o.status == "already"],
                "conflicts": [o.to_dict() for o in rep.conflicts],
                "dream": dream(c.m, j)}

    @app.post(D + "/{dream_id}/reject", response_model=None, tags=tags)
    def dream_reject(request: Request, dream_id: str):
        """memfs's extension: mark a proposal rejected (`memfs dream reject`); it can no longer be
        applied. An applied dream is reverted instead."""
        c = ctx(request)
        j, _ = visible(c, dream_id, write=True)
        if j.review in ("applied", "partially_applied"):
            raise _conflict(f"dream {j.id} was applied: revert it instead")
        with c.writing:
            j = dreamjobs.reject_job(c.m, j.id)
        return dream(c.m, j)

    @app.post(D + "/{dream_id}/revert", response_model=None, tags=tags)
    def dream_revert(request: Request, dream_id: str, body: Optional[DreamRevert] = None):
        """memfs's extension: undo what a dream applied, as new revisions (`memfs dream revert`);
        a file changed since is left alone and reported under `conflicts`."""
        c = ctx(request)
        j, s = visible(c, dream_id, write=True)
        body = body or DreamRevert()
        if not (j.applied or {}).get("files"):
            raise _conflict(f"dream {j.id} has nothing applied to revert")
        if s.archived:
            raise errors.ReadOnly(f"memory store {s.uid} is archived")
        with c.writing:
            rep = dreamjobs.revert_job(c.m, j.id, dry_run=body.dry_run)
        return {"type": "dream_revert_result", "dream_id": j.id, "memory_store_id": s.uid, "dry_run": body.dry_run,
                "outcomes": [o.to_dict() for o in rep.outcomes],
                "reverted": [o.path for o in rep.outcomes if o.status == "applied"],
                "conflicts": [o.to_dict() for o in rep.conflicts],
                "dream": dream(c.m, c.m.dream_job(j.id))}
