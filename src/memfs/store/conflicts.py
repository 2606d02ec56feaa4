"""Conflicts: refused writes kept where they can be read back (`.memfs/conflicts/` on a mount)."""

from __future__ import annotations

import time
from typing import Optional

from .. import paths
from .records import Conflict, Identity, sha256


class ConflictsMixin:
    """Refused writes, kept to be read back."""

    def record_conflict(self, ref, path: str, content: Optional[bytes], *, base_sha256: Optional[str],
                        reason: str, identity: Optional[Identity] = None) -> Conflict:
        """Keep a refused write where it can be read back (`.memfs/conflicts/` on the mount).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file it was for
        :param content: the refused bytes (None: none to keep)
        :param base_sha256: the version the writer started from
        :param reason: why it was refused (one line)
        :param identity: who acts (default: this Memfs's identity)
        :returns: the Conflict

        Raises StoreNotFound."""
        store = self._store(ref)
        path = paths.normalize(path)
        ident = identity or self.identity
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
                " current_sha256, current_rev, sha256, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (store.id, path, cur["id"] if cur else None, ident.session, ident.agent, now, base_sha256,
                 cur["sha256"] if cur else None, cur["head_rev"] if cur else None, digest, reason))
            return Conflict._from(tx.one("SELECT * FROM conflicts WHERE id = ?", (cid,)))

    def conflicts(self, ref, *, session: Optional[str] = None) -> list[Conflict]:
        """A store's refused writes, oldest first.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param session: only this session's
        :returns: a list of Conflict

        Raises StoreNotFound."""
        store = self._store(ref)
        q, params = "SELECT * FROM conflicts WHERE store_id = ?", [store.id]
        if session:
            q += " AND session = ?"
            params.append(session)
        with self.db.read() as tx:
            return [Conflict._from(r) for r in tx.all(q + " ORDER BY id", params)]
