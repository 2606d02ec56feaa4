"""The store API: the only door to memfs's tables.

Every front end (mount, CLI, HTTP, dream) reads and writes through `Memfs`. It alone checks
names, limits, scopes and preconditions, and it alone appends revisions. Invariants:

- A blob is written once, keyed by the SHA-256 of its bytes, and never changed.
- Revisions are only appended; their ids are global and increase in commit order (writers are
  serialised), so `changes(after=cursor)` is a complete change feed.
- Blob, revision and node head are written in one transaction: a crash leaves either all three
  or none.
- A node (file, directory, symlink) keeps its id across renames; its id is its inode number.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import secrets
import socket
import time
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Iterable, Optional

from . import errors, paths, settings
from . import hooks as _hooks
from .backends import open_backend
from .hooks import Hook  # noqa: F401  (part of the API)
from .reads_store import ReadsMixin
from .stats_store import StatsMixin
from .search import GrepMatch  # noqa: F401  (part of the API)

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
SEARCH_BATCH = 2000  # revisions indexed per transaction when the search index catches up


def _waits_for_leases(method):
    """A write from a caller that holds no lease waits (bounded) while another session's write
    lease on the file runs out or is released; a lease holder, or a write inside a larger
    transaction, gets `errors.Leased` at once."""

    @functools.wraps(method)
    def wrapper(self, *args, **kw):
        deadline = time.monotonic() + settings.get("MEMFS_LEASE_SECONDS") + 1
        delay = 0.002
        while True:
            try:
                return method(self, *args, **kw)
            except _Rehook:  # identical content when the hooks were skipped, changed since: again
                continue
            except errors.Leased:
                if kw.get("lease_owner") is not None or self.db.in_transaction or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    return wrapper


class HooksOutsideTransaction(RuntimeError):
    """A write whose hooks must run before any transaction was called inside one (the mount's
    group commit runs such a write again on its own)."""


class _Rehook(Exception):
    """A write skipped its hooks as a no-op, but the file changed before its transaction."""


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


@dataclass
class Store:
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

    @classmethod
    def _from(cls, r):
        keys = r.keys()
        return cls(**{f: r[f] for f in _REV_FIELDS if f in keys})

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in _REV_FIELDS}


_REV_FIELDS = [f for f in Revision.__dataclass_fields__]


@dataclass
class WriteResult:
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
    checked: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self):
        return {"ok": self.ok, "num_errors": len(self.problems), "checked": self.checked,
                "problems": self.problems}


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
class DreamJob:
    """A dream job: inputs, life-cycle status, base revision, the proposal (structured data),
    usage, timings, errors, and what of it was applied (`review`, `applied`)."""

    id: str
    store_id: int
    status: str
    engine: str
    model: Optional[str]
    instructions: Optional[str]
    inputs: dict
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
        return cls(**d)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _now_ns() -> int:
    return time.time_ns()


def default_identity() -> Identity:
    return Identity(
        agent=os.environ.get("MEMFS_AGENT") or os.environ.get("USER") or "operator",
        session=os.environ.get("MEMFS_SESSION"),
        actor="operator",
    )


from .branches_store import BranchesMixin  # noqa: E402  (it uses the names above)


class Memfs(BranchesMixin, ReadsMixin, StatsMixin):
    """A memfs database. Not shared between threads: open one per thread or process."""

    def __init__(self, db: str, *, identity: Optional[Identity] = None, **backend_options):
        self.db = open_backend(str(db), **backend_options)
        self.identity = identity or default_identity()
        # stores whose last write transaction found no write hook: their next write skips the
        # hook query before the transaction (the transaction checks again, see write)
        self._hookless: set[int] = set()

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ stores

    def create_store(self, name: str, description: str = "", metadata: Optional[dict] = None,
                     max_content_bytes: int = DEFAULT_MAX_CONTENT, identity: Optional[Identity] = None) -> Store:
        name = paths.check_store_name(name)
        description = description or ""
        if len(description) > 1024:
            raise errors.InvalidInput("description is longer than 1,024 characters")
        metadata = _check_metadata(metadata or {})
        if not isinstance(max_content_bytes, int) or max_content_bytes < 1:
            raise errors.InvalidInput("max_content_bytes must be a positive integer")
        ident = identity or self.identity
        now = time.time()
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM stores WHERE name = ?", (name,)):
                raise errors.AlreadyExists(f"a store named {name!r} already exists")
            uid = "memstore_" + secrets.token_hex(12)
            sid = tx.run(
                "INSERT INTO stores (uid, name, description, metadata, max_content_bytes, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (uid, name, description, json.dumps(metadata), max_content_bytes, now, now),
            )
            ns = _now_ns()
            root = tx.run(
                "INSERT INTO nodes (id, store_id, kind, parent_id, name, path, size, mode, mtime_ns, ctime_ns, created_at)"
                " VALUES (?, ?, 'dir', NULL, '', '/', 0, ?, ?, ?, ?)",
                (self._alloc_node(tx), sid, 0o755, ns, ns, now),
            )
            rev = self._append(tx, sid, root, "mkdir", DIR, None, "", "/", None, None, None, 0, 0o755, None, ident, None, now)
            tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (rev, root))
            tx.run("UPDATE stores SET root_node = ? WHERE id = ?", (root, sid))
            return Store._from(tx.one("SELECT * FROM stores WHERE id = ?", (sid,)))

    def list_stores(self, include_archived: bool = True, include_branches: bool = False) -> list[Store]:
        with self.db.read() as tx:
            rows = tx.all("SELECT * FROM stores" + ("" if include_branches else " WHERE parent_id IS NULL")
                          + " ORDER BY name")
        out = [Store._from(r) for r in rows]
        return out if include_archived else [s for s in out if not s.archived]

    def get_store(self, ref) -> Store:
        """A store by name, uid (memstore_…) or Store object (re-read)."""
        if isinstance(ref, Store):
            ref = ref.id
        with self.db.read() as tx:
            if isinstance(ref, int):
                r = tx.one("SELECT * FROM stores WHERE id = ?", (ref,))
            else:
                # names are stored NFC and trimmed (check_store_name): look them up the same way
                name = unicodedata.normalize("NFC", ref).strip() if isinstance(ref, str) else ref
                r = tx.one("SELECT * FROM stores WHERE uid = ? OR name = ?", (ref, name))
        if r is None:
            raise errors.StoreNotFound(f"no such store: {ref!r}")
        return Store._from(r)

    def update_store(self, ref, *, name: Optional[str] = None, description: Optional[str] = None,
                     metadata: Optional[dict] = None, max_content_bytes: Optional[int] = None) -> Store:
        """Rename or describe a store. `metadata` has patch semantics: a None value deletes a key."""
        store = self.get_store(ref)
        if store.archived:
            raise errors.ReadOnly(f"store {store.name!r} is archived and read-only")
        sets, params = [], []
        if name is not None:
            name = paths.check_store_name(name)
            sets.append("name = ?"), params.append(name)
        if description is not None:
            if len(description) > 1024:
                raise errors.InvalidInput("description is longer than 1,024 characters")
            sets.append("description = ?"), params.append(description)
        if metadata is not None:
            merged = dict(store.metadata)
            for k, v in metadata.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            sets.append("metadata = ?"), params.append(json.dumps(_check_metadata(merged)))
        if max_content_bytes is not None:
            if not isinstance(max_content_bytes, int) or max_content_bytes < 1:
                raise errors.InvalidInput("max_content_bytes must be a positive integer")
            sets.append("max_content_bytes = ?"), params.append(max_content_bytes)
        if not sets:
            return store
        with self.db.write() as tx:
            if name is not None and tx.one("SELECT 1 FROM stores WHERE name = ? AND id != ?", (name, store.id)):
                raise errors.AlreadyExists(f"a store named {name!r} already exists")
            tx.run(f"UPDATE stores SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                   (*params, time.time(), store.id))
        return self.get_store(store.id)

    def archive_store(self, ref) -> Store:
        """Permanent: an archived store is read-only from then on."""
        store = self.get_store(ref)
        if not store.archived:
            with self.db.write() as tx:
                now = time.time()
                tx.run("UPDATE stores SET archived_at = ?, updated_at = ? WHERE id = ?", (now, now, store.id))
        return self.get_store(store.id)

    def delete_store(self, ref) -> Store:
        """Delete a store with its whole history. Blobs no other store uses are removed."""
        store = self.get_store(ref)
        with self.db.write() as tx:
            # its branches go with it (they cannot merge anywhere any more)
            ids = [store.id] + [r[0] for r in tx.all("SELECT id FROM stores WHERE parent_id = ?", (store.id,))]
            for sid in ids:
                for table in ("revisions", "nodes", "conflicts", "hooks"):
                    tx.run(f"DELETE FROM {table} WHERE store_id = ?", (sid,))
                tx.run("DELETE FROM stores WHERE id = ?", (sid,))
            self._drop_orphan_blobs(tx)
        return store

    def _drop_orphan_blobs(self, tx):
        tx.run(
            "DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM revisions WHERE sha256 IS NOT NULL)"
            " AND sha256 NOT IN (SELECT sha256 FROM conflicts WHERE sha256 IS NOT NULL)"
        )

    # ------------------------------------------------------------------ reading the head

    def node(self, node_id: int) -> Optional[Node]:
        """A live node by id (its inode number), or None."""
        r = self.db.one("SELECT * FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
        return Node._from(r) if r else None

    def lookup(self, ref, path: str) -> Optional[Node]:
        store = self._store(ref)
        path = paths.normalize(path)
        r = self.db.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
        return Node._from(r) if r else None

    def child(self, parent_id: int, name: str) -> Optional[Node]:
        r = self.db.one("SELECT * FROM nodes WHERE parent_id = ? AND name = ? AND path IS NOT NULL",
                        (parent_id, name))
        return Node._from(r) if r else None

    def children(self, parent_id: int) -> list[Node]:
        rows = self.db.all("SELECT * FROM nodes WHERE parent_id = ? AND path IS NOT NULL ORDER BY name",
                           (parent_id,))
        return [Node._from(r) for r in rows]

    def blob(self, sha: Optional[str]) -> bytes:
        if sha is None:
            return b""
        r = self.db.one("SELECT content FROM blobs WHERE sha256 = ?", (sha,))
        if r is None:
            raise errors.MemfsError(f"blob {sha} is missing from the database (run `memfs doctor`)")
        return bytes(r[0])

    def stat(self, ref, path: str, rev: Optional[int] = None, at: Optional[float] = None) -> Entry:
        store = self._store(ref)
        path = paths.normalize(path)
        rev = self._rev_for(store, rev, at)
        if rev is None:
            n = self.lookup(store, path)
            if n is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no such file or directory")
            return Entry(n.id, n.kind, n.path, n.sha256, n.size, n.mode, n.head_rev)
        with self.db.read() as tx:
            r = self._resolve_at(tx, store, path, rev)
        if r is None:
            raise errors.PathNotFound(f"{store.name}:{path}: no such file or directory at revision {rev}")
        return Entry(r["node_id"], r["kind"], path, r["sha256"], r["size"], r["mode"], r["id"])

    def read(self, ref, path: str, rev: Optional[int] = None, at: Optional[float] = None) -> bytes:
        """Content of a file (or a symlink's target) now, at a revision, or at a time."""
        e = self.stat(ref, path, rev, at)
        if e.kind == DIR:
            raise errors.IsADirectory(f"{path} is a directory")
        return self.blob(e.sha256)

    def listdir(self, ref, path: str = "/", rev: Optional[int] = None, at: Optional[float] = None) -> list[Entry]:
        store = self._store(ref)
        path = paths.normalize(path)
        rev = self._rev_for(store, rev, at)
        if rev is None:
            d = self.lookup(store, path)
            if d is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no such directory")
            if d.kind != DIR:
                raise errors.NotADirectory(f"{store.name}:{path} is not a directory")
            return [Entry(n.id, n.kind, n.path, n.sha256, n.size, n.mode, n.head_rev) for n in self.children(d.id)]
        tree = self.tree(store, rev)
        if path not in tree:
            raise errors.PathNotFound(f"{store.name}:{path}: no such directory at revision {rev}")
        if tree[path].kind != DIR:
            raise errors.NotADirectory(f"{store.name}:{path} is not a directory")
        prefix = paths.join(path, "")
        return [e for p, e in sorted(tree.items()) if p.startswith(prefix) and "/" not in p[len(prefix):] and p != path]

    def walk(self, ref, path: str = "/") -> list[Entry]:
        """Every live entry at or under `path`, in path order."""
        store = self._store(ref)
        path = paths.normalize(path)
        like = _like_prefix(path)
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT * FROM nodes WHERE store_id = ? AND (path = ? OR path LIKE ? ESCAPE '\\') ORDER BY path",
                (store.id, path, like),
            )
        return [Entry(r["id"], r["kind"], r["path"], r["sha256"], r["size"], r["mode"], r["head_rev"]) for r in rows]

    def tree(self, ref, rev: Optional[int] = None) -> dict[str, Entry]:
        """The whole tree of a store at a revision (default: now), path -> Entry."""
        store = self._store(ref)
        if rev is None:
            return {e.path: e for e in self.walk(store, "/")}
        with self.db.read() as tx:
            rows = tx.all(
                "SELECT r.* FROM revisions r JOIN (SELECT node_id, MAX(id) AS m FROM revisions"
                " WHERE store_id = ? AND id <= ? GROUP BY node_id) x ON r.id = x.m",
                (store.id, rev),
            )
        live = {r["node_id"]: r for r in rows if r["op"] not in GONE_OPS}
        out: dict[str, Entry] = {}
        cache: dict[int, Optional[str]] = {}

        def path_of(nid):
            if nid in cache:
                return cache[nid]
            r = live.get(nid)
            if r is None:
                p = None
            elif r["parent_id"] is None:
                p = "/"
            else:
                pp = path_of(r["parent_id"])
                p = None if pp is None else paths.join(pp, r["name"])
            cache[nid] = p
            return p

        for nid, r in live.items():
            p = path_of(nid)
            if p is not None:
                out[p] = Entry(nid, r["kind"], p, r["sha256"], r["size"], r["mode"], r["id"])
        return out

    def head(self) -> int:
        """The newest revision id in the database (0 when empty)."""
        with self.db.read() as tx:
            return tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")

    def store_head(self, ref) -> int:
        store = self._store(ref)
        with self.db.read() as tx:
            return tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions WHERE store_id = ?", (store.id,))

    def usage(self, ref) -> dict:
        store = self._store(ref)
        with self.db.read() as tx:
            r = tx.one("SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM nodes"
                       " WHERE store_id = ? AND path IS NOT NULL AND kind = 'file'", (store.id,))
            revs = tx.scalar("SELECT COUNT(*) FROM revisions WHERE store_id = ?", (store.id,))
        return {"files": r["files"], "bytes": r["bytes"], "revisions": revs}

    # ------------------------------------------------------------------ writing

    @_waits_for_leases
    def write(self, ref, path: str, content: bytes, *, if_match: Optional[str] = None,
              if_absent: bool = False, mode: Optional[int] = None, message: Optional[str] = None,
              parents: bool = True, identity: Optional[Identity] = None, node_id: Optional[int] = None,
              mtime_ns: Optional[int] = None, lease_owner: Optional[str] = None, hooks: bool = True) -> WriteResult:
        """Create or replace a file. `if_match` (a content hash) or `if_absent` make it conditional:
        a mismatch raises PreconditionFailed carrying the stored hash. Writing the content that is
        already there succeeds without a new revision. `node_id` (from `reserve_node_ids`) is the id
        a newly created file gets; a mount hands it to the kernel as the inode before the commit.
        `mtime_ns` keeps a modification time a tool set before the commit (rsync, tar). A file
        under another session's write lease is waited for (see `lease`); the commit of the lease
        holder (`lease_owner`) releases it. The store's write hooks run first, outside the
        transaction (they may refuse with HookRefused, or redact the content); `hooks=False` is for
        callers that ran them already or that restore stored content (revert)."""
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise errors.InvalidInput("content must be bytes")
        content = bytes(content)
        if if_match is not None:
            if_match = check_hash(if_match)
        store = self._store(ref)
        path = paths.normalize(path)
        if path == "/":
            raise errors.IsADirectory("the store root is a directory")
        digest = sha256(content)
        ident = identity or self.identity
        skipped = hooks and store.id in self._hookless  # no hooks last time: checked in the transaction
        hs, given, unhooked = (self._write_hooks(store) if hooks and not skipped else None), digest, False
        if hs:
            cur = self.db.one("SELECT kind, sha256, mode FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            unhooked = (cur is not None and cur["kind"] == FILE and cur["sha256"] == digest
                        and (mode is None or mode == cur["mode"]))  # identical content (a no-op) runs no hook
            if not unhooked:
                content, message = self._run_hooks(hs, store, path, "create" if cur is None else "write",
                                                   content, ident, message)
                digest = sha256(content)
        with self.db.write() as tx:
            # the store's state, whether it has write hooks now, and (for a reserved node id)
            # whether that id may be claimed, in one statement: this is the hot path
            r = tx.one("SELECT name, max_content_bytes, archived_at,"
                       " EXISTS (SELECT 1 FROM hooks WHERE store_id = ? AND event = 'write') AS hooked,"
                       " EXISTS (SELECT 1 FROM nodes WHERE id = ?) AS taken,"
                       " (SELECT value FROM counters WHERE name = 'node') AS top"
                       " FROM stores WHERE id = ?", (store.id, node_id, store.id))
            store = self._writable_row(store, r)
            if hooks:
                if r["hooked"] and not hs:  # hooks added since they were looked up (or skipped)
                    self._hookless.discard(store.id)
                    raise _Rehook()
                if not r["hooked"]:
                    self._hookless.add(store.id)
            if len(content) > store.max_content_bytes:
                raise errors.ContentTooLarge(
                    f"content is {len(content)} bytes; store {store.name!r} allows at most {store.max_content_bytes}",
                    limit=store.max_content_bytes,
                )
            ppath = paths.split(path)[0]
            cur = prow = None
            for row in tx.all("SELECT * FROM nodes WHERE store_id = ? AND path IN (?, ?)", (store.id, path, ppath)):
                if row["path"] == path:
                    cur = row
                else:
                    prow = row
            if cur is not None and cur["kind"] == DIR:
                raise errors.IsADirectory(f"{store.name}:{path} is a directory")
            if cur is not None:
                _check_lease(cur, lease_owner, f"{store.name}:{path}")
            if cur is not None and cur["kind"] == FILE and cur["sha256"] == digest and (mode is None or mode == cur["mode"]):
                # identical content: a no-op, even if a precondition fails; the writer's lease ends
                # here as with a commit (kept, it refused other sessions' writes for seconds)
                if lease_owner is not None and cur["lease_owner"] == lease_owner:
                    tx.run("UPDATE nodes SET lease_owner = NULL, lease_until = NULL WHERE id = ?", (cur["id"],))
                return WriteResult(Node._from(cur), None, redacted=digest != given)
            if unhooked:
                raise _Rehook()
            cur_sha = cur["sha256"] if cur is not None else None
            if if_absent and cur is not None:
                raise errors.PreconditionFailed(f"{store.name}:{path} already exists", current_sha256=cur_sha)
            if if_match is not None and cur_sha != if_match:
                raise errors.PreconditionFailed(
                    f"{store.name}:{path} changed: expected {if_match}, stored "
                    f"{cur_sha or 'nothing'}", current_sha256=cur_sha)
            if cur is not None and cur["kind"] == SYMLINK:
                raise errors.InvalidInput(f"{store.name}:{path} is a symbolic link")
            now = time.time()
            self._put_blob(tx, digest, content, now)
            ns = _now_ns()
            mtime = mtime_ns if mtime_ns is not None else ns
            if cur is None:
                op, name, base = "create", paths.split(path)[1], None
                if prow is not None and prow["kind"] == DIR:
                    parent = prow["id"]
                elif prow is not None:
                    raise errors.NotADirectory(f"{store.name}:{ppath} is not a directory")
                else:
                    parent = self._parent_for(tx, store, path, parents, ident, now)
                m = 0o644 if mode is None else (mode & 0o7777)
                nid = self._claim_node(tx, node_id, r)
                # the revision first, so that the node is inserted whole (no UPDATE after it)
                rev = self._append(tx, store.id, nid, op, FILE, parent, name, path, None, digest, cur_sha, len(content),
                                   m, base, ident, message, now)
                tx.run(
                    "INSERT INTO nodes (id, store_id, kind, parent_id, name, path, sha256, size, mode, mtime_ns, ctime_ns,"
                    " head_rev, created_at) VALUES (?, ?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (nid, store.id, parent, name, path, digest, len(content), m, mtime, ns, rev, now),
                )
            else:
                op, nid, parent, name, base = "write", cur["id"], cur["parent_id"], cur["name"], cur["head_rev"]
                m = cur["mode"] if mode is None else (mode & 0o7777)
                rev = self._append(tx, store.id, nid, op, FILE, parent, name, path, None, digest, cur_sha, len(content),
                                   m, base, ident, message, now)
                tx.run("UPDATE nodes SET sha256 = ?, size = ?, mode = ?, mtime_ns = ?, ctime_ns = ?, head_rev = ?,"
                       " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                       (digest, len(content), m, mtime, ns, rev, nid))
            # built from what was just written rather than read back: this is the hot path
            return WriteResult(
                Node(nid, store.id, FILE, parent, name, path, digest, len(content), m, mtime, ns, rev),
                Revision(rev, store.id, nid, op, FILE, parent, name, path, None, digest, cur_sha, len(content), m,
                         base, now, ident.agent, ident.session, ident.actor, ident.dream_job, message,
                         store_name=store.name), redacted=digest != given)

    @_waits_for_leases
    def append(self, ref, path: str, data: bytes, *, mode: Optional[int] = None, message: Optional[str] = None,
               identity: Optional[Identity] = None, mtime_ns: Optional[int] = None,
               lease_owner: Optional[str] = None) -> WriteResult:
        """Append to a file (created if missing), read-modify-write in one transaction: appends
        from many writers never conflict and never lose each other's bytes. Write hooks see the
        appended bytes (operation "append"), before the transaction."""
        store = self._store(ref)
        path = paths.normalize(path)
        data = given = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if data:
            data, message = self._run_hooks(None, store, path, "append", data, identity or self.identity, message)
        with self.db.write() as tx:
            cur = tx.one("SELECT kind, sha256 FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if cur is not None and cur["kind"] != FILE:
                raise errors.IsADirectory(f"{store.name}:{path} is not a file")
            base = self.blob(cur["sha256"]) if cur is not None else b""
            r = self.write(store, path, base + bytes(data), mode=mode, message=message, identity=identity,
                           mtime_ns=mtime_ns, lease_owner=lease_owner, hooks=False)
            r.redacted = data != given
            return r

    def mkdir(self, ref, path: str, *, mode: int = 0o755, parents: bool = False, exist_ok: bool = False,
              message: Optional[str] = None, identity: Optional[Identity] = None, node_id: Optional[int] = None) -> Node:
        store = self._store(ref)
        path = paths.normalize(path)
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if cur is not None:
                if exist_ok and cur["kind"] == DIR:
                    return Node._from(cur)
                raise errors.AlreadyExists(f"{store.name}:{path} already exists")
            now = time.time()
            parent = self._parent_for(tx, store, path, parents, ident, now)
            nid = self._new_dir(tx, store, parent, path, mode, ident, message, now, node_id)
            return Node._from(tx.one("SELECT * FROM nodes WHERE id = ?", (nid,)))

    def symlink(self, ref, path: str, target: str, *, identity: Optional[Identity] = None,
                message: Optional[str] = None, node_id: Optional[int] = None) -> Node:
        """A symbolic link inside a store. Targets must stay inside the store: absolute targets and
        targets that climb above the store root are refused."""
        store = self._store(ref)
        path = paths.normalize(path)
        if isinstance(target, bytes):
            target = target.decode("utf-8", "surrogateescape")
        if not target or target.startswith("/") or "\0" in target:
            raise errors.NotPermitted(f"symlink target {target!r} must be a relative path inside the store")
        depth = len(paths.components(paths.split(path)[0]))
        for part in target.split("/"):
            depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
            if depth < 0:
                raise errors.NotPermitted(f"symlink target {target!r} leaves the store")
        data = target.encode("utf-8", "surrogateescape")
        digest = sha256(data)
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            if tx.one("SELECT 1 FROM nodes WHERE store_id = ? AND path = ?", (store.id, path)):
                raise errors.AlreadyExists(f"{store.name}:{path} already exists")
            now, ns = time.time(), _now_ns()
            parent = self._parent_for(tx, store, path, False, ident, now)
            self._put_blob(tx, digest, data, now)
            name = paths.split(path)[1]
            nid = tx.run(
                "INSERT INTO nodes (id, store_id, kind, parent_id, name, path, sha256, size, mode, mtime_ns, ctime_ns, created_at)"
                " VALUES (?, ?, 'symlink', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._claim_node(tx, node_id), store.id, parent, name, path, digest, len(data), 0o777, ns, ns, now))
            rev = self._append(tx, store.id, nid, "symlink", SYMLINK, parent, name, path, None, digest, None,
                               len(data), 0o777, None, ident, message, now)
            tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (rev, nid))
            return Node._from(tx.one("SELECT * FROM nodes WHERE id = ?", (nid,)))

    @_waits_for_leases
    def delete(self, ref, path: str, *, if_match: Optional[str] = None, message: Optional[str] = None,
               identity: Optional[Identity] = None, lease_owner: Optional[str] = None) -> Revision:
        """Delete a file or symlink (directories: `rmdir`)."""
        if if_match is not None:
            if_match = check_hash(if_match)
        store = self._store(ref)
        path = paths.normalize(path)
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if cur is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no such file")
            if cur["kind"] == DIR:
                raise errors.IsADirectory(f"{store.name}:{path} is a directory (use rmdir)")
            _check_lease(cur, lease_owner, f"{store.name}:{path}")
            if if_match is not None and cur["sha256"] != if_match:
                raise errors.PreconditionFailed(f"{store.name}:{path} changed since {if_match[:12]}",
                                                current_sha256=cur["sha256"])
            return self._rev(tx, self._remove(tx, store, cur, "delete", ident, message))

    def rmdir(self, ref, path: str, *, message: Optional[str] = None, identity: Optional[Identity] = None) -> Revision:
        store = self._store(ref)
        path = paths.normalize(path)
        if path == "/":
            raise errors.NotPermitted("the store root cannot be removed")
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if cur is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no such directory")
            if cur["kind"] != DIR:
                raise errors.NotADirectory(f"{store.name}:{path} is not a directory")
            if tx.one("SELECT 1 FROM nodes WHERE parent_id = ? AND path IS NOT NULL LIMIT 1", (cur["id"],)):
                raise errors.DirectoryNotEmpty(f"{store.name}:{path} is not empty")
            return self._rev(tx, self._remove(tx, store, cur, "rmdir", ident, message))

    def remove_tree(self, ref, path: str, *, identity: Optional[Identity] = None, message: Optional[str] = None) -> list[Revision]:
        """`rm -r`: every file and directory under path, deepest first, in one transaction."""
        store = self._store(ref)
        path = paths.normalize(path)
        if path == "/":
            raise errors.NotPermitted("the store root cannot be removed")
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            rows = tx.all("SELECT * FROM nodes WHERE store_id = ? AND (path = ? OR path LIKE ? ESCAPE '\\')",
                          (store.id, path, _like_prefix(path)))
            if not rows:
                raise errors.PathNotFound(f"{store.name}:{path}: no such file or directory")
            rows.sort(key=lambda r: r["path"].count("/"), reverse=True)
            revs = [self._remove(tx, store, r, "rmdir" if r["kind"] == DIR else "delete", ident, message) for r in rows]
            return [self._rev(tx, r) for r in revs]

    @_waits_for_leases
    def rename(self, ref, src: str, dst: str, *, noreplace: bool = False, if_match: Optional[str] = None,
               message: Optional[str] = None, identity: Optional[Identity] = None,
               lease_owner: Optional[str] = None) -> Revision:
        """Move a file, symlink or whole directory. The node keeps its id. An existing target is
        replaced as POSIX rename does (recorded as its deletion), unless `noreplace`. `if_match`
        guards the source's content."""
        if if_match is not None:
            if_match = check_hash(if_match)
        store = self._store(ref)
        src, dst = paths.normalize(src), paths.normalize(dst)
        if "/" in (src, dst):
            raise errors.NotPermitted("the store root cannot be renamed")
        if dst.startswith(src + "/"):
            raise errors.InvalidInput(f"cannot move {src} into itself")
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            s = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, src))
            if s is None:
                raise errors.PathNotFound(f"{store.name}:{src}: no such file or directory")
            _check_lease(s, lease_owner, f"{store.name}:{src}")
            if if_match is not None and s["sha256"] != if_match:
                raise errors.PreconditionFailed(f"{store.name}:{src} changed since {if_match[:12]}",
                                                current_sha256=s["sha256"])
            if src == dst:
                return self._rev(tx, s["head_rev"])
            now = time.time()
            parent = self._parent_for(tx, store, dst, False, ident, now)
            d = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, dst))
            if d is not None:
                if noreplace:
                    raise errors.AlreadyExists(f"{store.name}:{dst} already exists")
                _check_lease(d, lease_owner, f"{store.name}:{dst}")
                if d["kind"] == DIR:
                    if s["kind"] != DIR:
                        raise errors.IsADirectory(f"{store.name}:{dst} is a directory")
                    if tx.one("SELECT 1 FROM nodes WHERE parent_id = ? AND path IS NOT NULL LIMIT 1", (d["id"],)):
                        raise errors.DirectoryNotEmpty(f"{store.name}:{dst} is not empty")
                elif s["kind"] == DIR:
                    raise errors.NotADirectory(f"{store.name}:{dst} is not a directory")
                self._remove(tx, store, d, "rmdir" if d["kind"] == DIR else "delete", ident,
                             f"replaced by rename from {src}", now)
            name = paths.split(dst)[1]
            rev = self._append(tx, store.id, s["id"], "rename", s["kind"], parent, name, dst, src, s["sha256"],
                               s["sha256"], s["size"], s["mode"], s["head_rev"], ident, message, now)
            tx.run("UPDATE nodes SET parent_id = ?, name = ?, path = ?, head_rev = ?, ctime_ns = ? WHERE id = ?",
                   (parent, name, dst, rev, _now_ns(), s["id"]))
            if s["kind"] == DIR:
                # descendants keep their ids and their own history; only their current path moves
                tx.run("UPDATE nodes SET path = ? || substr(path, ?) WHERE store_id = ? AND path LIKE ? ESCAPE '\\'",
                       (dst, len(src) + 1, store.id, _like_prefix(src)))
            return self._rev(tx, rev)

    def chmod(self, ref, path: str, mode: int, *, identity: Optional[Identity] = None) -> Optional[Revision]:
        store = self._store(ref)
        path = paths.normalize(path)
        mode &= 0o7777
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if cur is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no such file or directory")
            if cur["mode"] == mode:
                return None
            now = time.time()
            rev = self._append(tx, store.id, cur["id"], "chmod", cur["kind"], cur["parent_id"], cur["name"], path,
                               None, cur["sha256"], cur["sha256"], cur["size"], mode, cur["head_rev"], ident, None, now)
            tx.run("UPDATE nodes SET mode = ?, head_rev = ?, ctime_ns = ? WHERE id = ?", (mode, rev, _now_ns(), cur["id"]))
            return self._rev(tx, rev)

    def set_mtime(self, node_id: int, mtime_ns: int) -> None:
        """Timestamps are metadata, not content: set without a revision (touch, tar, rsync)."""
        with self.db.write() as tx:
            n = tx.one("SELECT store_id FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
            if n is None:
                raise errors.PathNotFound(f"no such node {node_id}")
            self._writable(tx, self._store(n["store_id"]))
            tx.run("UPDATE nodes SET mtime_ns = ?, ctime_ns = ? WHERE id = ?", (mtime_ns, _now_ns(), node_id))

    def revert(self, ref, to: int, path: Optional[str] = None, *, identity: Optional[Identity] = None,
               dry_run: bool = False) -> list[Revision]:
        """Make a path (or the whole store, or a directory) look as it did at revision `to`, by
        appending new revisions, in one transaction: all of it or nothing. History is never
        rewritten."""
        with self.db.write():
            return self._revert(ref, to, path, identity, dry_run)

    def _revert(self, ref, to, path, identity, dry_run):
        store = self._store(ref)
        self.revision(to)
        prefix = paths.normalize(path) if path else "/"
        ident = identity or self.identity
        msg = f"revert to revision {to}"

        def within(p):
            return prefix == "/" or p == prefix or p.startswith(prefix + "/")

        old = {p: e for p, e in self.tree(store, to).items() if within(p)}
        now_tree = {p: e for p, e in self.tree(store).items() if within(p)}
        plan = []
        for p in sorted(now_tree, key=lambda p: p.count("/"), reverse=True):
            # a symlink cannot be rewritten in place: one pointing elsewhere is removed, then re-made
            if p not in old or old[p].kind != now_tree[p].kind or (
                    old[p].kind == SYMLINK and old[p].sha256 != now_tree[p].sha256):
                if p != "/":
                    plan.append(("rm", p, now_tree[p]))
        for p in sorted(old, key=lambda p: p.count("/")):
            e, cur = old[p], now_tree.get(p)
            if cur is not None and cur.kind == e.kind and (cur.sha256 == e.sha256 or e.kind == DIR):
                if cur.mode != e.mode:
                    plan.append(("chmod", p, e))
                continue
            plan.append(("put", p, e))
        if dry_run:
            return plan
        out = []
        for act, p, e in plan:
            if act == "rm":
                out.append(self.rmdir(store, p, message=msg, identity=ident) if e.kind == DIR
                           else self.delete(store, p, message=msg, identity=ident))
            elif act == "chmod":
                r = self.chmod(store, p, e.mode, identity=ident)
                if r:
                    out.append(r)
            elif e.kind == DIR:
                n = self.mkdir(store, p, mode=e.mode, exist_ok=True, identity=ident, message=msg)
                out.append(self.revision(n.head_rev))
            elif e.kind == SYMLINK:
                n = self.symlink(store, p, self.blob(e.sha256).decode("utf-8", "surrogateescape"), identity=ident, message=msg)
                out.append(self.revision(n.head_rev))
            else:
                r = self.write(store, p, self.blob(e.sha256), mode=e.mode, message=msg, identity=ident, hooks=False)
                if r.revision:
                    out.append(r.revision)
        return out

    # ------------------------------------------------------------------ history

    def revision(self, rev_id: int) -> Revision:
        r = self._rev(self.db, rev_id)
        if r is None:
            raise errors.RevisionNotFound(f"no such revision: {rev_id}")
        return r

    def log(self, ref=None, path: Optional[str] = None, *, agent: Optional[str] = None,
            session: Optional[str] = None, since: Optional[float] = None, until: Optional[float] = None,
            after: Optional[int] = None, ops: Optional[Iterable[str]] = None, limit: Optional[int] = None,
            newest_first: bool = True) -> list[Revision]:
        """Revisions, filtered. A path matches itself and everything under it (paths as written)."""
        where, params = [], []
        if ref is not None:
            store = self._store(ref)
            where.append("r.store_id = ?"), params.append(store.id)
            if path is not None:
                p = paths.normalize(path)
                if p != "/":
                    where.append("(r.path = ? OR r.path LIKE ? ESCAPE '\\' OR r.old_path = ?)")
                    params += [p, _like_prefix(p), p]
        for col, val in (("agent", agent), ("session", session)):
            if val is not None:
                where.append(f"r.{col} = ?"), params.append(val)
        if since is not None:
            where.append("r.created_at >= ?"), params.append(since)
        if until is not None:
            where.append("r.created_at <= ?"), params.append(until)
        if after is not None:
            where.append("r.id > ?"), params.append(after)
        if ops:
            ops = list(ops)
            unknown = [o for o in ops if o not in REVISION_OPS]
            if unknown:  # a filter that can match nothing is a typo, not an empty log
                raise errors.InvalidInput(f"unknown operation {unknown[0]!r}: the operations are "
                                          f"{', '.join(REVISION_OPS)}")
            where.append(f"r.op IN ({', '.join('?' * len(ops))})"), params.extend(ops)
        sql = "SELECT r.*, s.name AS store_name FROM revisions r JOIN stores s ON s.id = r.store_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.id " + ("DESC" if newest_first else "ASC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.db.read() as tx:
            return [Revision._from(r) for r in tx.all(sql, params)]

    def changes(self, after: int = 0, limit: int = 1000) -> list[Revision]:
        """The change feed: every revision after a cursor, oldest first."""
        return self.log(after=after, limit=limit, newest_first=False)

    def history(self, ref, path: str) -> list[Revision]:
        """Every revision of the file now (or last) at `path`, following it across renames; newest first."""
        store = self._store(ref)
        path = paths.normalize(path)
        with self.db.read() as tx:
            nid = tx.scalar("SELECT id FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if nid is None:
                nid = tx.scalar("SELECT node_id FROM revisions WHERE store_id = ? AND path = ? ORDER BY id DESC LIMIT 1",
                                (store.id, path))
            if nid is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no history")
            rows = tx.all("SELECT r.*, s.name AS store_name FROM revisions r JOIN stores s ON s.id = r.store_id"
                          " WHERE node_id = ? ORDER BY r.id DESC", (nid,))
        return [Revision._from(r) for r in rows]

    def diff(self, ref, path: str, a: Optional[int] = None, b: Optional[int] = None, context: int = 3) -> str:
        """Unified diff of the file at `path` between two revisions, following it across renames.
        Defaults: `a` = its previous content revision, `b` = now. A side where it did not exist is
        empty."""
        store = self._store(ref)
        path = paths.normalize(path)
        hist = self.history(store, path)
        node_id = hist[0].node_id
        if a is None and b is None:
            content = [r for r in hist if r.op in ("create", "write", "delete", "symlink")]
            a = content[1].id if len(content) > 1 else 0
        return self._diff_text(store, path, a, b, context, node_id=node_id)

    def _content_at(self, store, path, rev, node_id=None):
        """Bytes of a file at a revision (None where it did not exist). By node when known, so that
        a renamed file still diffs against its own past."""
        if rev == 0:
            return None
        if node_id is not None:
            with self.db.read() as tx:
                q = "SELECT * FROM revisions WHERE node_id = ?" + (" AND id <= ?" if rev else "") + " ORDER BY id DESC LIMIT 1"
                r = tx.one(q, (node_id, rev) if rev else (node_id,))
            if r is None or r["op"] in GONE_OPS or r["kind"] == DIR:
                return None
            return self.blob(r["sha256"])
        try:
            e = self.stat(store, path, rev=rev)
        except errors.NotFound:
            return None
        return None if e.kind == DIR else self.blob(e.sha256)

    def _diff_text(self, store, path, a, b, context=3, node_id=None) -> str:
        da = self._content_at(store, path, a, node_id)
        db = self._content_at(store, path, b, node_id)
        if (da is not None and is_binary(da)) or (db is not None and is_binary(db)):
            return "" if da == db else f"Binary content of {path} differs\n"
        la = (da or b"").decode().splitlines(keepends=True)
        lb = (db or b"").decode().splitlines(keepends=True)
        name_a = f"a{path}@{a}" if da is not None else "/dev/null"
        name_b = f"b{path}@{b if b is not None else 'now'}" if db is not None else "/dev/null"
        out = []
        for line in difflib.unified_diff(la, lb, name_a, name_b, n=context):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def diff_store(self, ref, a: int, b: Optional[int] = None, context: int = 3, path: str = "/") -> str:
        """Unified diff of a whole store (or of the subtree at `path`) between two revisions (b
        defaults to now)."""
        store = self._store(ref)
        prefix = paths.normalize(path)
        ta, tb = self.tree(store, a), self.tree(store, b)
        out = []
        for p in sorted(set(ta) | set(tb)):
            if prefix != "/" and p != prefix and not p.startswith(prefix + "/"):
                continue
            ea, eb = ta.get(p), tb.get(p)
            if (ea and ea.kind == DIR) or (eb and eb.kind == DIR):
                continue
            if ea and eb and ea.sha256 == eb.sha256:
                continue
            out.append(self._diff_text(store, p, a if ea else 0, b if eb else 0, context,
                                        node_id=None))
        return "".join(out)

    def blame(self, ref, path: str) -> list[tuple[Revision, str]]:
        """Each current line with the revision that last introduced it."""
        store = self._store(ref)
        full = self.history(store, path)
        if full[0].kind == DIR:
            raise errors.IsADirectory(f"{store.name}:{paths.normalize(path)} is a directory")
        hist = [r for r in reversed(full) if r.op in ("create", "write") and r.sha256]
        lines: list[tuple[Revision, str]] = []
        for r in hist:
            new = self.blob(r.sha256).decode("utf-8", "replace").splitlines()
            old = [t for _, t in lines]
            sm = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
            merged: list[tuple[Revision, str]] = []
            for tag, i1, i2, j1, j2 in sm.get_opcodes():
                if tag == "equal":
                    merged.extend(lines[i1:i2])
                else:
                    merged.extend((r, t) for t in new[j1:j2])
            lines = merged
        return lines

    # ------------------------------------------------------------------ search

    def grep(self, ref, pattern: str, *, history: bool = False, ignore_case: bool = False, fixed: bool = False,
             prefix: str = "/", use_index: Optional[bool] = None, limit: Optional[int] = None) -> list[GrepMatch]:
        """Lines of a store's text files that match a regular expression (`fixed`: a plain string),
        as GrepMatch in path and line order. By default the current content; with `history`, every
        content any file ever had, each once, at the revision that wrote it (oldest first), under
        the path it had then. Binary files are skipped. `prefix` keeps files at or under a path.

        Literal runs of 3+ characters that every match must contain narrow the candidate files
        through the trigram full-text index (SQLite's), brought up to date from the change feed first; a
        pattern without such a run, one whose terms most texts contain, or `use_index=False`
        scans every file (`use_index=True` uses the index whenever it can). The final match is
        always the regular expression on the real content, so both ways give the same lines."""
        from .search import compile_search, fts_query, match_lines

        store = self._store(ref)
        search = compile_search(pattern, ignore_case=ignore_case, fixed=fixed)
        prefix = paths.normalize(prefix)
        where, params = ["x.store_id = ?", "x.kind = 'file'", "x.sha256 IS NOT NULL", "b.is_binary = 0"], [store.id]
        if prefix != "/":
            where.append("(x.path = ? OR x.path LIKE ? ESCAPE '\\')"), params.extend([prefix, _like_prefix(prefix)])
        if search.terms and use_index is not False and self.db.fts and self._search_catch_up():
            q = fts_query(search.terms)
            # the index pays where it is selective: when most texts contain the terms anyway,
            # reading them all is cheaper than the detour (unless the caller insists)
            hits = self.db.one("SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH ?", (q,))[0]
            if use_index or hits * 2 <= self.db.one("SELECT COUNT(*) FROM search_docs")[0]:
                where.append("b.sha256 IN (SELECT d.sha256 FROM search_docs d WHERE d.doc IN"
                             " (SELECT rowid FROM search_fts WHERE search_fts MATCH ?))")
                params.append(q)
        if history:
            sql = ("SELECT x.id AS rev, x.node_id, x.path, x.sha256, x.agent, x.session, x.created_at, b.content"
                   " FROM revisions x JOIN blobs b ON b.sha256 = x.sha256 WHERE " + " AND ".join(where) +
                   " ORDER BY x.id")
        else:
            sql = ("SELECT x.head_rev AS rev, x.id AS node_id, x.path, x.sha256, r.agent, r.session, r.created_at,"
                   " b.content FROM nodes x JOIN blobs b ON b.sha256 = x.sha256 LEFT JOIN revisions r ON r.id = x.head_rev"
                   " WHERE x.path IS NOT NULL AND " + " AND ".join(where) + " ORDER BY x.path")
        out: list[GrepMatch] = []
        seen: set = set()
        with self.db.read() as tx:
            cur = tx.iter(sql, params)
            for row in cur:
                if history:
                    if (row["node_id"], row["sha256"]) in seen:
                        continue
                    seen.add((row["node_id"], row["sha256"]))
                text = bytes(row["content"]).decode("utf-8", "replace")
                for n, line in match_lines(search, text):
                    out.append(GrepMatch(store.name, row["path"], n, line, row["rev"], row["sha256"], row["agent"],
                                         row["session"], row["created_at"]))
                    if limit and len(out) >= limit:
                        return out
        return out

    def reindex_search(self) -> None:
        """Drop the full-text index; the next search rebuilds it from the blobs (derived data,
        never the truth)."""
        if not self.db.fts:
            return
        with self.db.write() as tx:
            tx.run("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
            tx.run("DELETE FROM search_docs")
            tx.run("UPDATE search_cursor SET rev = 0 WHERE name = 'blobs'")

    def _search_catch_up(self) -> bool:
        """Index the text blobs that revisions after the search cursor wrote, and move the cursor.
        False where the index cannot be written (a read-only database): search then scans."""
        head = self.db.one("SELECT COALESCE(MAX(id), 0) FROM revisions")[0]
        cursor = self.db.one("SELECT rev FROM search_cursor WHERE name = 'blobs'")[0]
        try:
            while cursor < head:
                # in batches of revisions, so that indexing a large backlog never holds the write
                # lock long enough for another writer to give up waiting
                with self.db.write() as tx:
                    cursor = tx.scalar("SELECT rev FROM search_cursor WHERE name = 'blobs'")
                    upto = min(tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions"), cursor + SEARCH_BATCH)
                    last = tx.scalar("SELECT COALESCE(MAX(doc), 0) FROM search_docs")
                    tx.run("INSERT OR IGNORE INTO search_docs (sha256) SELECT DISTINCT r.sha256 FROM revisions r"
                           " JOIN blobs b ON b.sha256 = r.sha256 WHERE r.id > ? AND r.id <= ? AND r.kind = 'file'"
                           " AND b.is_binary = 0 ORDER BY r.id", (cursor, upto))
                    tx.run("INSERT INTO search_fts (rowid, body) SELECT d.doc, CAST(b.content AS TEXT)"
                           " FROM search_docs d JOIN blobs b ON b.sha256 = d.sha256 WHERE d.doc > ?", (last,))
                    tx.run("UPDATE search_cursor SET rev = ? WHERE name = 'blobs'", (upto,))
                    cursor = upto
        except (errors.ReadOnly, errors.Busy):
            return False
        return True

    # ------------------------------------------------------------------ sessions

    def open_session(self, session_id: Optional[str] = None, *, agent: Optional[str] = None, actor: str = "agent",
                     kind: str = "mount", stores: Optional[dict] = None, mountpoint: Optional[str] = None,
                     log_path: Optional[str] = None, pid: Optional[int] = None) -> Session:
        session_id = session_id or ("ses_" + secrets.token_hex(8))
        with self.db.write() as tx:
            sid = tx.run(
                "INSERT INTO sessions (session_id, agent, actor, kind, host, pid, stores, mountpoint, log_path, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, agent, actor, kind, socket.gethostname(), pid or os.getpid(),
                 json.dumps(stores or {}), mountpoint, log_path, time.time()))
            return Session._from(tx.one("SELECT * FROM sessions WHERE id = ?", (sid,)))

    def close_session(self, row_id: int) -> None:
        with self.db.write() as tx:
            tx.run("UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (time.time(), row_id))

    def sessions(self, ref=None, *, since: Optional[float] = None, active: Optional[bool] = None) -> list[Session]:
        """Sessions, newest first. With a store: those that held it or wrote to it (since a time)."""
        with self.db.read() as tx:
            rows = tx.all("SELECT * FROM sessions ORDER BY id DESC")
            writers = set()
            if ref is not None:
                store = self._store(ref)
                q = "SELECT DISTINCT session FROM revisions WHERE store_id = ? AND session IS NOT NULL"
                params = [store.id]
                if since is not None:
                    q += " AND created_at >= ?"
                    params.append(since)
                writers = {r[0] for r in tx.all(q, params)}
        out = []
        for r in rows:
            s = Session._from(r)
            if active is True and s.ended_at is not None or active is False and s.ended_at is None:
                continue
            if ref is not None:
                held = store.name in s.stores or store.uid in s.stores
                if not (s.session_id in writers or held):
                    continue
                if since is not None and s.session_id not in writers and (s.ended_at or time.time()) < since:
                    continue
            elif since is not None and (s.ended_at or time.time()) < since:
                continue
            out.append(s)
        return out

    # ------------------------------------------------------------------ write hooks (see hooks.py)

    def add_hook(self, ref, command: str, *, on: str = "write", timeout: float = _hooks.DEFAULT_TIMEOUT,
                 fail: str = "closed", identity: Optional[Identity] = None) -> Hook:
        """Run the shell `command` before every write (create, write, append) of the store; it
        may allow, refuse or redact the write. `timeout` bounds it (seconds); `fail` says whether
        a hook that times out, crashes or answers garbage refuses the write (closed) or not (open)."""
        store = self._store(ref)
        on, command, timeout, fail = _hooks.check(on, command, timeout, fail)
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            hid = tx.run("INSERT INTO hooks (store_id, event, command, timeout, fail, created_at, created_by)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", (store.id, on, command, timeout, fail, time.time(), ident.agent))
        return self.hook(hid)

    def hook(self, hook_id: int) -> Hook:
        r = self.db.one("SELECT h.*, s.name AS store_name FROM hooks h JOIN stores s ON s.id = h.store_id"
                        " WHERE h.id = ?", (_hook_id(hook_id),))
        if r is None:
            raise errors.NotFound(f"no such hook: {hook_id}")
        return Hook._from(r)

    def hooks(self, ref=None) -> list[Hook]:
        """The hooks of a store (or of every store), in the order they run."""
        q, params = "SELECT h.*, s.name AS store_name FROM hooks h JOIN stores s ON s.id = h.store_id", ()
        if ref is not None:
            q, params = q + " WHERE h.store_id = ?", (self._store(ref).id,)
        return [Hook._from(r) for r in self.db.all(q + " ORDER BY s.name, h.id", params)]

    def remove_hook(self, hook_id: int) -> Hook:
        h = self.hook(hook_id)
        with self.db.write() as tx:
            tx.run("DELETE FROM hooks WHERE id = ?", (h.id,))
        return h

    def run_write_hooks(self, ref, path: str, content: bytes, *, operation: str = "write",
                        identity: Optional[Identity] = None, message: Optional[str] = None) -> tuple[bytes, Optional[str]]:
        """Run a store's write hooks over content about to be written: -> (the content to write,
        the revision message noting any redaction); raises HookRefused. For a front end that
        queues its writers (the HTTP server) and so runs the hooks before taking its place in the
        queue, then writes with `hooks=False`."""
        store = self._store(ref)
        if isinstance(content, str):
            content = content.encode("utf-8")
        return self._run_hooks(None, store, paths.normalize(path), operation, bytes(content),
                               identity or self.identity, message)

    def _write_hooks(self, store: Store) -> list[Hook]:
        rows = self.db.all("SELECT h.*, ? AS store_name FROM hooks h WHERE h.store_id = ? AND h.event = 'write'"
                           " ORDER BY h.id", (store.name, store.id))
        return [Hook._from(r) for r in rows]

    def _run_hooks(self, hs, store: Store, path: str, op: str, content: bytes, ident: Identity,
                   message: Optional[str]) -> tuple[bytes, Optional[str]]:
        """Run the write hooks (`hs`, else the store's) over one write, never inside a transaction."""
        hs = self._write_hooks(store) if hs is None else hs
        if not hs:
            return content, message
        if self.db.in_transaction:
            raise HooksOutsideTransaction("write hooks cannot run inside a transaction: run them before it opens")
        return _hooks.run_write_hooks(hs, store, path, op, content, ident, message, sha256)

    # ------------------------------------------------------------------ conflicts

    def record_conflict(self, ref, path: str, content: Optional[bytes], *, base_sha256: Optional[str],
                        reason: str, identity: Optional[Identity] = None, hook_id: Optional[int] = None) -> Conflict:
        """Keep a refused write where it can be read back (`.memfs/conflicts/` on the mount).

        With `hook_id` (a write hook refused it), only the refusal is kept: who, when, which hook
        and why, never the content, which is dropped if given: a hook refuses content to keep it
        out of the store."""
        store = self._store(ref)
        path = paths.normalize(path)
        ident = identity or self.identity
        if hook_id is not None:
            content = None
        with self.db.write() as tx:
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            now = time.time()
            digest = None
            if content is not None:
                content = bytes(content)
                digest = sha256(content)
                self._put_blob(tx, digest, content, now)
            cid = tx.run(
                "INSERT INTO conflicts (store_id, path, node_id, session, agent, created_at, base_sha256,"
                " current_sha256, current_rev, sha256, reason, hook_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (store.id, path, cur["id"] if cur else None, ident.session, ident.agent, now, base_sha256,
                 cur["sha256"] if cur else None, cur["head_rev"] if cur else None, digest, reason,
                 None if hook_id is None else int(hook_id)))
            return Conflict._from(tx.one("SELECT * FROM conflicts WHERE id = ?", (cid,)))

    _CONFLICT = ("SELECT c.*, COALESCE(b.size, 0) AS size FROM conflicts c"
                 " LEFT JOIN blobs b ON b.sha256 = c.sha256 WHERE c.store_id = ?")

    def conflicts(self, ref, *, session: Optional[str] = None) -> list[Conflict]:
        """A store's refused writes, oldest first (optionally one session's)."""
        store = self._store(ref)
        q, params = self._CONFLICT, [store.id]
        if session:
            q += " AND c.session = ?"
            params.append(session)
        with self.db.read() as tx:
            return [Conflict._from(r) for r in tx.all(q + " ORDER BY c.id", params)]

    def withdraw_conflict(self, ref, conflict_id: int) -> None:
        """Remove a refusal record that turned out not to be one (the mount's first try of a
        request the kernel retried and that then landed), with the content it kept."""
        store = self._store(ref)
        with self.db.write() as tx:
            sha = tx.scalar("SELECT sha256 FROM conflicts WHERE id = ? AND store_id = ?", (conflict_id, store.id))
            tx.run("DELETE FROM conflicts WHERE id = ? AND store_id = ?", (conflict_id, store.id))
            if sha:
                self._drop_blob(tx, sha)  # only if nothing else refers to it

    def conflict(self, ref, conflict_id: int) -> Optional[Conflict]:
        """One refused write of a store by its id, or None."""
        r = self.db.one(self._CONFLICT + " AND c.id = ?", (self._store(ref).id, conflict_id))
        return Conflict._from(r) if r else None

    # ------------------------------------------------------------------ files by id, versions, redaction, API keys
    # What the HTTP API needs, here so that it stays a thin front end. A file's id is its node id
    # (stable across renames); a version is a revision in VERSION_OPS of a file.

    def _file_rows(self, tx, where: str, params) -> list[FileInfo]:
        rows = tx.all("SELECT n.id, n.store_id, n.path, n.sha256, n.size, n.created_at, r.id AS rev, r.op,"
                      " r.created_at AS rtime FROM nodes n JOIN revisions r ON r.id = n.head_rev"
                      f" WHERE n.kind = 'file' AND n.path IS NOT NULL AND {where} ORDER BY n.path", params)
        out = []
        for r in rows:
            rev, rtime = r["rev"], r["rtime"]
            if r["op"] not in VERSION_OPS:  # the head is a mode change: the version is the one before
                v = tx.one(f"SELECT id, created_at FROM revisions WHERE node_id = ? AND op IN {VERSION_OPS}"
                           " ORDER BY id DESC LIMIT 1", (r["id"],))
                if v is not None:
                    rev, rtime = v["id"], v["created_at"]
            out.append(FileInfo(r["id"], r["store_id"], r["path"], r["sha256"], r["size"], r["created_at"], rtime, rev))
        return out

    def file(self, ref, node_id: int) -> FileInfo:
        """A live file of a store by its id."""
        store = self._store(ref)
        with self.db.read() as tx:
            rows = self._file_rows(tx, "n.store_id = ? AND n.id = ?", (store.id, node_id))
        if not rows:
            raise errors.PathNotFound(f"store {store.name!r} has no file with id {node_id}")
        return rows[0]

    def files(self, ref, prefix: str = "/", *, depth: int = 0, after: Optional[str] = None,
              limit: int = 100) -> list:
        """Live files below the directory `prefix`, in path (byte) order: FileInfo objects. With
        depth=N (N >= 1), only files at most N levels below `prefix`; for each directory N levels
        down that holds files somewhere below, its path with a trailing '/' (a str: Anthropic's
        memory_prefix roll-up; empty directories do not show). depth=0: every file, no roll-ups.
        `after` is the last path or roll-up of the previous page."""
        store = self._store(ref)
        p = paths.normalize(prefix)
        base = "/" if p == "/" else p + "/"
        hi = base[:-1] + "0"  # '0' follows '/': every path starting with `base` sorts below `hi`
        lo, strict = base, False
        if after is not None:
            if not isinstance(after, str) or not after.startswith(base) or after == base:
                raise errors.InvalidInput("the page cursor does not belong to this listing")
            lo, strict = (after[:-1] + "0", False) if after.endswith("/") else (after, True)
        q = ("SELECT path FROM nodes WHERE store_id = ? AND kind = 'file' AND path IS NOT NULL AND path {} ?"
             " AND path < ? ORDER BY path LIMIT ?")
        with self.db.read() as tx:
            if not depth:
                found = [r[0] for r in tx.all(q.format(">" if strict else ">="), (store.id, lo, hi, limit))]
                keys = found
            else:
                keys, found = [], []
                while len(keys) < limit:
                    r = tx.one(q.format(">" if strict else ">="), (store.id, lo, hi, 1))
                    if r is None:
                        break
                    segs = r[0][len(base):].split("/")
                    if len(segs) > depth:  # deeper: skip the whole directory after its roll-up
                        roll = base + "/".join(segs[:depth]) + "/"
                        keys.append(roll)
                        lo, strict = roll[:-1] + "0", False
                    else:
                        keys.append(r[0])
                        found.append(r[0])
                        lo, strict = r[0], True
            infos = {}
            for i in range(0, len(found), 500):
                chunk = found[i:i + 500]
                for f in self._file_rows(tx, f"n.store_id = ? AND n.path IN ({', '.join('?' * len(chunk))})",
                                         (store.id, *chunk)):
                    infos[f.path] = f
        return [infos[k] if k in infos else k for k in keys if k in infos or k.endswith("/")]

    def _path_conflict(self, tx, store, path, own_id=None):
        """Raise AlreadyExists if `path` or one of its ancestors is taken by another entry: what
        stands in the way of a file at `path` (`node_id` says which file, when it is one)."""
        cur = tx.one("SELECT id, kind FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
        if cur is not None and cur["id"] != own_id:
            if cur["kind"] == FILE:
                raise errors.AlreadyExists(f"{store.name}:{path} already exists", node_id=cur["id"])
            what = "a directory of other files" if cur["kind"] == DIR else "a symbolic link"
            raise errors.AlreadyExists(f"{store.name}:{path} is {what}")
        anc = paths.split(path)[0]
        while anc != "/":
            r = tx.one("SELECT id, kind FROM nodes WHERE store_id = ? AND path = ?", (store.id, anc))
            if r is not None:
                if r["kind"] != DIR:
                    raise errors.AlreadyExists(f"{store.name}:{anc} is a file, so {path} cannot be created",
                                               node_id=r["id"] if r["kind"] == FILE else None)
                break
            anc = paths.split(anc)[0]

    def create_file(self, ref, path: str, content: bytes, *, identity: Optional[Identity] = None,
                    message: Optional[str] = None, hooks: bool = True) -> WriteResult:
        """Create a file (and its missing parent directories); a taken path raises AlreadyExists
        whose `details['node_id']` names the file in the way, even when it has this content.
        `hooks=False`: the caller ran `run_write_hooks` already."""
        store = self._store(ref)
        path = paths.normalize(path)
        if path == "/":
            raise errors.IsADirectory("the store root is a directory")
        if isinstance(content, str):
            content = content.encode("utf-8")
        given = bytes(content)
        if hooks:
            content, message = self._run_hooks(None, store, path, "create", given, identity or self.identity, message)
        with self.db.write() as tx:
            store = self._writable(tx, store)
            self._path_conflict(tx, store, path)
            r = self.write(store, path, content, if_absent=True, parents=True, identity=identity,
                           message=message, hooks=False)
            r.redacted = content != given
            return r

    def update_file(self, ref, node_id: int, *, content: Optional[bytes] = None, path: Optional[str] = None,
                    if_match: Optional[str] = None, identity: Optional[Identity] = None,
                    message: Optional[str] = None, hooks: bool = True) -> WriteResult:
        """Change a file's content and/or path (a rename, creating missing parent directories) by
        its id, in one transaction. `if_match` guards the current content; when the file already
        has the requested content and path nothing is written and `if_match` is not checked, so
        a retry is safe. A rename and a content change are two revisions (rename, then write)."""
        if isinstance(content, str):
            content = content.encode("utf-8")
        if if_match is not None:
            if_match = check_hash(if_match)
        store = self._store(ref)
        dst = None if path is None else paths.normalize(path)
        if dst == "/":
            raise errors.IsADirectory("the store root is a directory")
        ident = identity or self.identity
        if content is not None and hooks:  # the write hooks run first, outside the transaction
            was = self.db.one("SELECT path, sha256 FROM nodes WHERE store_id = ? AND id = ? AND kind = 'file'"
                              " AND path IS NOT NULL", (store.id, node_id))
            if was is not None and was["sha256"] != sha256(content):
                content, message = self._run_hooks(None, store, dst or was["path"], "write", content, ident, message)
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT * FROM nodes WHERE store_id = ? AND id = ? AND kind = 'file' AND path IS NOT NULL",
                         (store.id, node_id))
            if cur is None:
                raise errors.PathNotFound(f"store {store.name!r} has no file with id {node_id}")
            dst = dst or cur["path"]
            same = content is None or sha256(content) == cur["sha256"]
            if same and dst == cur["path"]:
                return WriteResult(Node._from(cur), None)
            if if_match is not None and cur["sha256"] != if_match:
                raise errors.PreconditionFailed(f"{store.name}:{cur['path']} changed: expected {if_match}, stored "
                                                f"{cur['sha256']}", current_sha256=cur["sha256"])
            rev = None
            if dst != cur["path"]:
                self._path_conflict(tx, store, dst, own_id=node_id)
                parent = paths.split(dst)[0]
                if parent != "/":
                    self.mkdir(store, parent, parents=True, exist_ok=True, identity=ident)
                rev = self.rename(store, cur["path"], dst, noreplace=True, identity=ident)
            if not same:
                rev = self.write(store, dst, content, identity=ident, message=message, hooks=False).revision
            return WriteResult(Node._from(tx.one("SELECT * FROM nodes WHERE id = ?", (node_id,))), rev)

    def delete_file(self, ref, node_id: int, *, if_match: Optional[str] = None,
                    identity: Optional[Identity] = None) -> Revision:
        """Delete a file by its id; `if_match` guards its content."""
        store = self._store(ref)
        with self.db.write() as tx:
            store = self._writable(tx, store)
            cur = tx.one("SELECT path FROM nodes WHERE store_id = ? AND id = ? AND kind = 'file' AND path IS NOT NULL",
                         (store.id, node_id))
            if cur is None:
                raise errors.PathNotFound(f"store {store.name!r} has no file with id {node_id}")
            return self.delete(store, cur["path"], if_match=if_match, identity=identity)

    def versions(self, ref, *, node_id: Optional[int] = None, ops: Optional[Iterable[str]] = None,
                 session: Optional[str] = None, api_key_id: Optional[str] = None, since: Optional[float] = None,
                 until: Optional[float] = None, before: Optional[int] = None, dream_job: Optional[str] = None,
                 limit: Optional[int] = None) -> list[Revision]:
        """A store's file versions (revisions in VERSION_OPS), newest first, filtered; `before` is
        a revision id (the cursor of the previous page)."""
        store = self._store(ref)
        ops = [o for o in (ops or VERSION_OPS) if o in VERSION_OPS]
        if not ops:
            return []
        where = [f"r.store_id = ? AND r.kind = 'file' AND r.op IN ({', '.join('?' * len(ops))})"]
        params = [store.id, *ops]
        for cond, val in (("r.node_id = ?", node_id), ("r.session = ?", session), ("r.api_key_id = ?", api_key_id),
                          ("r.created_at >= ?", since), ("r.created_at <= ?", until), ("r.id < ?", before),
                          ("r.dream_job = ?", dream_job)):
            if val is not None:
                where.append(cond), params.append(val)
        sql = ("SELECT r.*, s.name AS store_name FROM revisions r JOIN stores s ON s.id = r.store_id WHERE "
               + " AND ".join(where) + " ORDER BY r.id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.db.read() as tx:
            return [Revision._from(r) for r in tx.all(sql, params)]

    def version(self, ref, rev_id: int) -> Revision:
        """One file version of a store (RevisionNotFound for anything else)."""
        store = self._store(ref)
        r = self.db.one("SELECT r.*, s.name AS store_name FROM revisions r JOIN stores s ON s.id = r.store_id"
                        f" WHERE r.id = ? AND r.store_id = ? AND r.kind = 'file' AND r.op IN {VERSION_OPS}",
                        (rev_id, store.id))
        if r is None:
            raise errors.RevisionNotFound(f"store {store.name!r} has no version {rev_id}")
        return Revision._from(r)

    @staticmethod
    def _current_revs(tx, node_id) -> set:
        """The revisions a live file still shows (its head, its last version); none once deleted."""
        n = tx.one("SELECT head_rev FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
        if n is None:
            return set()
        v = tx.scalar(f"SELECT MAX(id) FROM revisions WHERE node_id = ? AND op IN {VERSION_OPS}", (node_id,))
        return {n["head_rev"], v}

    def redact(self, rev_id: int, *, ref=None, identity: Optional[Identity] = None) -> Revision:
        """Blank the content of one file revision for good: its hash and size go, the row stays
        with `redacted_at`/`redacted_by`, and the blob is deleted once nothing (revision, file,
        conflict) refers to it. The version a live file still shows cannot be redacted
        (CurrentVersion): change or delete the file first. Redacting twice is harmless.
        Deleted rows can linger in free pages of the database file until `vacuum()`."""
        store = self._store(ref) if ref is not None else None
        with self.db.write() as tx:
            r = tx.one("SELECT * FROM revisions WHERE id = ?", (rev_id,))
            if r is None or (store is not None and r["store_id"] != store.id):
                raise errors.RevisionNotFound(f"no such revision: {rev_id}")
            if r["kind"] != FILE:
                raise errors.InvalidInput(f"revision {rev_id} is not a file's: only file content can be redacted")
            if r["redacted_at"] is None:
                if rev_id in self._current_revs(tx, r["node_id"]):
                    raise errors.CurrentVersion(
                        f"revision {rev_id} is the current version of {r['path']}: update or delete the file first")
                self._blank(tx, [r], identity or self.identity)
            return self._rev(tx, rev_id)

    def redact_matching(self, ref, pattern: str, *, identity: Optional[Identity] = None,
                        dry_run: bool = False) -> RedactReport:
        """Redact every file revision of a store whose content matches a regular expression
        (searched in the text, UTF-8), blank refused writes kept as conflicts that match, and
        delete matching blobs nothing refers to any more. Revisions a live file still shows are
        left alone and reported in `current`."""
        import re

        try:
            rx = re.compile(pattern)
        except (re.error, TypeError) as e:
            raise errors.InvalidInput(f"not a valid regular expression: {pattern!r} ({e})")
        store = self._store(ref)
        ident = identity or self.identity
        rep = RedactReport()

        def hit(sha):
            return bool(rx.search(self.blob(sha).decode("utf-8", "replace")))

        with self.db.write() as tx:
            shas = [r[0] for r in tx.all("SELECT DISTINCT sha256 FROM revisions WHERE store_id = ? AND kind = 'file'"
                                         " AND sha256 IS NOT NULL AND redacted_at IS NULL", (store.id,))]
            bad = {s for s in shas if hit(s)}
            rows = [r for s in sorted(bad) for r in tx.all(
                "SELECT * FROM revisions WHERE store_id = ? AND kind = 'file' AND sha256 = ? AND redacted_at IS NULL",
                (store.id, s))]
            current = {}
            for r in rows:
                if r["node_id"] not in current:
                    current[r["node_id"]] = self._current_revs(tx, r["node_id"])
            todo = [r for r in rows if r["id"] not in current[r["node_id"]]]
            rep.redacted = sorted(r["id"] for r in todo)
            rep.current = sorted(r["id"] for r in rows if r["id"] in current[r["node_id"]])
            cshas = {r[0] for r in tx.all("SELECT DISTINCT sha256 FROM conflicts WHERE store_id = ? AND sha256 IS NOT NULL",
                                          (store.id,))}
            cbad = {s for s in cshas if s in bad or hit(s)}
            if dry_run:
                return rep
            for s in cbad:
                rep.conflicts_blanked += tx.run("UPDATE conflicts SET sha256 = NULL WHERE store_id = ? AND sha256 = ?",
                                                (store.id, s))
            rep.blobs_removed = self._blank(tx, todo, ident, extra=bad | cbad)
            for r in tx.all("SELECT sha256 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM revisions WHERE sha256 = b.sha256)"
                            " AND NOT EXISTS (SELECT 1 FROM nodes WHERE sha256 = b.sha256 AND path IS NOT NULL)"
                            " AND NOT EXISTS (SELECT 1 FROM conflicts WHERE sha256 = b.sha256)"):
                if hit(r[0]):  # an old blob nothing refers to (left by a crash or a deleted store)
                    rep.blobs_removed += self._drop_blob(tx, r[0])
        return rep

    def _blank(self, tx, rows, ident: Identity, extra=()) -> int:
        """Redact revision rows; delete the blobs (theirs and `extra`) nothing refers to any more."""
        now = time.time()
        by = json.dumps({k: v for k, v in (("actor", ident.actor), ("agent", ident.agent), ("session", ident.session),
                                           ("api_key_id", ident.api_key_id)) if v is not None})
        for r in rows:
            tx.run("UPDATE revisions SET sha256 = NULL, size = 0, redacted_at = ?, redacted_by = ? WHERE id = ?",
                   (now, by, r["id"]))
        return sum(self._drop_blob(tx, s) for s in {r["sha256"] for r in rows if r["sha256"]} | set(extra))

    @staticmethod
    def _drop_blob(tx, sha) -> int:
        if tx.one("SELECT 1 FROM revisions WHERE sha256 = ? UNION ALL SELECT 1 FROM nodes WHERE sha256 = ?"
                  " AND path IS NOT NULL UNION ALL SELECT 1 FROM conflicts WHERE sha256 = ? LIMIT 1", (sha, sha, sha)):
            return 0
        # gone for good: drop the hash of the content too, where later revisions named it as replaced
        # and where a deleted file's row still names its last content
        tx.run("UPDATE revisions SET prev_sha256 = NULL WHERE prev_sha256 = ?", (sha,))
        tx.run("UPDATE nodes SET sha256 = NULL WHERE sha256 = ? AND path IS NULL", (sha,))
        return tx.run("DELETE FROM blobs WHERE sha256 = ?", (sha,))

    def vacuum(self) -> None:
        """Rebuild the database file so that deleted content leaves no copy in it."""
        if self.db.fts:
            with self.db.write() as tx:
                # merge the search index's segments: a deleted blob's trigrams linger in older
                # segments (behind delete markers) until then
                tx.run("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        self.db.vacuum()

    def create_api_key(self, *, stores: Optional[dict] = None, all_stores: Optional[str] = None,
                       name: Optional[str] = None, identity: Optional[Identity] = None) -> tuple[ApiKey, str]:
        """A key for the HTTP API. `stores` maps store names or ids to 'ro' or 'rw'; `all_stores`
        ('ro' or 'rw') grants every store, present and future ('rw' also lets it create stores).
        Returns the key and its secret, which exists only here: the database keeps its SHA-256."""
        scopes = {}
        for ref, mode in (stores or {}).items():
            if mode not in ("ro", "rw"):
                raise errors.InvalidInput(f"access to {ref} must be ro or rw, not {mode!r}")
            scopes[self.get_store(ref).uid] = mode
        if all_stores not in (None, "ro", "rw"):
            raise errors.InvalidInput(f"access to all stores must be ro or rw, not {all_stores!r}")
        if not scopes and all_stores is None:
            raise errors.InvalidInput("a key needs at least one store (NAME=ro|rw) or access to all stores")
        kid = "apikey_" + secrets.token_hex(8)
        name = name or kid
        if not isinstance(name, str) or not 1 <= len(name) <= 255 or any(paths._bad_char(c) for c in name):
            raise errors.InvalidInput("a key name is 1-255 characters without control characters")
        secret = "sk-memfs-" + secrets.token_urlsafe(32)
        ident = identity or self.identity
        with self.db.write() as tx:
            tx.run("INSERT INTO api_keys (id, name, secret_sha256, scopes, all_stores, created_at, created_by)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (kid, name, sha256(secret.encode()), json.dumps(scopes), all_stores, time.time(), ident.agent))
            return ApiKey._from(tx.one("SELECT * FROM api_keys WHERE id = ?", (kid,))), secret

    def api_keys(self, include_revoked: bool = True) -> list[ApiKey]:
        rows = self.db.all("SELECT * FROM api_keys ORDER BY created_at, id")
        keys = [ApiKey._from(r) for r in rows]
        return keys if include_revoked else [k for k in keys if k.revoked_at is None]

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke a key (by id or name); requests with it fail from now on."""
        with self.db.write() as tx:
            r = tx.one("SELECT * FROM api_keys WHERE id = ? OR name = ? ORDER BY created_at LIMIT 1", (key_id, key_id))
            if r is None:
                raise errors.NotFound(f"no such API key: {key_id!r}")
            tx.run("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", (time.time(), r["id"]))
            return ApiKey._from(tx.one("SELECT * FROM api_keys WHERE id = ?", (r["id"],)))

    def authenticate(self, secret: str) -> Optional[ApiKey]:
        """The live key with this secret, or None."""
        if not isinstance(secret, str) or not secret:
            return None
        r = self.db.one("SELECT * FROM api_keys WHERE secret_sha256 = ? AND revoked_at IS NULL",
                        (sha256(secret.encode("utf-8", "surrogateescape")),))
        return ApiKey._from(r) if r else None

    def revoked_api_key(self, secret: str) -> Optional[ApiKey]:
        """The revoked key with this secret, or None: to tell its holder why it no longer works."""
        if not isinstance(secret, str) or not secret:
            return None
        r = self.db.one("SELECT * FROM api_keys WHERE secret_sha256 = ? AND revoked_at IS NOT NULL",
                        (sha256(secret.encode("utf-8", "surrogateescape")),))
        return ApiKey._from(r) if r else None

    def has_api_keys(self) -> bool:
        return self.db.one("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1") is not None

    # ------------------------------------------------------------------ transcripts and dream jobs
    # What `memfs dream` keeps: the transcript registry, jobs, the per-store lock, model calls.

    def add_transcript(self, path: str, fmt: str, session_id: str, *, agent: Optional[str] = None,
                       stores: Optional[list] = None, size: int = 0, mtime: Optional[float] = None,
                       started_at: Optional[float] = None, ended_at: Optional[float] = None,
                       stats: Optional[dict] = None, reassign: bool = False) -> TranscriptInfo:
        """Register (or refresh) a transcript file; a file is registered once, by its path. A file
        registered as another agent's or session's is AlreadyExists, unless `reassign`."""
        if not session_id or not isinstance(session_id, str):
            raise errors.InvalidInput(f"{path}: a transcript needs a session id")
        now = time.time()
        with self.db.write() as tx:
            cur = tx.one("SELECT id, agent, session_id, stores FROM transcripts WHERE path = ?", (path,))
            if cur is not None and not reassign and (
                    (agent and cur["agent"] and agent != cur["agent"]) or session_id != cur["session_id"]):
                raise errors.AlreadyExists(f"{path} is registered already as session {cur['session_id']} of agent "
                                           f"{cur['agent'] or '-'} (--reassign to change that)")
            if cur is None:
                tx.run("INSERT INTO transcripts (path, format, session_id, agent, stores, size, mtime, started_at,"
                       " ended_at, stats, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (path, fmt, session_id, agent, json.dumps(sorted(stores or [])), size, mtime, started_at,
                        ended_at, json.dumps(stats or {}), now, now))
            else:
                merged = sorted(set(json.loads(cur["stores"])) | set(stores or []))
                tx.run("UPDATE transcripts SET format = ?, session_id = ?, agent = ?, stores = ?, size = ?, mtime = ?,"
                       " started_at = ?, ended_at = ?, stats = ?, updated_at = ? WHERE id = ?",
                       (fmt, session_id, agent or cur["agent"], json.dumps(merged), size, mtime, started_at, ended_at,
                        json.dumps(stats or {}), now, cur["id"]))
            return TranscriptInfo._from(tx.one("SELECT * FROM transcripts WHERE path = ?", (path,)))

    def transcripts(self, *, session_ids: Optional[Iterable[str]] = None, store=None,
                    since: Optional[float] = None) -> list[TranscriptInfo]:
        """Registered transcripts, oldest first: of some sessions, registered for a store, or
        active since a time."""
        where, params = [], []
        if session_ids is not None:
            ids = list(session_ids)
            if not ids:
                return []
            if len(ids) > 500:  # too many to bind: filter after reading
                rows = self.transcripts(store=store, since=since)
                want = set(ids)
                return [t for t in rows if t.session_id in want]
            where.append(f"session_id IN ({', '.join('?' * len(ids))})"), params.extend(ids)
        if since is not None:
            where.append("COALESCE(ended_at, started_at, mtime, added_at) >= ?"), params.append(since)
        sql = "SELECT * FROM transcripts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = [TranscriptInfo._from(r) for r in self.db.all(sql + " ORDER BY COALESCE(started_at, added_at), id",
                                                             params)]
        if store is not None:
            s = self._store(store)
            rows = [t for t in rows if s.name in t.stores or s.uid in t.stores]
        return rows

    def create_dream_job(self, ref, *, engine: str, model: Optional[str] = None, instructions: Optional[str] = None,
                         inputs: Optional[dict] = None, output: Optional[dict] = None) -> DreamJob:
        store = self._store(ref)
        if instructions is not None and len(instructions) > 4096:
            raise errors.InvalidInput("instructions are longer than 4,096 characters")
        jid = "drm_" + secrets.token_hex(10)
        with self.db.write() as tx:
            tx.run("INSERT INTO dream_jobs (id, store_id, status, engine, model, instructions, inputs, output, host, pid,"
                   " created_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
                   (jid, store.id, engine, model, instructions, json.dumps(inputs or {}), json.dumps(output or {}),
                    socket.gethostname(), os.getpid(), time.time()))
        return self.dream_job(jid)

    def dream_job(self, job_id: str) -> DreamJob:
        r = self.db.one("SELECT j.*, s.name AS store_name FROM dream_jobs j LEFT JOIN stores s ON s.id = j.store_id"
                        " WHERE j.id = ?", (job_id,))
        if r is None:
            raise errors.NotFound(f"no such dream job: {job_id!r} (see `memfs dream ls`)")
        return DreamJob._from(r)

    def dream_jobs(self, ref=None, *, status: Optional[str] = None, limit: Optional[int] = None) -> list[DreamJob]:
        """Dream jobs, newest first."""
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
        """Set fields of a job (JSON fields as Python values). With `expect_status`, only if the
        job is in one of those states (InvalidInput otherwise)."""
        allowed = {"status", "base_rev", "proposal", "usage", "error", "review", "applied", "started_at", "ended_at",
                   "applied_at", "output", "inputs", "model"}
        bad = set(fields) - allowed
        if bad:
            raise errors.InvalidInput(f"cannot set {', '.join(sorted(bad))} on a dream job")
        if "status" in fields and fields["status"] not in DREAM_STATUSES:
            raise errors.InvalidInput(f"status must be one of {', '.join(DREAM_STATUSES)}")
        if "review" in fields and fields["review"] not in DREAM_REVIEWS:
            raise errors.InvalidInput(f"review must be one of {', '.join(DREAM_REVIEWS)}")
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
        """Ask a pending or running job to stop (its runner checks between steps)."""
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
        """Take the store's dream lock. Returns None when taken, else the holder's record (host,
        pid, user, time) when another live holder has it. `is_stale(record)` decides whether an
        existing lock can be broken (its process is gone)."""
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
        store = self._store(ref)
        with self.db.write() as tx:
            return tx.run("DELETE FROM dream_locks WHERE store_id = ? AND host = ? AND pid = ?",
                          (store.id, host, pid)) > 0

    def dream_lock(self, ref) -> Optional[dict]:
        store = self._store(ref)
        r = self.db.one("SELECT * FROM dream_locks WHERE store_id = ?", (store.id,))
        return dict(r) if r else None

    def log_dream_call(self, job_id: str, *, phase: str, model: Optional[str], request: dict,
                       response: Optional[dict], usage: Optional[dict] = None, duration: float = 0.0,
                       error: Optional[str] = None) -> int:
        """Every model call a dream makes is logged: prompt, response, model, tokens, duration."""
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
        rows = self.db.all("SELECT * FROM dream_calls WHERE job_id = ? ORDER BY id", (job_id,))
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ replication and import
    # Another database's revisions replayed here, one for one, with their original attribution
    # and time. Only `memfs replicate` and `memfs import` (memfs/replication.py) call these.

    def database_id(self) -> str:
        """This database's own id, made with it (a copied file keeps it)."""
        return self.db.one("SELECT value FROM memfs_meta WHERE key = 'database_id'")[0]

    def atomic(self):
        """A context in which several writes commit (or roll back) as one (an import)."""
        return self.db.write()

    def replication_cursor(self, source: str) -> int:
        """The last revision of `source` replayed here (0: none)."""
        r = self.db.one("SELECT cursor FROM replication_cursors WHERE source = ?", (source,))
        return r[0] if r else 0

    def advance_replication_cursor(self, source: str, cursor: int) -> int:
        """Move the cursor of `source` past revisions that were not for here (never back)."""
        with self.db.write() as tx:
            self._set_cursor(tx, source, cursor)
        return self.replication_cursor(source)

    @staticmethod
    def _set_cursor(tx, source, cursor):
        tx.run("INSERT INTO replication_cursors (source, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT(source)"
               " DO UPDATE SET cursor = CASE WHEN excluded.cursor > replication_cursors.cursor THEN excluded.cursor"
               " ELSE replication_cursors.cursor END, updated_at = excluded.updated_at",
               (source, int(cursor), time.time()))

    def replay(self, rev, content: Optional[bytes], *, store: dict, origin: Optional[str] = None,
               cursor: Optional[tuple] = None) -> Optional[Revision]:
        """Append one revision of another database (a Revision or its dict) as it was: same
        operation, path, mode, content, agent, session, actor, dream job, API key, time and message,
        and its redaction. `store` describes the source store ({uid, name, description, metadata,
        max_content_bytes}); the store is found here by uid (replication keeps it) or, without a
        uid, by name (import). The root's mkdir creates the store. `origin` ("DBID:REV") is
        recorded on the new revision and is unique here; `cursor` = (source, source revision id)
        is stored in the same transaction. A revision already replayed (by cursor or origin)
        returns None, so replaying twice is harmless. A replay that does not make exactly one
        revision here fails: the target has diverged from the source."""
        rev = rev.to_dict() if isinstance(rev, Revision) else dict(rev)
        op, path = rev.get("op"), rev.get("path")
        if op not in ("create", "write", "symlink", "mkdir", "delete", "rmdir", "rename", "chmod") or not path:
            raise errors.InvalidInput(f"cannot replay a revision with operation {op!r} at {path!r}")
        ident = Identity(agent=rev.get("agent"), session=rev.get("session"), actor=rev.get("actor") or "operator",
                         dream_job=rev.get("dream_job"), api_key_id=rev.get("api_key_id"))
        redacted = rev.get("redacted_at") is not None
        if op in ("create", "write", "symlink") and not redacted:
            if content is None:
                raise errors.InvalidInput(f"revision {rev.get('id')} ({op} {path}): its content is missing")
            content = bytes(content)
            if rev.get("sha256") and sha256(content) != rev["sha256"]:
                raise errors.InvalidInput(f"revision {rev.get('id')} ({op} {path}): content does not match its hash")
        when = float(rev["created_at"])
        with self.db.write() as tx:
            if cursor is not None:
                done = tx.scalar("SELECT cursor FROM replication_cursors WHERE source = ?", (cursor[0],))
                if done is not None and cursor[1] <= done:
                    return None
            if origin is not None and tx.one("SELECT 1 FROM revisions WHERE origin = ?", (origin,)):
                if cursor is not None:
                    self._set_cursor(tx, *cursor)
                return None
            before = tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")
            if op == "mkdir" and path == "/":
                uid = store.get("uid")
                if uid and tx.one("SELECT 1 FROM stores WHERE uid = ?", (uid,)):
                    raise errors.AlreadyExists(f"store {uid} ({store.get('name')}) already exists here")
                s = self.create_store(store["name"], store.get("description") or "", store.get("metadata") or {},
                                      max_content_bytes=store.get("max_content_bytes") or DEFAULT_MAX_CONTENT,
                                      identity=ident)
                tx.run("UPDATE stores SET uid = COALESCE(?, uid), created_at = ?, updated_at = ? WHERE id = ?",
                       (uid, when, when, s.id))
            else:
                s = self._replay_store(tx, store)
                mtime = int(when * 1e9)
                if op in ("write", "delete", "rename", "chmod"):  # the target must hold what the source had
                    cur = tx.one("SELECT n.sha256, r.redacted_at FROM nodes n LEFT JOIN revisions r ON r.id = n.head_rev"
                                 " WHERE n.store_id = ? AND n.path = ?", (s.id, rev["old_path"] if op == "rename" else path))
                    expect = rev.get("prev_sha256") if op in ("write", "delete") else rev.get("sha256")
                    if cur is None or (expect and cur["redacted_at"] is None and cur["sha256"] != expect):
                        raise errors.PreconditionFailed(
                            f"{s.name}:{path} is not here as it was in the source before revision {rev.get('id')}: "
                            "the target has diverged from the source", current_sha256=cur and cur["sha256"])
                if op in ("create", "write"):
                    r = self.write(s, path, b"" if redacted else content, mode=rev["mode"], parents=False,
                                   if_absent=op == "create", identity=ident, mtime_ns=mtime, hooks=False)
                    if r.revision is None:
                        raise errors.MemfsError(f"replaying {op} {s.name}:{path} changed nothing: the target has "
                                                "diverged from the source")
                elif op == "symlink":
                    self.symlink(s, path, content.decode("utf-8", "surrogateescape"), identity=ident)
                elif op == "mkdir":
                    self.mkdir(s, path, mode=rev["mode"], identity=ident)
                elif op == "delete":
                    self.delete(s, path, identity=ident)
                elif op == "rmdir":
                    self.rmdir(s, path, identity=ident)
                elif op == "rename":
                    self.rename(s, rev["old_path"], path, noreplace=True, identity=ident)
                else:
                    self.chmod(s, path, rev["mode"], identity=ident)
            new = [r[0] for r in tx.all("SELECT id FROM revisions WHERE id > ? ORDER BY id", (before,))]
            if len(new) != 1:
                raise errors.MemfsError(f"replaying {op} {path} (revision {rev.get('id')}) made {len(new)} revisions "
                                        "here, not 1: the target has diverged from the source")
            tx.run("UPDATE revisions SET created_at = ?, message = ?, origin = ? WHERE id = ?",
                   (when, rev.get("message"), origin, new[0]))
            if "prev_sha256" in rev:  # as the source has it (a redaction there may have dropped it)
                tx.run("UPDATE revisions SET prev_sha256 = ? WHERE id = ?", (rev["prev_sha256"], new[0]))
            if redacted:
                tx.run("UPDATE revisions SET sha256 = NULL, size = 0, redacted_at = ?, redacted_by = ? WHERE id = ?",
                       (rev["redacted_at"], rev.get("redacted_by"), new[0]))
            if cursor is not None:
                self._set_cursor(tx, *cursor)
            return self._rev(tx, new[0])

    def _replay_store(self, tx, store: dict) -> Store:
        """The store revisions of `store` replay into: by uid (kept in step with the source's
        name, description, metadata and limit), else by name."""
        uid = store.get("uid")
        r = tx.one("SELECT * FROM stores WHERE uid = ?" if uid else "SELECT * FROM stores WHERE name = ?",
                   (uid or store["name"],))
        if r is None:
            raise errors.StoreNotFound(f"store {store.get('name')!r} ({uid or 'no id'}) is not here: its history must "
                                       "be replayed from the start")
        if uid:
            want = (store.get("name") or r["name"], store.get("description", r["description"]),
                    json.dumps(store.get("metadata", json.loads(r["metadata"]))),
                    store.get("max_content_bytes") or r["max_content_bytes"])
            if want != (r["name"], r["description"], r["metadata"], r["max_content_bytes"]):
                paths.check_store_name(want[0]), _check_metadata(json.loads(want[2]))
                if tx.one("SELECT 1 FROM stores WHERE name = ? AND id != ?", (want[0], r["id"])):
                    raise errors.AlreadyExists(f"the source renamed store {r['name']!r} to {want[0]!r}, a name "
                                               "another store has here")
                tx.run("UPDATE stores SET name = ?, description = ?, metadata = ?, max_content_bytes = ? WHERE id = ?",
                       (*want, r["id"]))
                r = tx.one("SELECT * FROM stores WHERE id = ?", (r["id"],))
        return Store._from(r)

    # ------------------------------------------------------------------ integrity

    def doctor(self, read_data: bool = True) -> DoctorReport:
        """Structural checks always; `read_data` re-hashes every blob."""
        rep = DoctorReport()
        p = rep.problems
        p += [{"type": "integrity_check", "message": m} for m in self.db.check()]
        with self.db.read() as tx:
            for r in tx.all("SELECT r.id, r.sha256 FROM revisions r LEFT JOIN blobs b ON b.sha256 = r.sha256"
                            " WHERE r.sha256 IS NOT NULL AND b.sha256 IS NULL"):
                p.append({"type": "missing_blob", "revision": r["id"], "sha256": r["sha256"],
                          "message": f"revision {r['id']} refers to blob {r['sha256']} which is missing"})
            for r in tx.all("SELECT n.id, n.path, n.head_rev FROM nodes n LEFT JOIN revisions r ON r.id = n.head_rev"
                            " WHERE n.path IS NOT NULL AND (r.id IS NULL OR r.node_id != n.id)"):
                p.append({"type": "bad_head", "node": r["id"], "path": r["path"],
                          "message": f"node {r['id']} ({r['path']}) points at revision {r['head_rev']}, which is not its own"})
            for r in tx.all("SELECT n.id, n.path, n.sha256, r.sha256 AS rsha FROM nodes n JOIN revisions r ON r.id = n.head_rev"
                            " WHERE n.path IS NOT NULL AND COALESCE(n.sha256, '') != COALESCE(r.sha256, '')"
                            " AND r.redacted_at IS NULL"):
                p.append({"type": "head_mismatch", "node": r["id"], "path": r["path"],
                          "message": f"{r['path']}: node hash {r['sha256']} differs from its head revision's {r['rsha']}"})
            for r in tx.all("SELECT n.id, n.path FROM nodes n LEFT JOIN nodes p ON p.id = n.parent_id"
                            " WHERE n.path IS NOT NULL AND n.parent_id IS NOT NULL AND (p.path IS NULL OR p.kind != 'dir')"):
                p.append({"type": "orphan_node", "node": r["id"], "path": r["path"],
                          "message": f"{r['path']} has no live parent directory"})
            for r in tx.all("SELECT id, name FROM stores s WHERE root_node IS NULL OR NOT EXISTS"
                            " (SELECT 1 FROM nodes n WHERE n.id = s.root_node AND n.path = '/')"):
                p.append({"type": "bad_root", "store": r["name"], "message": f"store {r['name']} has no root directory"})
            nblobs = tx.scalar("SELECT COUNT(*) FROM blobs")
            rep.checked = {"revisions": tx.scalar("SELECT COUNT(*) FROM revisions"),
                           "nodes": tx.scalar("SELECT COUNT(*) FROM nodes WHERE path IS NOT NULL"),
                           "blobs": nblobs, "stores": tx.scalar("SELECT COUNT(*) FROM stores"),
                           "blobs_read": 0}
            if read_data:
                for r in tx.all("SELECT sha256, size, content FROM blobs"):
                    data = bytes(r["content"])
                    rep.checked["blobs_read"] += 1
                    if sha256(data) != r["sha256"] or len(data) != r["size"]:
                        p.append({"type": "corrupt_blob", "sha256": r["sha256"],
                                  "message": f"blob {r['sha256']} does not match its hash (content damaged)"})
        return rep

    # ------------------------------------------------------------------ internals

    def _store(self, ref) -> Store:
        return ref if isinstance(ref, Store) else self.get_store(ref)

    def _writable(self, tx, store: Store) -> Store:
        """The store as it is now (another process may have archived it or changed its limit)."""
        r = tx.one("SELECT name, max_content_bytes, archived_at FROM stores WHERE id = ?", (store.id,))
        return self._writable_row(store, r)

    @staticmethod
    def _writable_row(store: Store, r) -> Store:
        """`_writable` from the store's row (name, max_content_bytes, archived_at), read in the transaction."""
        if r is None:
            raise errors.StoreNotFound(f"no such store: {store.name!r}")
        if r["archived_at"] is not None:
            raise errors.ReadOnly(f"store {r['name']!r} is archived and read-only")
        if (r["name"], r["max_content_bytes"]) == (store.name, store.max_content_bytes):
            return store
        return replace(store, name=r["name"], max_content_bytes=r["max_content_bytes"])

    def _rev_for(self, store, rev, at) -> Optional[int]:
        if rev is not None and at is not None:
            raise errors.InvalidInput("give a revision or a time, not both")
        if at is not None:
            with self.db.read() as tx:
                rev = tx.scalar("SELECT MAX(id) FROM revisions WHERE store_id = ? AND created_at <= ?", (store.id, at))
            if rev is None:
                raise errors.RevisionNotFound(f"store {store.name!r} did not exist at that time")
        return rev

    def _resolve_at(self, tx, store, path, rev):
        """The revision row describing `path` as of revision `rev`, walking the tree as it was."""
        def state(nid):
            return tx.one("SELECT * FROM revisions WHERE node_id = ? AND id <= ? ORDER BY id DESC LIMIT 1", (nid, rev))

        cur = state(store.root_node)
        if cur is None:
            return None
        for comp in paths.components(path):
            found = None
            for (nid,) in tx.all("SELECT DISTINCT node_id FROM revisions WHERE parent_id = ? AND name = ? AND id <= ?",
                                 (cur["node_id"], comp, rev)):
                s = state(nid)
                if s and s["parent_id"] == cur["node_id"] and s["name"] == comp and s["op"] not in GONE_OPS:
                    found = s
                    break
            if found is None:
                return None
            cur = found
        return cur

    def _parent_for(self, tx, store, path, parents, ident, now) -> int:
        ppath = paths.split(path)[0]
        p = tx.one("SELECT id, kind FROM nodes WHERE store_id = ? AND path = ?", (store.id, ppath))
        if p is not None:
            if p["kind"] != DIR:
                raise errors.NotADirectory(f"{store.name}:{ppath} is not a directory")
            return p["id"]
        if not parents:
            raise errors.PathNotFound(f"{store.name}:{ppath}: no such directory")
        gp = self._parent_for(tx, store, ppath, True, ident, now)
        return self._new_dir(tx, store, gp, ppath, 0o755, ident, None, now)

    def _new_dir(self, tx, store, parent, path, mode, ident, message, now, node_id=None) -> int:
        ns = _now_ns()
        name = paths.split(path)[1]
        nid = tx.run(
            "INSERT INTO nodes (id, store_id, kind, parent_id, name, path, size, mode, mtime_ns, ctime_ns, created_at)"
            " VALUES (?, ?, 'dir', ?, ?, ?, 0, ?, ?, ?, ?)",
            (self._claim_node(tx, node_id), store.id, parent, name, path, mode & 0o7777, ns, ns, now))
        rev = self._append(tx, store.id, nid, "mkdir", DIR, parent, name, path, None, None, None, 0, mode & 0o7777,
                           None, ident, message, now)
        tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (rev, nid))
        return nid

    def _remove(self, tx, store, cur, op, ident, message, now=None) -> int:
        now = now or time.time()
        rev = self._append(tx, store.id, cur["id"], op, cur["kind"], cur["parent_id"], cur["name"], cur["path"], None,
                           None, cur["sha256"], 0, cur["mode"], cur["head_rev"], ident, message, now)
        tx.run("UPDATE nodes SET path = NULL, deleted_at = ?, head_rev = ? WHERE id = ?", (now, rev, cur["id"]))
        return rev

    def lease(self, node_id: int, owner: str, *, if_match: Optional[str] = None,
              seconds: Optional[float] = None) -> Optional[str]:
        """Reserve a file for `owner` (a mount's rewrite, from its first write() to its close()):
        until the owner commits, releases or lets `seconds` pass, other writers of the file wait
        (store API) or are refused (other mounts) — so that a refusal reaches a writer at write(),
        where a shell reports it, and not at close(), where it does not. With `if_match`, only if
        the stored content still has that hash. Returns the stored hash, which cannot change until
        the lease ends. A lease is not a revision and is not fsynced."""
        with self.db.write(durable=False) as tx:
            cur = tx.one("SELECT * FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
            if cur is None:
                raise errors.PathNotFound(f"no such file (node {node_id})")
            _check_lease(cur, owner, cur["path"])
            if if_match is not None and cur["sha256"] != if_match:
                raise errors.PreconditionFailed(f"{cur['path']} changed: expected {if_match}, stored {cur['sha256']}",
                                                current_sha256=cur["sha256"])
            seconds = settings.get("MEMFS_LEASE_SECONDS") if seconds is None else seconds
            tx.run("UPDATE nodes SET lease_owner = ?, lease_until = ? WHERE id = ?", (owner, time.time() + seconds, node_id))
            return cur["sha256"]

    def release_lease(self, node_id: int, owner: str) -> None:
        with self.db.write(durable=False) as tx:
            tx.run("UPDATE nodes SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                   (node_id, owner))

    def reserve_node_ids(self, n: int = 1) -> range:
        """Reserve ids for nodes not yet created (a mount's inode numbers for new files)."""
        with self.db.write() as tx:
            first = self._alloc_node(tx, n)
            return range(first, first + n)

    @staticmethod
    def _alloc_node(tx, n: int = 1) -> int:
        """Node ids come from one counter (not AUTOINCREMENT) so that ids can be reserved ahead."""
        return tx.scalar("UPDATE counters SET value = value + ? WHERE name = 'node' RETURNING value", (n,)) - n + 1

    def _claim_node(self, tx, node_id, known=None):
        """A new node's id: a fresh one, or `node_id` if it was reserved and is still free.
        `known`: a row with `taken` and `top` the caller already read for it (write's hot path)."""
        if node_id is None:
            return self._alloc_node(tx)
        r = known or tx.one("SELECT EXISTS (SELECT 1 FROM nodes WHERE id = ?) AS taken,"
                            " (SELECT value FROM counters WHERE name = 'node') AS top", (node_id,))
        if r["taken"] or node_id > r["top"]:
            raise errors.InvalidInput(f"node id {node_id} is taken or was never reserved")
        return node_id

    @staticmethod
    def _put_blob(tx, digest, content, now):
        tx.run("INSERT INTO blobs (sha256, size, is_binary, content, created_at) VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT DO NOTHING",
               (digest, len(content), int(is_binary(content)), content, now))

    @staticmethod
    def _append(tx, store_id, node_id, op, kind, parent_id, name, path, old_path, sha, prev_sha, size, mode,
                base_rev, ident: Identity, message, now) -> int:
        return tx.run(
            "INSERT INTO revisions (store_id, node_id, op, kind, parent_id, name, path, old_path, sha256, prev_sha256,"
            " size, mode, base_rev, created_at, agent, session, actor, dream_job, message, api_key_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (store_id, node_id, op, kind, parent_id, name, path, old_path, sha, prev_sha, size, mode, base_rev, now,
             ident.agent, ident.session, ident.actor, ident.dream_job, message, ident.api_key_id))

    @staticmethod
    def _rev(tx, rev_id) -> Optional[Revision]:
        r = tx.one("SELECT r.*, s.name AS store_name FROM revisions r JOIN stores s ON s.id = r.store_id WHERE r.id = ?",
                   (rev_id,))
        return Revision._from(r) if r else None


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
