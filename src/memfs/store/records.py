"""The records that cross the store's door (dataclasses), the constants that name kinds and
operations, and the small pure helpers (hashing, checks) every part of the store uses."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Optional

from .. import errors, paths, settings
from ..hooks import Hook  # noqa: F401  (part of the API)
from ..search import GrepMatch  # noqa: F401  (part of the API)

DEFAULT_MAX_CONTENT = 100 * 1024


def __getattr__(name):
    # LEASE_SECONDS: how long a write lease holds without being renewed or released
    # ($MEMFS_LEASE_SECONDS), read when asked for, so that a bad value is an error of the caller
    # and not of `import memfs`
    if name == "LEASE_SECONDS":
        return settings.get("MEMFS_LEASE_SECONDS")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FILE, DIR, SYMLINK = "file", "dir", "symlink"
ACTORS = ("agent", "operator", "api", "dream")
GONE_OPS = ("delete", "rmdir")
REVISION_OPS = ("create", "write", "delete", "rename", "mkdir", "rmdir", "symlink", "chmod")  # every op recorded


class HooksOutsideTransaction(RuntimeError):
    """A write whose hooks must run before any transaction was called inside one (the mount's
    group commit runs such a write again on its own)."""


def _check_lease(row, owner, what: str):
    if row["lease_owner"] and row["lease_owner"] != owner and (row["lease_until"] or 0) > time.time():
        raise errors.Leased(f"{what} is being written by another session right now; read it again and retry",
                            current_sha256=row["sha256"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_binary(data: bytes) -> bool:
    if b"\0" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@dataclass(frozen=True)
class Identity:
    """Who is writing: recorded on every revision."""

    agent: Optional[str] = None
    session: Optional[str] = None
    actor: str = "operator"
    dream_job: Optional[str] = None
    api_key_id: Optional[str] = None  # the HTTP API key a write came through (actor "api")

    def __post_init__(self):
        if self.actor not in ACTORS:
            raise errors.InvalidInput(f"actor must be one of {', '.join(ACTORS)}, not {self.actor!r}")


@dataclass(frozen=True)
class WriteOptions:
    """What a mount adds to a write (`write`, `append`, `delete`, `rename`, `mkdir`, `symlink`).

    - `node_id`: the id (from `reserve_node_ids`) a newly created node gets; a mount hands it to
      the kernel as the inode before the commit.
    - `mtime_ns`: a modification time a tool set before the commit (rsync, tar) to keep.
    - `lease_owner`: the write lease the caller holds (see `lease`); its commit releases it.
    - `wait`: wait (bounded) while another session's write lease holds the file; False raises
      `errors.Leased` at once.
    """

    node_id: Optional[int] = None
    mtime_ns: Optional[int] = None
    lease_owner: Optional[str] = None
    wait: bool = True


@dataclass
class Store:
    """A memory store: a named tree of files with its own history. `uid` (memstore_…) is the
    id the HTTP API shows; `id` is the database's."""

    id: int
    uid: str
    name: str
    description: str
    metadata: dict
    max_content_bytes: int
    root_node: int
    created_at: float
    updated_at: float
    archived_at: Optional[float]

    @property
    def slug(self) -> str:
        return paths.slug(self.name)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @classmethod
    def _from(cls, r):
        return cls(
            r["id"], r["uid"], r["name"], r["description"], json.loads(r["metadata"]),
            r["max_content_bytes"], r["root_node"], r["created_at"], r["updated_at"], r["archived_at"],
        )


@dataclass
class Node:
    """A live (or deleted) file, directory or symlink; its `id` is its inode number and survives
    renames. `head_rev` is its newest revision; `path` is None once it is deleted."""

    id: int
    store_id: int
    kind: str
    parent_id: Optional[int]
    name: str
    path: Optional[str]
    sha256: Optional[str]
    size: int
    mode: int
    mtime_ns: int
    ctime_ns: int
    head_rev: Optional[int]

    @property
    def is_dir(self):
        return self.kind == DIR

    @classmethod
    def _from(cls, r):
        return cls(
            r["id"], r["store_id"], r["kind"], r["parent_id"], r["name"], r["path"], r["sha256"],
            r["size"], r["mode"], r["mtime_ns"], r["ctime_ns"], r["head_rev"],
        )


