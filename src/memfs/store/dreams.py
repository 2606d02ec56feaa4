"""Dream jobs (`memfs dream`): the jobs, the per-store lock, the log of every model call."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from typing import Iterable, Optional

from .. import errors
from .records import _DREAM_JSON, DREAM_REVIEWS, DREAM_STATUSES, DreamInputs, DreamJob


def _inputs(inputs) -> dict:
    """A job's inputs as stored: a DreamInputs (or a dict of its fields) in its one vocabulary."""
    if inputs is None:
        return DreamInputs().to_dict()
    if isinstance(inputs, dict):
        inputs = DreamInputs.from_dict(inputs)
    if not isinstance(inputs, DreamInputs):
        raise errors.InvalidInput("a dream job's inputs are a DreamInputs")
    return inputs.to_dict()


class DreamsMixin:
    """Dream jobs, the per-store dream lock, the model call log."""

    def create_dream_job(self, ref, *, engine: str, model: Optional[str] = None, instructions: Optional[str] = None,
                         inputs: Optional[DreamInputs] = None, output: Optional[dict] = None) -> DreamJob:
        """Record a new (pending) dream job; memfs/dream/jobs.py runs it.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param engine: the engine's name (local, claude)
        :param model: the model it will use
        :param instructions: up to 4,096 characters for the engine
        :param inputs: what it reads (DreamInputs, or a dict of its fields)
        :param output: what it makes ({"type": "propose" | "update_existing" | "create_new", ...})
        :returns: the DreamJob

        Raises InvalidInput, StoreNotFound."""
        store = self._store(ref)
        if instructions is not None and len(instructions) > 4096:
            raise errors.InvalidInput("instructions are longer than 4,096 characters")
        jid = "drm_" + secrets.token_hex(10)
        with self.db.write() as tx:
            tx.run("INSERT INTO dream_jobs (id, store_id, status, engine, model, instructions, inputs, output, host, pid,"
                   " created_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                   (jid, store.id, engine, model, instructions, json.dumps(_inputs(inputs)), json.dumps(output or {}),
                    socket.gethostname(), os.getpid(), time.time()))
        return self.dream_job(jid)

    def dream_job(self, job_id: str) -> DreamJob:
        """One dream job by id.

        :param job_id: its id (drm_…)
        :returns: the DreamJob

        Raises NotFound."""
        r = self.db.one("SELECT j.*, s.name AS store_name FROM dream_jobs j LEFT JOIN stores s ON s.id = j.store_id"
                        " WHERE j.id = ?", (job_id,))
        if r is None:
            raise errors.NotFound(f"no such dream job: {job_id!r} (see `memfs dream ls`)")
        return DreamJob._from(r)

    def dream_jobs(self, ref=None, *, status: Optional[str] = None, limit: Optional[int] = None) -> list[DreamJob]:
        """Dream jobs, newest first.

        :param ref: the store: its name, its uid (memstore_…) or a Store (optional): only this store's
        :param status: only in this status
        :param limit: at most this many
        :returns: a list of DreamJob

        Raises StoreNotFound."""
        where, params = [], []
        if ref is not None:
            where.append("j.store_id = ?"), params.append(self._store(ref).id)
        if status is not None:
            where.append("j.status = ?"), params.append(status)
        sql = ("SELECT j.*, s.name AS store_name FROM dream_jobs j LEFT JOIN stores s ON s.id = j.store_id"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.created_at DESC, j.id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [DreamJob._from(r) for r in self.db.all(sql, params)]

    def update_dream_job(self, job_id: str, *, expect_status: Optional[Iterable[str]] = None, **fields) -> DreamJob:
        """Set fields of a job: status, base_rev, proposal, usage, error, review, applied,
        started_at, ended_at, applied_at, output, inputs (a DreamInputs) and model; JSON fields as
        Python values.

        :param job_id: the job
        :param expect_status: only if the job is in one of these states
        :param fields: the fields to set
        :returns: the DreamJob as updated

        Raises NotFound, InvalidInput (an unknown field or value, or the job is not in
        `expect_status`)."""
        allowed = {"status", "base_rev", "proposal", "usage", "error", "review", "applied", "started_at", "ended_at",
                   "applied_at", "output", "inputs", "model"}
        bad = set(fields) - allowed
        if bad:
            raise errors.InvalidInput(f"cannot set {', '.join(sorted(bad))} on a dream job")
        if "status" in fields and fields["status"] not in DREAM_STATUSES:
            raise errors.InvalidInput(f"status must be one of {', '.join(DREAM_STATUSES)}")
        if "review" in fields and fields["review"] not in DREAM_REVIEWS:
            raise errors.InvalidInput(f"review must be one of {', '.join(DREAM_REVIEWS)}")
        if "inputs" in fields:
            fields["inputs"] = _inputs(fields["inputs"])
        vals = {k: (json.dumps(v, sort_keys=True) if k in _DREAM_JSON and v is not None else v) for k, v in fields.items()}
        with self.db.write() as tx:
            cur = tx.one("SELECT status FROM dream_jobs WHERE id = ?", (job_id,))
            if cur is None:
                raise errors.NotFound(f"no such dream job: {job_id!r}")
            if expect_status is not None and cur["status"] not in set(expect_status):
                raise errors.InvalidInput(f"dream job {job_id} is {cur['status']}")
            if vals:
                tx.run(f"UPDATE dream_jobs SET {', '.join(f'{k} = ?' for k in vals)} WHERE id = ?",
                       (*vals.values(), job_id))
        return self.dream_job(job_id)

    def cancel_dream_job(self, job_id: str) -> DreamJob:
        """Ask a pending or running job to stop (its runner checks between steps). A finished job is
        left alone.

        :param job_id: the job
        :returns: the DreamJob

        Raises NotFound."""
        with self.db.write() as tx:
            cur = tx.one("SELECT status FROM dream_jobs WHERE id = ?", (job_id,))
            if cur is None:
                raise errors.NotFound(f"no such dream job: {job_id!r}")
            if cur["status"] in ("pending", "running"):
                tx.run("UPDATE dream_jobs SET cancel_requested_at = COALESCE(cancel_requested_at, ?) WHERE id = ?",
                       (time.time(), job_id))
        return self.dream_job(job_id)

    def acquire_dream_lock(self, ref, job_id: Optional[str], *, host: str, pid: int, user: Optional[str] = None,
                           is_stale=None) -> Optional[dict]:
        """Take the store's dream lock (one dream at a time per store).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param job_id: the job that takes it
        :param host: this host's name
        :param pid: this process's id
        :param user: who runs it
        :param is_stale: `is_stale(record)` says whether an existing lock may be broken (its process
            is gone)
        :returns: None when taken; else the live holder's record (host, pid, user, acquired_at)

        Raises StoreNotFound."""
        store = self._store(ref)
        with self.db.write() as tx:
            cur = tx.one("SELECT * FROM dream_locks WHERE store_id = ?", (store.id,))
            if cur is not None:
                rec = dict(cur)
                if not (is_stale and is_stale(rec)):
                    return rec
                tx.run("DELETE FROM dream_locks WHERE store_id = ?", (store.id,))
            tx.run("INSERT INTO dream_locks (store_id, job_id, host, pid, \"user\", acquired_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (store.id, job_id, host, pid, user, time.time()))
        return None

    def release_dream_lock(self, ref, *, host: str, pid: int) -> bool:
        """Release the store's dream lock if this host and process hold it.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param host: the holder's host
        :param pid: the holder's process id
        :returns: whether a lock was released

        Raises StoreNotFound."""
        store = self._store(ref)
        with self.db.write() as tx:
            return tx.run("DELETE FROM dream_locks WHERE store_id = ? AND host = ? AND pid = ?",
                          (store.id, host, pid)) > 0

    def dream_lock(self, ref) -> Optional[dict]:
        """The store's dream lock record, or None when free.

        :param ref: the store: its name, its uid (memstore_…) or a Store

        Raises StoreNotFound."""
        store = self._store(ref)
        r = self.db.one("SELECT * FROM dream_locks WHERE store_id = ?", (store.id,))
        return dict(r) if r else None

    def log_dream_call(self, job_id: str, *, phase: str, model: Optional[str], request: dict,
                       response: Optional[dict], usage: Optional[dict] = None, duration: float = 0.0,
                       error: Optional[str] = None) -> int:
        """Log one model call of a dream: prompt, response, model, tokens, duration.

        :param job_id: the job
        :param phase: which step made it
        :param model: the model
        :param request: what was sent
        :param response: what came back (None: nothing)
        :param usage: token counts (input_tokens, output_tokens, cache_*)
        :param duration: seconds
        :param error: the error, when it failed
        :returns: the log row's id"""
        u = usage or {}
        with self.db.write() as tx:
            return tx.run("INSERT INTO dream_calls (job_id, phase, model, request, response, input_tokens, output_tokens,"
                          " cache_creation_input_tokens, cache_read_input_tokens, duration, error, created_at)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (job_id, phase, model, json.dumps(request, default=str),
                           json.dumps(response, default=str) if response is not None else None,
                           u.get("input_tokens") or 0, u.get("output_tokens") or 0,
                           u.get("cache_creation_input_tokens") or 0, u.get("cache_read_input_tokens") or 0,
                           duration, error, time.time()))

    def dream_calls(self, job_id: str) -> list[dict]:
        """The model calls a job made, in order, as dicts (request and response as JSON text).

        :param job_id: the job"""
        rows = self.db.all("SELECT * FROM dream_calls WHERE job_id = ? ORDER BY id", (job_id,))
        return [dict(r) for r in rows]
