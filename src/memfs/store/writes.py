"""The write path: write, append, mkdir, symlink, delete, rmdir, rm -r, rename, chmod, mtime.
Every change appends a revision in the same transaction as the blob and the node head."""

from __future__ import annotations

import functools
import time
from typing import Optional

from .. import errors, paths, settings
from .records import (
    DIR, FILE, SYMLINK, Identity, Node, Revision, WriteResult, _check_lease, _like_prefix, _now_ns,
    WriteOptions, check_hash, sha256,
)


NO_OPTIONS = WriteOptions()


def _waits_for_leases(method):
    """A write from a caller that holds no lease waits (bounded) while another session's write
    lease on the file runs out or is released; a lease holder, a caller that asked not to wait
    (`WriteOptions(wait=False)`), or a write inside a larger transaction gets `errors.Leased` at
    once."""

    @functools.wraps(method)
    def wrapper(self, *args, **kw):
        opts = kw.get("opts") or NO_OPTIONS
        deadline = time.monotonic() + settings.get("MEMFS_LEASE_SECONDS") + 1
        delay = 0.002
        while True:
            try:
                return method(self, *args, **kw)
            except errors.Leased:
                if (opts.lease_owner is not None or not opts.wait or self.db.in_transaction
                        or time.monotonic() > deadline):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    return wrapper


