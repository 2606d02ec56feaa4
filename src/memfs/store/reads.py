"""Read counts: which sessions read which files, how often, and when last (migration m009).

The mount counts reads in memory and hands them over in batches (`record_reads`), never a row
per read; one row per file and session holds the running count. A file is its node, so its
count survives renames. Part of `Memfs` (a mixin over `self.db`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass
class ReadInfo:
    """Reads of one file: in all (`reads`), by how many distinct sessions, first and last."""

    path: str
    node_id: int
    reads: int
    sessions: int
    first_read: float
    last_read: float


_UPSERT = ("INSERT INTO file_reads (node_id, session, store_id, agent, reads, first_read, last_read)"
           " VALUES (?, ?, ?, ?, ?, ?, ?)"
           " ON CONFLICT (node_id, session) DO UPDATE SET reads = file_reads.reads + excluded.reads,"
           " first_read = CASE WHEN excluded.first_read < file_reads.first_read THEN excluded.first_read"
           " ELSE file_reads.first_read END,"
           " last_read = CASE WHEN excluded.last_read > file_reads.last_read THEN excluded.last_read"
           " ELSE file_reads.last_read END")


class ReadsMixin:
    def record_reads(self, rows: Iterable[tuple]) -> int:
        """Add read counts in one transaction. Each row: (store, node_id, session, count,
        last_read) where store is a Store or a store id; session may be None (counted as "").
        Returns the number of rows written. Losing the last batch in a power cut costs a few
        counts, so the transaction skips the fsync."""
        out = {}
        for store, node_id, session, count, last in rows:
            if count <= 0:
                continue
            sid = store if isinstance(store, int) else store.id
            key = (int(node_id), session or "")
            last = float(last)
            if key in out:
                o = out[key]
                out[key] = (sid, o[1] + int(count), min(o[2], last), max(o[3], last))
            else:
                out[key] = (sid, int(count), last, last)
        if not out:
            return 0
        agent = getattr(self.identity, "agent", None)
        params = [(nid, ses, sid, agent, n, first, last) for (nid, ses), (sid, n, first, last) in sorted(out.items())]
        with self.db.write(durable=False) as tx:
            tx.many(_UPSERT, params)
        return len(params)

    def file_reads(self, ref, path: Optional[str] = None) -> dict[str, ReadInfo]:
        """Live files of a store that have been read at least once, by path (or just `path`)."""
        store = self._store(ref)
        q = ("SELECT n.path, n.id, SUM(r.reads), COUNT(*), MIN(r.first_read), MAX(r.last_read)"
             " FROM file_reads r JOIN nodes n ON n.id = r.node_id"
             " WHERE r.store_id = ? AND n.path IS NOT NULL AND n.deleted_at IS NULL")
        params: list = [store.id]
        if path is not None:
            from .. import paths as _paths

            q += " AND n.path = ?"
            params.append(_paths.normalize(path))
        with self.db.read() as tx:
            rows = tx.all(q + " GROUP BY n.path, n.id ORDER BY n.path", params)
        return {r[0]: ReadInfo(r[0], r[1], int(r[2]), int(r[3]), float(r[4]), float(r[5])) for r in rows}

    def session_reads(self, ref, session: str) -> dict[str, int]:
        """How often one session read each file of a store, by path."""
        store = self._store(ref)
        with self.db.read() as tx:
            rows = tx.all("SELECT n.path, r.reads FROM file_reads r JOIN nodes n ON n.id = r.node_id"
                          " WHERE r.store_id = ? AND r.session = ? AND n.path IS NOT NULL ORDER BY n.path",
                          (store.id, session))
        return {r[0]: int(r[1]) for r in rows}

    def reads_since(self, ref, since: float) -> int:
        """Reads of a store's files recorded with a last read at or after `since` (files, not reads)."""
        store = self._store(ref)
        with self.db.read() as tx:
            return int(tx.scalar("SELECT COUNT(DISTINCT node_id) FROM file_reads WHERE store_id = ? AND last_read >= ?",
                                 (store.id, since)) or 0)
