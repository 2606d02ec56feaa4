"""The HTTP API's id view: files by their id (the node id, stable across renames) and their
versions (revisions in VERSION_OPS), so that the API stays a thin front end."""

from __future__ import annotations

from typing import Iterable, Optional

from .. import errors, paths
from .records import (DIR, FILE, REV_COLUMNS, VERSION_OPS, FileInfo, Identity, Node, Revision, WriteResult, check_hash,
                      sha256)


class FilesMixin:
    """The HTTP API's view: files by id, versions of files."""

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
        """A live file of a store by its id (the HTTP API's memory).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param node_id: the file's id
        :returns: a FileInfo

        Raises PathNotFound, StoreNotFound."""
        store = self._store(ref)
        with self.db.read() as tx:
            rows = self._file_rows(tx, "n.store_id = ? AND n.id = ?", (store.id, node_id))
        if not rows:
            raise errors.PathNotFound(f"store {store.name!r} has no file with id {node_id}")
        return rows[0]

    def files(self, ref, prefix: str = "/", *, depth: int = 0, after: Optional[str] = None,
              limit: int = 100) -> list:
        """Live files below the directory `prefix`, in path (byte) order, a page at a time.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param prefix: the directory
        :param depth: 0: every file, no roll-ups; N >= 1: only files at most N levels below `prefix`,
            and for each directory N levels down that holds files somewhere below, its path with a
            trailing '/' (a str: Anthropic's memory_prefix roll-up; empty directories do not show)
        :param after: the last path or roll-up of the previous page
        :param limit: at most this many items
        :returns: a list of FileInfo and roll-up strings

        Raises InvalidInput (a cursor of another listing), StoreNotFound."""
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
        """Create a file (and its missing parent directories).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the new file's path
        :param content: its content
        :param identity: who acts (default: this Memfs's identity)
        :param message: a note recorded on the revision
        :param hooks: run the write hooks (False: the caller ran `run_write_hooks` already)
        :returns: a WriteResult (`redacted`: a hook replaced the content)

        Raises AlreadyExists (its `details['node_id']` names the file in the way, even when it has
        this content), ContentTooLarge, HookRefused, ReadOnly, StoreNotFound."""
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
        its id, in one transaction. When the file already has the requested content and path
        nothing is written and `if_match` is not checked, so a retry is safe. A rename and a content
        change are two revisions (rename, then write).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param node_id: the file's id
        :param content: the new content (None: unchanged)
        :param path: the new path (None: unchanged)
        :param if_match: only if the stored content has this SHA-256
        :param identity: who acts (default: this Memfs's identity)
        :param message: a note recorded on the write
        :param hooks: run the write hooks (False: the caller ran them)
        :returns: a WriteResult

        Raises PathNotFound, AlreadyExists, PreconditionFailed, ContentTooLarge, HookRefused, ReadOnly,
        StoreNotFound."""
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
        """Delete a file by its id.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param node_id: the file's id
        :param if_match: only if the stored content has this SHA-256
        :param identity: who acts (default: this Memfs's identity)
        :returns: the delete's Revision

        Raises PathNotFound, PreconditionFailed, Leased, ReadOnly, StoreNotFound."""
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
        """A store's file versions (revisions in VERSION_OPS), newest first, filtered.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param node_id: only this file's
        :param ops: only these operations (of VERSION_OPS)
        :param session: only this session's
        :param api_key_id: only those made with this API key
        :param since: only from this time
        :param until: only up to this time
        :param before: only before this revision id (the previous page's cursor)
        :param dream_job: only those a dream job wrote
        :param limit: at most this many
        :returns: a list of Revision

        Raises StoreNotFound."""
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
        sql = ("SELECT " + REV_COLUMNS + " FROM revisions r JOIN stores s ON s.id = r.store_id WHERE "
               + " AND ".join(where) + " ORDER BY r.id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.db.read() as tx:
            return [Revision._from(r) for r in tx.all(sql, params)]

    def version(self, ref, rev_id: int) -> Revision:
        """One file version of a store.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param rev_id: the revision id
        :returns: the Revision

        Raises RevisionNotFound (not a file version of this store), StoreNotFound."""
        store = self._store(ref)
        r = self.db.one("SELECT " + REV_COLUMNS + " FROM revisions r JOIN stores s ON s.id = r.store_id"
                        f" WHERE r.id = ? AND r.store_id = ? AND r.kind = 'file' AND r.op IN {VERSION_OPS}",
                        (rev_id, store.id))
        if r is None:
            raise errors.RevisionNotFound(f"store {store.name!r} has no version {rev_id}")
        return Revision._from(r)
