"""memfs dream: out-of-band consolidation of a store's memory from the sessions that touched it.

`jobs.run` selects sessions, snapshots the store at a base revision, runs an engine
(`engines/local.py`, `engines/claude.py`) and stores the proposal as a job; `jobs.apply_job`
commits it file by file with the base hash as precondition (`apply.py`); `render.py` shows it
as an annotated diff; `lock.py` keeps one dream per store at a time."""

from .jobs import apply_job, reject_job, revert_job, run, run_all, select_sessions
from .lock import LockHeld
from .proposal import Annotation, Change, Evidence, Proposal

__all__ = ["run", "run_all", "apply_job", "reject_job", "revert_job", "select_sessions", "LockHeld", "Proposal",
           "Change", "Annotation", "Evidence"]
