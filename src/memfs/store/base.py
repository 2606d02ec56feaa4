"""The state every part of the store shares (the backend, the identity) and the small internals they
all use: resolving a store, checking it is writable, allocating node ids, appending a revision."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Optional

from .. import errors, paths
from ..backends import open_backend
from .records import DIR, GONE_OPS, Identity, Revision, Store, default_identity, is_binary, _now_ns, REV_COLUMNS


class StoreBase:
    """What every part shares: the backend (`self.db`), the default identity, and the internals
    that resolve stores, check they are writable, allocate node ids and append revisions."""

    def __init__(self, db: str, *, identity: Optional[Identity] = None, **backend_options):
        self.db = open_backend(str(db), **backend_options)
        self.identity = identity or default_identity()
        # stores whose last write transaction found no write hook: their next write skips the
        # hook query before the transaction (the transaction checks again, see write)
        self._hookless: set[int] = set()

    @property
    def url(self) -> str:
        """The database this Memfs opened, as a URL (sqlite:///PATH or postgresql://...): what
        `Memfs(url)` opens again, e.g. in another thread."""
        return self.db.url

    def reopen(self, *, identity: Optional[Identity] = None) -> "StoreBase":
        """Another Memfs on the same database, with its own connection (a Memfs is not shared
        between threads), acting as `identity` (default: this one's).

        :param identity: who the new Memfs acts as
        :returns: a new Memfs (close it when done)"""
        return type(self)(self.url, identity=identity or self.identity)

    def close(self):
        """Close the database connection(s). A Memfs is also a context manager that closes on exit."""
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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
        r = tx.one("SELECT " + REV_COLUMNS + " FROM revisions r JOIN stores s ON s.id = r.store_id WHERE r.id = ?",
                   (rev_id,))
        return Revision._from(r) if r else None