@dataclass
class Revision:
    """One change, appended for good: what (`op` on `path`, the content's `sha256`), who (`agent`,
    `session`, `actor`, `dream_job`, `api_key_id`), when (`created_at`) and why (`message`).
    `base_rev` is the node's revision it replaced; a redacted revision has lost its content."""

    id: int
    store_id: int
    node_id: int
    op: str
    kind: str
    parent_id: Optional[int]
    name: str
    path: str
    old_path: Optional[str]
    sha256: Optional[str]
    prev_sha256: Optional[str]
    size: int
    mode: int
    base_rev: Optional[int]
    created_at: float
    agent: Optional[str]
    session: Optional[str]
    actor: str
    dream_job: Optional[str]
    message: Optional[str]
    redacted_at: Optional[float] = None
    redacted_by: Optional[str] = None
    store_name: Optional[str] = None
    api_key_id: Optional[str] = None
    origin: Optional[str] = None  # replicated or imported: "SOURCE_DATABASE_ID:REVISION"
    merged_from: Optional[int] = None  # a merge's: the branch revision it brought in
    merged_from_store: Optional[str] = None  # ... and that branch's name (STORE@NAME)

    @classmethod
    def _from(cls, r):
        keys = r.keys()
        return cls(**{f: r[f] for f in _REV_FIELDS if f in keys})

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in _REV_FIELDS}


_REV_FIELDS = [f for f in Revision.__dataclass_fields__]
# the columns a Revision is read from (revisions r joined to stores s): the row, its store's name,
# and for a merge's revision the branch it came from
REV_COLUMNS = ("r.*, s.name AS store_name, CASE WHEN r.merged_from IS NULL THEN NULL ELSE (SELECT ms.name FROM"
               " revisions mr JOIN stores ms ON ms.id = mr.store_id WHERE mr.id = r.merged_from) END AS merged_from_store")


@dataclass
class WriteResult:
    """What a write did: the file's Node now and the Revision it appended (None: a no-op)."""

    node: Node
    revision: Optional[Revision]  # None: the content was already there (a no-op)
    redacted: bool = False  # a write hook replaced the content: what is stored is not what was given

    @property
    def changed(self) -> bool:
        return self.revision is not None


@dataclass
class Entry:
    """One entry of a tree at some revision (current or past)."""

    node_id: int
    kind: str
    path: str
    sha256: Optional[str]
    size: int
    mode: int
    rev: int


@dataclass
class Session:
    """A client that held stores: a mount, a server, an MCP connection; `ended_at` is None while
    it is open."""

    id: int
    session_id: str
    agent: Optional[str]
    actor: str
    kind: str
    host: Optional[str]
    pid: Optional[int]
    stores: dict
    mountpoint: Optional[str]
    log_path: Optional[str]
    started_at: float
    ended_at: Optional[float]

    @classmethod
    def _from(cls, r):
        d = dict(r)
        d["stores"] = json.loads(d["stores"])
        return cls(**d)


@dataclass
class Conflict:
    """A refused write kept to be read back: the content (`sha256`), what the writer started from
    (`base_sha256`) and what was stored then (`current_sha256`, `current_rev`)."""

    id: int
    store_id: int
    path: str
    node_id: Optional[int]
    session: Optional[str]
    agent: Optional[str]
    created_at: float
    base_sha256: Optional[str]
    current_sha256: Optional[str]
    current_rev: Optional[int]
    sha256: Optional[str]
    reason: str
    size: int = 0  # of the refused content (0 when none was kept)
    hook_id: Optional[int] = None  # the write hook that refused it: then no content is kept

    @property
    def refused_by_hook(self) -> bool:
        # rows from before m008 name their hook only in the reason
        return self.hook_id is not None or self.reason.startswith("refused by write hook")

    @classmethod
    def _from(cls, r):
        return cls(**dict(r))


