"""Following changes and reading a snapshot: what a front end that caches (the mount) or copies
(replication, export) needs from the database, without touching the backend itself."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

POLL = 0.05  # seconds between data_version() checks while waiting without notifications


class ChangesMixin:
    """Following another connection's commits, and reading from one snapshot."""

    def data_version(self) -> int:
        """A number that changes whenever another connection commits (cheap: for polling).

        Compare it with the value from the previous call; when it moved, read the change feed
        (`changes(after=cursor)`) to learn what changed. Its value means nothing by itself."""
        return self.db.data_version()

    @property
    def notifies(self) -> bool:
        """True when the database pushes change notifications (PostgreSQL's LISTEN/NOTIFY), so
        that `wait_for_change` wakes at a commit instead of polling (SQLite)."""
        return bool(self.db.notifies)

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to `timeout` seconds until another connection commits.

        :param timeout: seconds to wait at most
        :returns: True when a commit was seen, False on a timeout (or while a notification
            connection is down: callers poll `data_version()` meanwhile)

        Where the database has no notifications (`notifies` is False), this polls
        `data_version()` every few milliseconds. Blocks the calling thread: run it in a worker
        thread from async code."""
        if self.db.notifies:
            return self.db.wait_for_change(timeout)
        deadline = time.monotonic() + timeout
        start = self.db.data_version()
        while time.monotonic() < deadline:
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
            if self.db.data_version() != start:
                return True
        return False

    def snapshot(self) -> AbstractContextManager:
        """A context in which every read of this `Memfs` sees the database as of one moment.

        ::

            with m.snapshot():
                revs = m.changes(after=cursor)
                blobs = [m.blob(r.sha256) for r in revs]   # not redacted meanwhile

        Writes are refused inside it (RuntimeError). Nested, it joins the outer one."""
        return self.db.read()
