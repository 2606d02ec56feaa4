"""Replication, export and import: one database's revisions replayed in another, in order, with
their original attribution (`Memfs.replay`).

`replicate` reads the source's change feed (`Memfs.changes`) and replays every revision into a
target: another SQLite database, or a memfs server (`/v1/memfs/replication`, see
http/replication.py). The cursor (the last source revision replayed) lives in the TARGET and is
written in the transaction of each replayed revision, so a replicator killed at any moment
resumes where the target says, with no revision twice and none missing. Each replayed revision
also records its origin ("SOURCE_DATABASE_ID:REVISION"), unique in the target.

Branches (memfs branch) are not replicated: a branch is work aside that lands in its store by a
merge, and the merge's revisions are replicated like any other. A branch's state (its base, its
link to the store, merged or discarded) is not in the change feed, and a branch carried as a plain
store would be a different thing on the target. Naming a branch in `stores` is refused; `memfs
export STORE@NAME` copies one, and `memfs migrate` moves a whole database with its branches.

Export formats (version 1), both read back by `import_file`:
- jsonl: a `memfs_export` header (format version, source database id, the store), then `blob`
  records (base64, each before the first revision that needs it) and `revision` records in
  revision order, then an `end` record with the counts (a truncated file is refused).
- tar: the current tree as files, directories and symlinks under the store's name, and first a
  `.memfs-history.jsonl` holding the same records, without the blobs the tree already holds.
Without --with-history the revisions are the current tree only: one per entry, attributed as the
entry's last revision was.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import tarfile
import time
import urllib.error
import urllib.request
from typing import Callable, Iterable, Optional

from . import errors
from .store import DIR, FILE, SYMLINK, Memfs, Revision, sha256

FORMAT_VERSION = 1
HISTORY_MEMBER = ".memfs-history.jsonl"
CONTENT_OPS = ("create", "write", "symlink")
# what a replayed revision carries (the server's replay body takes these and no others)
REPLAY_FIELDS = ("id", "op", "kind", "path", "old_path", "sha256", "prev_sha256", "size", "mode", "created_at",
                 "agent", "session", "actor", "dream_job", "api_key_id", "message", "redacted_at", "redacted_by")


def store_info(s) -> dict:
    return {"uid": s.uid, "name": s.name, "description": s.description, "metadata": s.metadata,
            "max_content_bytes": s.max_content_bytes}


def rev_record(r: Revision) -> dict:
    d = r.to_dict()
    d.pop("store_name", None)
    d.pop("merged_from_store", None)
    return d


# ---------------------------------------------------------------------------- targets


class SQLiteTarget:
    """Another memfs database file."""

    def __init__(self, path: str):
        self.url = path
        self.m = Memfs(path)

    def database_id(self) -> str:
        return self.m.database_id()

    def cursor(self, source: str) -> int:
        return self.m.replication_cursor(source)

    def advance(self, source: str, cursor: int) -> None:
        self.m.advance_replication_cursor(source, cursor)

    def replay(self, source: str, source_db: str, items: list) -> int:
        n = 0
        for rev, content, info in items:
            if self.m.replay(rev, content, store=info, origin=f"{source_db}:{rev.id}", cursor=(source, rev.id)):
                n += 1
        return n

    def close(self):
        self.m.close()


class HttpTarget:
    """A memfs server, through its replication extension (full attribution; the key needs
    --all-stores=rw)."""

    def __init__(self, url: str, key: Optional[str] = None, timeout: float = 30.0):
        self.url, self.key, self.timeout = url.rstrip("/"), key, timeout

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json",
                                              **({"x-api-key": self.key} if self.key else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read())["error"]["message"]
            except Exception:
                msg = e.reason
            err = {401: errors.Unauthenticated, 403: errors.NotPermitted, 404: errors.NotFound,
                   409: errors.AlreadyExists, 400: errors.InvalidInput}.get(e.code, errors.MemfsError)
            raise err(f"{self.url}: {e.code} {msg}") from None
        except (urllib.error.URLError, OSError) as e:
            raise errors.MemfsError(f"{self.url}: cannot reach the server ({getattr(e, 'reason', e)})") from None

    def database_id(self) -> str:
        return self._call("GET", "/v1/memfs/replication")["database_id"]

    def cursor(self, source: str) -> int:
        return int(self._call("GET", "/v1/memfs/replication?source=" + urllib.request.quote(source))["cursor"])

    def advance(self, source: str, cursor: int) -> None:
        self._call("POST", "/v1/memfs/replication/advance", {"source": source, "cursor": cursor})

    def replay(self, source: str, source_db: str, items: list) -> int:
        body = {"source": source, "source_database_id": source_db, "items": [
            {"store": info, "revision": {f: getattr(rev, f) for f in REPLAY_FIELDS},
             "content_base64": None if content is None else base64.b64encode(content).decode()}
            for rev, content, info in items]}
        return int(self._call("POST", "/v1/memfs/replication/replay", body)["replayed"])

    def close(self):
        pass


DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".memfs")


def open_target(target: str, key: Optional[str] = None):
    """A replication target: http(s)://HOST:PORT, or a database file (made if need be), which
    must look like one: `--to $MEMFS_DB --once` with MEMFS_DB unset must not replicate for ever
    into a new file named --once."""
    if target.startswith("-"):
        raise errors.InvalidInput(f"the target {target!r} starts with '-', so it is an option, not a database "
                                  "(an empty variable before it?)")
    if target.startswith(("http://", "https://")):
        return HttpTarget(target, key)
    if "://" in target and not target.startswith("sqlite://"):
        raise errors.InvalidInput(f"a target is a database file, sqlite:///PATH or http(s)://URL, not {target!r}")
    path = target.removeprefix("sqlite:///").removeprefix("sqlite://")
    if not (target.startswith("sqlite:") or "/" in path or path.endswith(DB_SUFFIXES) or os.path.isfile(path)):
        raise errors.InvalidInput(f"the target {target!r} does not look like a database: give a file PATH ending in "
                                  f"{', '.join(DB_SUFFIXES)} or with a '/' (./{target}), sqlite:///PATH or "
                                  "http(s)://HOST:PORT")
    return SQLiteTarget(path)


# ---------------------------------------------------------------------------- replicate


def replicate(source: Memfs, target, *, stores: Iterable[str] = (), once: bool = False, batch: int = 200,
              poll: float = 0.2, progress: Optional[Callable[[int, int], None]] = None,
              should_stop: Callable[[], bool] = lambda: False) -> tuple[int, int]:
    """Replay the source's revisions (of `stores`, else all) into `target` until caught up
    (`once`) or forever. Returns (revisions replayed, cursor)."""
    src_id = source.database_id()
    if target.database_id() == src_id:
        raise errors.InvalidInput("the target is the source database itself")
    for n in stores:
        parent = source.branch_parent(n)
        if parent is not None:
            raise errors.InvalidInput(f"{source.get_store(n).name} is a branch of {parent.name}: branches are not "
                                      f"replicated (merge it into {parent.name}, whose revisions are; or copy it "
                                      f"with memfs export)")
    wanted = {source.get_store(n).id: source.get_store(n).name for n in stores} if stores else None
    branch = {}  # store id -> is it a branch (which never changes)
    key = src_id if wanted is None else src_id + "?stores=" + ",".join(sorted(wanted.values()))
    cursor, total = target.cursor(key), 0
    while not should_stop():
        with source.snapshot():  # revisions and their content from one snapshot (a redaction may race)
            revs = source.changes(after=cursor, limit=batch)
            infos, items = {}, []
            for r in revs:
                if wanted is not None and r.store_id not in wanted:
                    continue
                if r.store_id not in branch:
                    branch[r.store_id] = source.branch_parent(r.store_id) is not None
                if branch[r.store_id]:  # a branch or a time-travel copy (see the module's doc)
                    continue
                if r.store_id not in infos:
                    infos[r.store_id] = store_info(source.get_store(r.store_id))
                content = source.blob(r.sha256) if r.op in CONTENT_OPS and r.sha256 else None
                items.append((r, content, infos[r.store_id]))
        if not revs:
            if once:
                break
            time.sleep(poll)
            continue
        if items:
            total += target.replay(key, src_id, items)
        if not items or items[-1][0].id != revs[-1].id:
            target.advance(key, revs[-1].id)
        cursor = revs[-1].id
        if progress:
            progress(total, cursor)
    return total, cursor


# ---------------------------------------------------------------------------- export


def export_records(m: Memfs, ref, with_history: bool = True):
    """The records of an export (dicts), in order; blobs each once, before their first use."""
    s = m.get_store(ref)
    if with_history:
        revs = m.log(s, newest_first=False)
    else:
        tree = m.tree(s)
        revs = []
        for p in sorted(tree, key=lambda p: (p != "/", p.count("/"), p)):
            e = tree[p]
            head = m.revision(e.rev)
            op = {DIR: "mkdir", SYMLINK: "symlink"}.get(e.kind, "create")
            revs.append(Revision(e.rev, s.id, e.node_id, op, e.kind, None, p.rsplit("/", 1)[-1], p, None, e.sha256,
                                 None, e.size, e.mode, None, head.created_at, head.agent, head.session, head.actor,
                                 head.dream_job, head.message, api_key_id=head.api_key_id))
    yield {"type": "memfs_export", "version": FORMAT_VERSION, "database_id": m.database_id(),
           "store": store_info(s), "with_history": with_history, "exported_at": time.time()}
    seen = set()
    for r in revs:
        if r.op in CONTENT_OPS and r.sha256 and r.sha256 not in seen:
            seen.add(r.sha256)
            yield {"type": "blob", "sha256": r.sha256, "content_base64": base64.b64encode(m.blob(r.sha256)).decode()}
        yield {"type": "revision", **rev_record(r)}
    yield {"type": "end", "revisions": len(revs), "blobs": len(seen)}


def export_store(m: Memfs, ref, out, fmt: str = "jsonl", with_history: bool = True) -> dict:
    """Write an export to the binary file `out`; returns the `end` record (counts)."""
    if fmt not in ("jsonl", "tar"):
        raise errors.InvalidInput(f"--format must be jsonl or tar, not {fmt!r}")
    with m.snapshot():  # one snapshot
        records = list(export_records(m, ref, with_history))
        s = m.get_store(ref)
        tree = m.tree(s) if fmt == "tar" else {}
        files = {p: m.blob(e.sha256) for p, e in tree.items() if e.kind in (FILE, SYMLINK)}
    if fmt == "jsonl":
        for rec in records:
            out.write(json.dumps(rec).encode() + b"\n")
        return records[-1]
    in_tree = {sha256(b) for b in files.values()}
    hist = b"".join(json.dumps(r).encode() + b"\n" for r in records
                    if not (r["type"] == "blob" and r["sha256"] in in_tree))
    now = time.time()
    with tarfile.open(fileobj=out, mode="w|") as tar:
        def add(name, kind, mode=0o644, data=b"", target=None):
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = now, mode
            if kind == DIR:
                ti.type = tarfile.DIRTYPE
            elif kind == SYMLINK:
                ti.type, ti.linkname = tarfile.SYMTYPE, target
            else:
                ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data) if kind == FILE else None)

        add(HISTORY_MEMBER, FILE, 0o600, hist)
        for p in sorted(tree):
            e = tree[p]
            name = s.name + p if p != "/" else s.name
            if e.kind == SYMLINK:
                add(name, SYMLINK, 0o777, target=files[p].decode("utf-8", "surrogateescape"))
            else:
                add(name, e.kind, e.mode, files.get(p, b""))
    return records[-1]


# ---------------------------------------------------------------------------- import


def _bad(path, msg):
    return errors.InvalidInput(f"{path}: not a memfs export: {msg}")


def read_export(path: str) -> tuple[list[dict], dict]:
    """(records, blobs by sha) of an export file, jsonl or tar, checked: header and version,
    every line, every blob against its hash, and the end record's counts."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise errors.NotFound(f"{path}: {e.strerror}") from None
    blobs: dict[str, bytes] = {}
    if tarfile.is_tarfile(io.BytesIO(data)) and not data.lstrip().startswith(b"{"):
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                hist = None
                for ti in tar:
                    if ti.name == HISTORY_MEMBER and hist is None:
                        hist = tar.extractfile(ti).read()
                    elif ti.isfile():
                        b = tar.extractfile(ti).read()
                        blobs[sha256(b)] = b
                    elif ti.issym():
                        b = ti.linkname.encode("utf-8", "surrogateescape")
                        blobs[sha256(b)] = b
        except (tarfile.TarError, EOFError, OSError) as e:
            raise _bad(path, f"damaged tar archive ({e})") from None
        if hist is None:
            raise _bad(path, f"the archive has no {HISTORY_MEMBER}")
        data = hist
    records = []
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "type" not in rec:
                raise ValueError("not a record")
        except ValueError as e:
            raise _bad(path, f"line {n} is not a JSON record ({e})") from None
        if rec["type"] == "blob":
            try:
                b = base64.b64decode(rec["content_base64"], validate=True)
            except (KeyError, ValueError, TypeError):
                raise _bad(path, f"line {n}: bad base64 content") from None
            if sha256(b) != rec.get("sha256"):
                raise _bad(path, f"line {n}: blob content does not match its hash {rec.get('sha256')}")
            blobs[rec["sha256"]] = b
        else:
            records.append(rec)
    if not records or records[0].get("type") != "memfs_export":
        raise _bad(path, "no memfs_export header")
    if records[0].get("version") != FORMAT_VERSION:
        raise _bad(path, f"format version {records[0].get('version')!r}; this memfs reads version {FORMAT_VERSION}")
    if records[-1].get("type") != "end":
        raise _bad(path, "it ends early (no end record): truncated")
    revs = [r for r in records if r.get("type") == "revision"]
    if len(revs) != records[-1].get("revisions"):
        raise _bad(path, f"{len(revs)} revisions, the end record says {records[-1].get('revisions')}")
    return records, blobs


