"""Sessions: who held which stores, from when to when (a mount, a server, a CLI run)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from typing import Optional

from .records import Session


class SessionsMixin:
    """Sessions: the clients that held stores, and when."""

    def open_session(self, session_id: Optional[str] = None, *, agent: Optional[str] = None, actor: str = "agent",
                     kind: str = "mount", stores: Optional[dict] = None, mountpoint: Optional[str] = None,
                     log_path: Optional[str] = None, pid: Optional[int] = None) -> Session:
        """Record a session: a client (mount, server, CLI run) holding stores from now until
        `close_session`.

        :param session_id: its id (default: a new `ses_…`)
        :param agent: the agent it acts for
        :param actor: agent, operator, api or dream
        :param kind: mount, api, mcp, ...
        :param stores: the stores it holds: {name: "rw" | "ro"}
        :param mountpoint: where it is mounted
        :param log_path: its log file
        :param pid: its process (default: this one)
        :returns: the Session"""
        session_id = session_id or ("ses_" + secrets.token_hex(8))
        with self.db.write() as tx:
            sid = tx.run(
                "INSERT INTO sessions (session_id, agent, actor, kind, host, pid, stores, mountpoint, log_path, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, agent, actor, kind, socket.gethostname(), pid or os.getpid(),
                 json.dumps(stores or {}), mountpoint, log_path, time.time()))
            return Session._from(tx.one("SELECT * FROM sessions WHERE id = ?", (sid,)))

    def close_session(self, row_id: int) -> None:
        """Mark a session ended (now). Closing twice is harmless.

        :param row_id: the Session's `id` (not its session_id)"""
        with self.db.write() as tx:
            tx.run("UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (time.time(), row_id))

    def sessions(self, ref=None, *, since: Optional[float] = None, active: Optional[bool] = None) -> list[Session]:
        """Sessions, newest first.

        :param ref: the store: its name, its uid (memstore_…) or a Store (optional): only those that held the store or wrote to it
        :param since: only those active since this time (epoch seconds)
        :param active: True: only open ones; False: only ended ones
        :returns: a list of Session

        Raises StoreNotFound."""
        with self.db.read() as tx:
            rows = tx.all("SELECT * FROM sessions ORDER BY id DESC")
            writers = set()
            if ref is not None:
                store = self._store(ref)
                q = "SELECT DISTINCT session FROM revisions WHERE store_id = ? AND session IS NOT NULL"
                params = [store.id]
                if since is not None:
                    q += " AND created_at >= ?"
                    params.append(since)
                writers = {r[0] for r in tx.all(q, params)}
        out = []
        for r in rows:
            s = Session._from(r)
            if active is True and s.ended_at is not None or active is False and s.ended_at is None:
                continue
            if ref is not None:
                held = store.name in s.stores or store.uid in s.stores
                if not (s.session_id in writers or held):
                    continue
                if since is not None and s.session_id not in writers and (s.ended_at or time.time()) < since:
                    continue
            elif since is not None and (s.ended_at or time.time()) < since:
                continue
            out.append(s)
        return out
