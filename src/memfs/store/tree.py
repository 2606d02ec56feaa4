"""Reading the tree: nodes by id or path, content, directory listings, whole trees now or at a
revision, the newest revision id, a store's usage."""

from __future__ import annotations

from typing import Optional

from .. import errors, paths
from .records import DIR, GONE_OPS, Entry, Node, _like_prefix


class TreeMixin:
    """Reading the tree: nodes, content, listings and whole trees, now or in the past."""

    def node(self, node_id: int) -> Optional[Node]:
        """A live node (file, directory or symlink) by id, its inode number.

        :param node_id: the node's id
        :returns: the Node, or None when there is none (or it was deleted)"""
        r = self.db.one("SELECT * FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
        return Node._from(r) if r else None

    def lookup(self, ref, path: str) -> Optional[Node]:
        """The live node at a path of a store.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the path ("/" is the root)
        :returns: the Node, or None

        Raises StoreNotFound, InvalidInput (a bad path)."""
        store = self._store(ref)
        path = paths.normalize(path)
        r = self.db.one("SELECT * FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
        return Node._from(r) if r else None

    def child(self, parent_id: int, name: str) -> Optional[Node]:
        """The live entry `name` of a directory.

        :param parent_id: the directory's node id
        :param name: the entry's name
        :returns: the Node, or None"""
        r = self.db.one("SELECT * FROM nodes WHERE parent_id = ? AND name = ? AND path IS NOT NULL",
                        (parent_id, name))
        return Node._from(r) if r else None

    def children(self, parent_id: int) -> list[Node]:
        """The live entries of a directory, by name.

        :param parent_id: the directory's node id
        :returns: a list of Node"""
        rows = self.db.all("SELECT * FROM nodes WHERE parent_id = ? AND path IS NOT NULL ORDER BY name",
                           (parent_id,))
        return [Node._from(r) for r in rows]

    def blob(self, sha: Optional[str]) -> bytes:
        """Content by its SHA-256 (what Node.sha256 and Revision.sha256 name).

        :param sha: the hash; None (a redacted or empty revision) gives b""
        :returns: the bytes

        Raises MemfsError when the blob is missing (a damaged database: run `memfs doctor`)."""
        if sha is None:
            return b""
        r = self.db.one("SELECT content FROM blobs WHERE sha256 = ?", (sha,))
        if r is None:
            raise errors.MemfsError(f"blob {sha} is missing from the database (run `memfs doctor`)")
        return bytes(r[0])

    def stat(self, ref, path: str, rev: Optional[int] = None, at: Optional[float] = None) -> Entry:
        """One entry of a store: now, at a revision, or at a time.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the entry's path
        :param rev: as of this revision id
        :param at: as of this time (epoch seconds)
        :returns: an Entry (node id, kind, path, hash, size, mode, revision)

        Raises PathNotFound, RevisionNotFound (`at` before the store existed), InvalidInput (both
        `rev` and `at`), StoreNotFound."""
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
        """Content of a file (or a symlink's target): now, at a revision, or at a time.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :param rev: as of this revision id
        :param at: as of this time (epoch seconds)
        :returns: the bytes

        Raises PathNotFound, IsADirectory, RevisionNotFound, InvalidInput, StoreNotFound."""
        e = self.stat(ref, path, rev, at)
        if e.kind == DIR:
            raise errors.IsADirectory(f"{path} is a directory")
        return self.blob(e.sha256)

    def listdir(self, ref, path: str = "/", rev: Optional[int] = None, at: Optional[float] = None) -> list[Entry]:
        """The entries of a directory: now, at a revision, or at a time.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the directory's path
        :param rev: as of this revision id
        :param at: as of this time (epoch seconds)
        :returns: a list of Entry, by name

        Raises PathNotFound, NotADirectory, RevisionNotFound, InvalidInput, StoreNotFound."""
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
        """Every live entry at or under a path, in path order.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: where to start
        :returns: a list of Entry (empty when nothing is there)

        Raises StoreNotFound."""
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
        """The whole tree of a store, now or at a revision.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param rev: as of this revision id (default: now)
        :returns: a dict of path -> Entry

        Raises StoreNotFound."""
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
        """The newest revision id in the database: the change feed's end (0 when empty)."""
        with self.db.read() as tx:
            return tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")

    def store_head(self, ref) -> int:
        """The newest revision id of one store.

        :param ref: the store: its name, its uid (memstore_…) or a Store

        Raises StoreNotFound."""
        store = self._store(ref)
        with self.db.read() as tx:
            return tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions WHERE store_id = ?", (store.id,))

    def usage(self, ref) -> dict:
        """How much a store holds now.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :returns: {"files": live files, "bytes": their total size, "revisions": all revisions}

        Raises StoreNotFound."""
        store = self._store(ref)
        with self.db.read() as tx:
            r = tx.one("SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM nodes"
                       " WHERE store_id = ? AND path IS NOT NULL AND kind = 'file'", (store.id,))
            revs = tx.scalar("SELECT COUNT(*) FROM revisions WHERE store_id = ?", (store.id,))
        return {"files": r["files"], "bytes": r["bytes"], "revisions": revs}