def import_file(m: Memfs, path: str, name: Optional[str] = None) -> tuple:
    """Import an export as a new store (named `name`, else as exported), all of it or nothing,
    every revision with its original attribution and time. Returns (store, revisions)."""
    records, blobs = read_export(path)
    header = records[0]
    info = dict(header.get("store") or {})
    info["name"] = name or info.get("name")
    if not info.get("name"):
        raise _bad(path, "the header names no store")
    info.pop("uid", None)  # a new store here, with its own id
    revs = [r for r in records if r["type"] == "revision"]
    if not revs or revs[0].get("op") != "mkdir" or revs[0].get("path") != "/":
        raise _bad(path, "the first revision does not create the store root")
    origin = f"{header.get('database_id') or 'unknown'}:{{}}@import_{secrets.token_hex(6)}"
    with m.atomic():
        for r in revs:
            content = None
            if r.get("op") in CONTENT_OPS and r.get("sha256"):
                content = blobs.get(r["sha256"])
                if content is None:
                    raise _bad(path, f"revision {r.get('id')} needs blob {r['sha256']}, which is not in the file")
            try:
                m.replay(r, content, store=info, origin=origin.format(r.get("id")))
            except (KeyError, TypeError, ValueError) as e:
                raise _bad(path, f"revision {r.get('id')} is incomplete ({e})") from None
            except errors.AlreadyExists as e:
                if r is revs[0]:
                    raise errors.AlreadyExists(f"{e.message}: import it under another name with --as NAME") from None
                raise _bad(path, f"revision {r.get('id')} ({r.get('op')} {r.get('path')}) cannot be replayed: "
                                 f"{e.message}") from None
            except errors.MemfsError as e:
                raise _bad(path, f"revision {r.get('id')} ({r.get('op')} {r.get('path')}) cannot be replayed: "
                                 f"{e.message}") from None
    s = m.get_store(info["name"])
    return s, len(revs)
