"""The per-store dream lock: one dream at a time per store.

Kept in the database through the store API. A lock records host, pid, user and time; it is
stale, and broken by the next taker, when its process is gone on the same host, or after
`MAX_AGE` seconds when it was taken on another host (whose processes this one cannot see)."""

from __future__ import annotations

import getpass
import os
import socket
import time
from contextlib import contextmanager

from .. import errors
from ..proc import pid_alive  # noqa: F401  (also used by the dream commands)

MAX_AGE = 24 * 3600


class LockHeld(errors.MemfsError):
    """Another live process is dreaming this store."""

    exit_code = 11
    error_type = "lock_held"
    http_status = 409


def is_stale(rec: dict, now: float | None = None) -> bool:
    if rec.get("host") == socket.gethostname():
        return not pid_alive(int(rec.get("pid") or 0)) if rec.get("pid") else True
    return (now or time.time()) - float(rec.get("acquired_at") or 0) > MAX_AGE


def describe(rec: dict, store_name: str) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rec["acquired_at"]))
    job = f", job {rec['job_id']}" if rec.get("job_id") else ""
    return f"{store_name} is being dreamed by pid {rec['pid']} on {rec['host']} since {when}{job}"


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


@contextmanager
def hold(m, store, job_id: str | None = None):
    """Hold the store's dream lock for the duration of the block; LockHeld if someone else has it."""
    host, pid = socket.gethostname(), os.getpid()
    holder = m.acquire_dream_lock(store, job_id, host=host, pid=pid, user=_user(), is_stale=is_stale)
    if holder is not None:
        raise LockHeld(describe(holder, store.name), holder=holder)
    try:
        yield
    finally:
        m.release_dream_lock(store, host=host, pid=pid)