@dataclass
class DoctorReport:
    """What `doctor` checked (`checked`: counts) and found (`problems`: dicts with type and message)."""

    checked: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    fixed: list = field(default_factory=list)  # what `memfs doctor --fix` repaired first (dicts with type)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self):
        return {"ok": self.ok, "num_errors": len(self.problems), "checked": self.checked,
                "problems": self.problems, "fixed": self.fixed}


# Revisions that the HTTP API shows as memory versions (of files; not mkdir, chmod, symlink, ...)
VERSION_OPS = ("create", "write", "rename", "delete")


@dataclass
class FileInfo:
    """A live file as the HTTP API shows a memory: `version` is the last revision that created,
    changed or renamed it; `updated_at` is that revision's time."""

    node_id: int
    store_id: int
    path: str
    sha256: str
    size: int
    created_at: float
    updated_at: float
    version: int


@dataclass
class ApiKey:
    """A key of the HTTP API. `scopes` maps store uids to 'ro' or 'rw'; `all_stores` ('ro',
    'rw' or None) grants every store, present and future. Only the secret's SHA-256 is kept."""

    id: str
    name: str
    scopes: dict
    all_stores: Optional[str]
    created_at: float
    created_by: Optional[str]
    revoked_at: Optional[float]

    def access(self, store: "Store") -> Optional[str]:
        """'rw', 'ro' or None (the store is outside this key's scope)."""
        if self.revoked_at is not None:
            return None
        mode = self.scopes.get(store.uid)
        if self.all_stores == "rw" or mode == "rw":
            return "rw"
        return mode or self.all_stores

    @classmethod
    def _from(cls, r):
        return cls(r["id"], r["name"], json.loads(r["scopes"]), r["all_stores"], r["created_at"], r["created_by"],
                   r["revoked_at"])


@dataclass
class RedactReport:
    redacted: list = field(default_factory=list)  # revision ids blanked now
    current: list = field(default_factory=list)  # matching revisions left alone: a live file shows them
    blobs_removed: int = 0
    conflicts_blanked: int = 0
    stores: list = field(default_factory=list)  # the names searched: the store, then its branches


@dataclass
class TranscriptInfo:
    """A registered transcript file: what it is, which session it records, what it held."""

    id: int
    path: str
    format: str
    session_id: str
    agent: Optional[str]
    stores: list
    size: int
    mtime: Optional[float]
    started_at: Optional[float]
    ended_at: Optional[float]
    stats: dict
    added_at: float
    updated_at: float

    @classmethod
    def _from(cls, r):
        d = dict(r)
        d["stores"], d["stats"] = json.loads(d["stores"]), json.loads(d["stats"])
        return cls(**d)


DREAM_STATUSES = ("pending", "running", "completed", "failed", "canceled")
DREAM_REVIEWS = ("proposed", "applied", "partially_applied", "rejected", "reverted")
_DREAM_JSON = ("inputs", "output", "proposal", "usage", "error", "applied")


