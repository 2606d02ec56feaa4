"""The transcript registry `memfs dream` reads: which agent-session transcript files exist."""

from __future__ import annotations

import json
import time
from typing import Iterable, Optional

from .. import errors
from .records import TranscriptInfo


class TranscriptsMixin:
    def add_transcript(self, path: str, fmt: str, session_id: str, *, agent: Optional[str] = None,
                       stores: Optional[list] = None, size: int = 0, mtime: Optional[float] = None,
                       started_at: Optional[float] = None, ended_at: Optional[float] = None,
                       stats: Optional[dict] = None) -> TranscriptInfo:
        """Register (or refresh) a transcript file; a file is registered once, by its path."""
        if not session_id or not isinstance(session_id, str):
            raise errors.InvalidInput(f"{path}: a transcript needs a session id")
        now = time.time()
        with self.db.write() as tx:
            cur = tx.one("SELECT id, agent, stores FROM transcripts WHERE path = ?", (path,))
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
