"""Conflicts: refused writes kept where they can be read back (`.memfs/conflicts/` on a mount)."""

from __future__ import annotations

import time
from typing import Optional

from .. import paths
from .records import Conflict, Identity, sha256


class ConflictsMixin:
    """Refused writes, kept to be read back."""

    def record_conflict(self, ref, path: str, content: Optional[bytes], *, base_sha256: Optional[str],
                        reason: str, identity: Optional[Identity] = None, hook_id: Optional[int] = None) -> Conflict:
        """Keep a refused write where it can be read back (`.memfs/conflicts/` on the mount).

        With `hook_id` (a write hook refused it), only the refusal is kept: who, when, which hook
        and why, never the content, which is dropped if given: a hook refuses content to keep it
        out of the store.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file it was for
        :param content: the refused bytes (None: none to keep)
        :param base_sha256: the version the writer started from
        :param reason: why it was refused (one line)
        :param identity: who acts (default: this Memfs's identity)
        :param hook_id: the write hook that refused it
        :returns: the Conflict

        Raises StoreNotFound."""
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
        """A store's refused writes, oldest first.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param session: only this session's
        :returns: a list of Conflict

        Raises StoreNotFound."""
        store = self._store(ref)
        q, params = self._CONFLICT, [store.id]
        if session:
            q += " AND c.session = ?"
            params.append(session)
        with self.db.read() as tx:
            return [Conflict._from(r) for r in tx.all(q + " ORDER BY c.id", params)]

    def withdraw_conflict(self, ref, conflict_id: int) -> None:
        """Remove a refusal record that turned out not to be one (the mount's first try of a
        request the kernel retried and that then landed), with the content it kept.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param conflict_id: the Conflict's id"""
        store = self._store(ref)
        with self.db.write() as tx:
            sha = tx.scalar("SELECT sha256 FROM conflicts WHERE id = ? AND store_id = ?", (conflict_id, store.id))
            tx.run("DELETE FROM conflicts WHERE id = ? AND store_id = ?", (conflict_id, store.id))
            if sha:
                self._drop_blob(tx, sha)  # only if nothing else refers to it

    def conflict(self, ref, conflict_id: int) -> Optional[Conflict]:
        """One refused write of a store by its id, or None.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param conflict_id: the Conflict's id"""
        r = self.db.one(self._CONFLICT + " AND c.id = ?", (self._store(ref).id, conflict_id))
        return Conflict._from(r) if r else None