@dataclass
class DreamInputs:
    """What a dream job reads: one vocabulary for every front end (CLI, HTTP, library).

    - `memory_store`: the store's name when the job was made.
    - `sessions`: the session ids dreamed: those asked for, or (when `since` is set) those found
      active in the store since then. None until known (a job made by the API, not yet run).
    - `since`: set when the sessions were chosen by time (the window's start, epoch seconds);
      None when they were named.
    - `transcripts`: the transcript files read. `budget_tokens`: the engine's token budget.
    - `model`: the model object the HTTP API was given ({id, speed}); `api`: made through
      `POST /v1/dreams`; `archived_at`: archived through the API; `explain`: the sessions and
      transcripts the run read and those it left out, with the reason (memfs/dream/explain.py).

    Rows written before migration m011 named `sessions` `session_ids` and `since` `time_window`
    (the HTTP API's words); m011 rewrote them, and `from_dict` still reads them."""

    memory_store: Optional[str] = None
    sessions: Optional[list] = None
    since: Optional[float] = None
    transcripts: list = field(default_factory=list)
    budget_tokens: Optional[int] = None
    model: Optional[dict] = None
    api: bool = False
    archived_at: Optional[float] = None
    explain: Optional[dict] = None  # what the run read and left out, and why (dream/explain.py)

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "DreamInputs":
        d = dict(d or {})
        if d.get("sessions") is None and "session_ids" in d:
            d["sessions"] = d["session_ids"]
        if d.get("since") is None and "time_window" in d:
            d["since"] = d["time_window"]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known and v is not None})

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class DreamJob:
    """A dream job: inputs, life-cycle status, base revision, the proposal (structured data),
    usage, timings, errors, and what of it was applied (`review`, `applied`)."""

    id: str
    store_id: int
    status: str
    engine: str
    model: Optional[str]
    instructions: Optional[str]
    inputs: DreamInputs
    output: dict
    base_rev: Optional[int]
    proposal: Optional[dict]
    usage: dict
    error: Optional[dict]
    review: str
    applied: dict
    host: Optional[str]
    pid: Optional[int]
    created_at: float
    started_at: Optional[float]
    ended_at: Optional[float]
    applied_at: Optional[float]
    cancel_requested_at: Optional[float]
    store_name: Optional[str] = None

    @classmethod
    def _from(cls, r):
        d = dict(r)
        for k in _DREAM_JSON:
            d[k] = json.loads(d[k]) if d.get(k) is not None else None
        d["inputs"] = DreamInputs.from_dict(d["inputs"])
        return cls(**d)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["inputs"] = self.inputs.to_dict()
        return d


def _now_ns() -> int:
    return time.time_ns()


def default_identity(agent: Optional[str] = None, session: Optional[str] = None) -> Identity:
    """Who a caller is when it says nothing else: THE identity rule (docs/identity.md).

    :param agent: an agent id (the CLI's --agent); default $MEMFS_AGENT
    :param session: a session id (the CLI's --session); default $MEMFS_SESSION

    An agent id, given or in $MEMFS_AGENT, is recorded as that agent with actor "agent"; without
    one the writer is a person: actor "operator", agent their login name. `Memfs(db)` without an
    `identity`, the CLI, and every library caller follow this. Front ends that know better
    record what they know: a mount and MCP always write as actor "agent", the HTTP API as "api"
    (the key's name as agent), a dream as "dream" (agent "memfs-dream", session = the job)."""
    agent = agent or os.environ.get("MEMFS_AGENT")
    session = session or os.environ.get("MEMFS_SESSION")
    if agent:
        return Identity(agent=agent, session=session, actor="agent")
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        who = "operator"
    return Identity(agent=who, session=session, actor="operator")



def check_hash(h) -> str:
    if not isinstance(h, str) or len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
        raise errors.InvalidInput(f"not a SHA-256 hex digest: {h!r}")
    return h.lower()


def _like_prefix(path: str) -> str:
    esc = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return ("" if esc == "/" else esc) + "/%"


def _check_metadata(md: dict) -> dict:
    if not isinstance(md, dict):
        raise errors.InvalidInput("metadata must be an object")
    if len(md) > 16:
        raise errors.InvalidInput("metadata has more than 16 keys")
    for k, v in md.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 64:
            raise errors.InvalidInput(f"metadata key {k!r} must be 1-64 characters")
        if not isinstance(v, str) or len(v) > 512:
            raise errors.InvalidInput(f"metadata value for {k!r} must be a string of at most 512 characters")
    return md


def _hook_id(hook_id) -> int:
    try:
        return int(str(hook_id).removeprefix("hook_"))
    except ValueError:
        raise errors.InvalidInput(f"a hook id is a number, not {hook_id!r}") from None