class WritesMixin:
    """The write path. Every change appends one revision, in the transaction that writes the
    blob and moves the node's head."""

    @_waits_for_leases
    def write(self, ref, path: str, content: bytes, *, if_match: Optional[str] = None,
              if_absent: bool = False, mode: Optional[int] = None, message: Optional[str] = None,
              parents: bool = True, identity: Optional[Identity] = None, hooks: bool = True,
              opts: Optional[WriteOptions] = None) -> WriteResult:
        """Create or replace a file.

        :param ref: the store (name, uid or Store)
        :param path: the file's path in the store
        :param content: the new content (bytes; a str is written as UTF-8)
        :param if_match: write only if the stored content has this SHA-256
        :param if_absent: write only if nothing is at `path`
        :param mode: permission bits (default: a new file 0o644, an existing one keeps its own)
        :param message: a note recorded on the revision
        :param parents: create missing parent directories (else PathNotFound)
        :param identity: who writes (default: this Memfs's identity)
        :param hooks: run the store's write hooks first, outside the transaction (they may refuse
            with HookRefused, or redact the content); False is for callers that ran them already
            or that restore stored content (revert)
        :param opts: what a mount adds (`WriteOptions`): the reserved node id a new file gets,
            the mtime a tool set, the lease it holds, whether to wait for another's lease
        :returns: a WriteResult; `revision` is None when the content was already there (a no-op,
            which succeeds even when a precondition would fail)

        Raises PreconditionFailed (carrying the stored hash) when `if_match`/`if_absent` fail,
        ContentTooLarge, IsADirectory, NotADirectory, PathNotFound, ReadOnly (archived store),
        HookRefused, InvalidInput, and Leased when another session's write lease holds the file
        past the wait (at once with `opts.wait=False` or `opts.lease_owner` set)."""
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
        ident = identity or self.identity
        while True:
            # None: the write skipped its hooks (none were known, or the content was identical)
            # but its transaction found that they must run: again, with the hooks
            r = self._write_attempt(store, path, content, if_match, if_absent, mode, message, parents, ident, hooks,
                                    opts or NO_OPTIONS)
            if r is not None:
                return r

    def _write_attempt(self, store, path, content, if_match, if_absent, mode, message, parents, ident, hooks,
                       opts: WriteOptions) -> Optional[WriteResult]:
        node_id, mtime_ns, lease_owner = opts.node_id, opts.mtime_ns, opts.lease_owner
        digest = sha256(content)
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
                    return None
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
            if unhooked:  # identical when the hooks were skipped, changed since
                return None
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
               identity: Optional[Identity] = None, opts: Optional[WriteOptions] = None) -> WriteResult:
        """Append to a file (created if missing): read-modify-write in one transaction, so appends
        from many writers never conflict and never lose each other's bytes. Write hooks see the
        appended bytes (operation "append"), before the transaction.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :param data: the bytes to add (a str is UTF-8)
        :param mode: permission bits of a new file
        :param message: a note recorded on the revision
        :param identity: who acts (default: this Memfs's identity)
        :param opts: a mount's WriteOptions (mtime, lease held, whether to wait for another's lease)
        :returns: a WriteResult

        Raises IsADirectory (not a file), ContentTooLarge, ReadOnly, HookRefused, Leased, StoreNotFound."""
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
                           opts=opts, hooks=False)
            r.redacted = data != given
            return r

    def mkdir(self, ref, path: str, *, mode: int = 0o755, parents: bool = False, exist_ok: bool = False,
              message: Optional[str] = None, identity: Optional[Identity] = None,
              opts: Optional[WriteOptions] = None) -> Node:
        """Create a directory.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the new directory's path
        :param mode: permission bits
        :param parents: create missing parents too
        :param exist_ok: an existing directory is not an error (it is returned)
        :param message: a note recorded on the revision
        :param identity: who acts (default: this Memfs's identity)
        :param opts: a mount's WriteOptions (`node_id`: the reserved id it gets)
        :returns: the new (or existing) directory's Node

        Raises AlreadyExists, PathNotFound (no parent, without `parents`), NotADirectory, ReadOnly,
        InvalidInput (a bad name or reserved id), StoreNotFound."""
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
            nid = self._new_dir(tx, store, parent, path, mode, ident, message, now, (opts or NO_OPTIONS).node_id)
            return Node._from(tx.one("SELECT * FROM nodes WHERE id = ?", (nid,)))

    def symlink(self, ref, path: str, target: str, *, identity: Optional[Identity] = None,
                message: Optional[str] = None, opts: Optional[WriteOptions] = None) -> Node:
        """Create a symbolic link inside a store. Targets must stay inside the store: absolute
        targets and targets that climb above the store root are refused.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the link's path
        :param target: a relative path (str, or bytes as the kernel gives it)
        :param identity: who acts (default: this Memfs's identity)
        :param message: a note recorded on the revision
        :param opts: a mount's WriteOptions (`node_id`: the reserved id it gets)
        :returns: the link's Node

        Raises NotPermitted (a target outside the store), AlreadyExists, PathNotFound, ReadOnly,
        StoreNotFound."""
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
                (self._claim_node(tx, (opts or NO_OPTIONS).node_id), store.id, parent, name, path, digest, len(data),
                 0o777, ns, ns, now))
            rev = self._append(tx, store.id, nid, "symlink", SYMLINK, parent, name, path, None, digest, None,
                               len(data), 0o777, None, ident, message, now)
            tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (rev, nid))
            return Node._from(tx.one("SELECT * FROM nodes WHERE id = ?", (nid,)))

    @_waits_for_leases
    def delete(self, ref, path: str, *, if_match: Optional[str] = None, message: Optional[str] = None,
               identity: Optional[Identity] = None, opts: Optional[WriteOptions] = None) -> Revision:
        """Delete a file or symlink (directories: `rmdir`, trees: `remove_tree`). History is kept.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :param if_match: delete only if the stored content has this SHA-256
        :param message: a note recorded on the revision
        :param identity: who acts (default: this Memfs's identity)
        :param opts: a mount's WriteOptions (the lease it holds; `wait=False`: no waiting)
        :returns: the delete's Revision

        Raises PathNotFound, IsADirectory, PreconditionFailed, Leased, ReadOnly, StoreNotFound."""
        lease_owner = (opts or NO_OPTIONS).lease_owner
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
        """Remove an empty directory.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the directory's path
        :param message: a note recorded on the revision
        :param identity: who acts (default: this Memfs's identity)
        :returns: the rmdir's Revision

        Raises PathNotFound, NotADirectory, DirectoryNotEmpty, NotPermitted (the root), ReadOnly,
        StoreNotFound."""
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
        """`rm -r`: every file and directory at or under a path, deepest first, in one transaction.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file or directory to remove
        :param identity: who acts (default: this Memfs's identity)
        :param message: a note recorded on each revision
        :returns: the new Revisions

        Raises PathNotFound, NotPermitted (the root), ReadOnly, StoreNotFound."""
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
               opts: Optional[WriteOptions] = None) -> Revision:
        """Move a file, symlink or whole directory. The node keeps its id (and its history).
        An existing target is replaced as POSIX rename does (recorded as its deletion).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param src: the current path
        :param dst: the new path (its parent must exist)
        :param noreplace: fail if `dst` exists
        :param if_match: move only if the source's content has this SHA-256
        :param message: a note recorded on the revision
        :param identity: who acts (default: this Memfs's identity)
        :param opts: a mount's WriteOptions (the lease it holds; `wait=False`: no waiting)
        :returns: the rename's Revision (the head revision when `src` == `dst`)

        Raises PathNotFound, AlreadyExists (`noreplace`), IsADirectory, NotADirectory,
        DirectoryNotEmpty, InvalidInput (into itself), NotPermitted (the root), PreconditionFailed,
        Leased, ReadOnly, StoreNotFound."""
        lease_owner = (opts or NO_OPTIONS).lease_owner
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
        """Change an entry's permission bits (a revision of its own).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the entry's path
        :param mode: the new bits (only 0o7777 is kept)
        :param identity: who acts (default: this Memfs's identity)
        :returns: the chmod's Revision, or None when the mode was already that

        Raises PathNotFound, ReadOnly, StoreNotFound."""
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
        """Set a node's modification time. Timestamps are metadata, not content: no revision
        (touch, tar, rsync).

        :param node_id: the node
        :param mtime_ns: nanoseconds since the epoch

        Raises PathNotFound, ReadOnly."""
        with self.db.write() as tx:
            n = tx.one("SELECT store_id FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
            if n is None:
                raise errors.PathNotFound(f"no such node {node_id}")
            self._writable(tx, self._store(n["store_id"]))
            tx.run("UPDATE nodes SET mtime_ns = ?, ctime_ns = ? WHERE id = ?", (mtime_ns, _now_ns(), node_id))
