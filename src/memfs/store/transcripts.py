"""The transcript registry `memfs dream` reads: which agent-session transcript files exist."""

from __future__ import annotations

import json
import time
from typing import Iterable, Optional

from .. import errors
from .records import TranscriptInfo


class TranscriptsMixin:
    """The transcript registry."""

    def add_transcript(self, path: str, fmt: str, session_id: str, *, agent: Optional[str] = None,
                       stores: Optional[list] = None, size: int = 0, mtime: Optional[float] = None,
                       started_at: Optional[float] = None, ended_at: Optional[float] = None,
                       stats: Optional[dict] = None, reassign: bool = False) -> TranscriptInfo:
        """Register (or refresh) a transcript file; a file is registered once, by its path. A file
        registered as another agent's or session's is AlreadyExists, unless `reassign`.

        :param path: the file's absolute path
        :param fmt: its format (claude_code, stream_json, messages_api, managed_agents)
        :param session_id: the session it records
        :param agent: the agent (kept when a refresh gives none)
        :param stores: the stores it touched (merged with those known)
        :param size: the file's size
        :param mtime: its modification time
        :param started_at: its first event's time
        :param ended_at: its last event's time
        :param stats: counts the reader made
        :param reassign: change the agent or session of a file registered already
        :returns: the TranscriptInfo

        Raises InvalidInput (no session id), AlreadyExists (registered as another agent's or session's)."""
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
        """Registered transcripts, oldest first.

        :param session_ids: only these sessions'
        :param store: only those registered for this store
        :param since: only those active since this time
        :returns: a list of TranscriptInfo

        Raises StoreNotFound."""
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
