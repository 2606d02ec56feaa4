"""The store API: the only door to memfs's tables.

Every front end (mount, CLI, HTTP, dream) reads and writes through `Memfs`. It alone checks
names, limits, scopes and preconditions, and it alone appends revisions. Invariants:

- A blob is written once, keyed by the SHA-256 of its bytes, and never changed.
- Revisions are only appended; their ids are global and increase in commit order (writers are
  serialised), so `changes(after=cursor)` is a complete change feed.
- Blob, revision and node head are written in one transaction: a crash leaves either all three
  or none.
- A node (file, directory, symlink) keeps its id across renames; its id is its inode number.

Where things live: `memfs.py` composes `Memfs` from one mixin per concern (`stores.py`,
`tree.py`, `writes.py`, `history.py`, ...); `records.py` holds the dataclasses and constants.
"""

from .branches import SNAPSHOT_PREFIX, Branch, MergeConflicts, MergeReport
from . import records
from ..backends import sqlite_path
from .memfs import Memfs
from .records import (
    ACTORS,
    DEFAULT_MAX_CONTENT,
    DIR,
    DREAM_REVIEWS,
    DREAM_STATUSES,
    FILE,
    GONE_OPS,
    REVISION_OPS,
    SYMLINK,
    VERSION_OPS,
    ApiKey,
    Conflict,
    DoctorReport,
    DreamInputs,
    DreamJob,
    Entry,
    FileInfo,
    GrepMatch,
    Hook,
    HooksOutsideTransaction,
    Identity,
    Node,
    RedactReport,
    Revision,
    Session,
    Store,
    TranscriptInfo,
    WriteOptions,
    WriteResult,
    check_hash,
    default_identity,
    is_binary,
    sha256,
)
from .moving import MigrateReport, migrate_database
from .reads import ReadInfo
from .search import SEARCH_BATCH

# the internals store.py had at module level, for code written against it; not part of the public API
from .records import (  # noqa: F401
    _DREAM_JSON, _REV_FIELDS, _check_lease, _check_metadata, _hook_id, _like_prefix, _now_ns,
)
from .writes import _waits_for_leases  # noqa: F401


def __getattr__(name):
    # LEASE_SECONDS is read from the environment when asked for (see records.py)
    if name == "LEASE_SECONDS":
        return records.LEASE_SECONDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTORS", "DEFAULT_MAX_CONTENT", "DIR", "DREAM_REVIEWS", "DREAM_STATUSES", "FILE", "GONE_OPS",
    "LEASE_SECONDS", "REVISION_OPS", "SEARCH_BATCH", "SNAPSHOT_PREFIX", "SYMLINK", "VERSION_OPS", "ApiKey",
    "Branch", "Conflict", "DoctorReport", "DreamInputs", "DreamJob", "Entry", "FileInfo", "GrepMatch", "Hook",
    "HooksOutsideTransaction", "Identity", "Memfs", "MergeConflicts", "MergeReport", "MigrateReport",
    "Node", "ReadInfo", "RedactReport", "Revision", "Session", "Store", "TranscriptInfo", "WriteOptions", "WriteResult",
    "check_hash", "default_identity", "is_binary", "migrate_database", "sha256", "sqlite_path",
]
