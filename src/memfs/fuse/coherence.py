"""Keeping the kernel's caches true to the store: what other sessions (other mounts, the API,
reverts, dreams) changed is dropped from the kernel, driven by the revision feed."""

from __future__ import annotations

import logging

import pyfuse3
import trio

from .. import errors
from ..store import DIR

log = logging.getLogger("memfs.fuse")


class CoherenceMixin:
    """The change follower (part of MemfsOps): also the mount's periodic chores (scratch files
    left alone, refusals to record, kernel invalidations asked for during a request)."""

    async def follow_changes(self, interval: float = 0.2):
        """Polled (SQLite), or woken by the database's change notifications with polling as the
        fallback (PostgreSQL, other hosts)."""
        async with trio.open_nursery() as nursery:
            if self.m.notifies:
                nursery.start_soon(self._listen)
                interval = 1.0
            await self._follow(interval)

    async def _listen(self):
        while True:
            if await trio.to_thread.run_sync(self.m.wait_for_change, 1.0, abandon_on_cancel=True):
                self.wake.set()

    async def _follow(self, interval: float):
        version = failing = None
        while True:
            with trio.move_on_after(interval):
                await self.wake.wait()
            self.wake = trio.Event()
            try:  # a failure here (a locked database, say) must not take the mount down
                await self.sweep_scratch()
                if self.reads.due():
                    await self.reads.flush(self.worker)
                if self.hook_refusals:
                    await self.record_hook_refusals()
                while self.invalidate_soon:
                    ino = self.invalidate_soon.pop()
                    self.cached.pop(ino, None)  # see _invalidate
                    self.invalidating.add(ino)
                    try:
                        await trio.to_thread.run_sync(pyfuse3.invalidate_inode, ino)
                    except OSError:
                        pass
                    finally:
                        self.invalidating.discard(ino)
                v = self.m.data_version()
                if v == version:
                    continue
                version = v
                # this mount's own commits come from its worker's connection, so they change the
                # data version too: when every revision since the cursor is its own, nothing is
                # read back and the directory cache stays
                head = self.m.head()
                mine = [i for i in tuple(self.own_revs) if self.cursor < i <= head]
                if len(mine) == head - self.cursor:
                    self.own_revs.difference_update(mine)
                    self.cursor = head
                    continue
                self._dirs.clear()  # another connection wrote: a directory's mtime may have changed too
                for r in self.m.changes(after=self.cursor, limit=100000):
                    self.cursor = r.id
                    if r.id in self.own_revs:
                        self.own_revs.discard(r.id)
                        continue
                    if r.store_id in self.scopes:
                        await self._invalidate(r)
                failing = None
            except errors.Unavailable:
                pass  # logged once by the backend; the next round retries
            except errors.MemfsError as e:
                if str(e) != failing:  # once per kind of failure, not every round
                    log.warning("following changes: %s (retrying)", e)
                failing = str(e)
            except Exception:
                log.exception("following changes failed (retrying)")

    async def _invalidate(self, r):
        if r.kind == DIR:
            self._dirs.clear()
        st = self.states.get(r.node_id)
        if st is not None and not st.dirty and not st.pending:
            st.data = None
        entries = []
        if r.parent_id is not None:
            entries.append((self.ino(r.parent_id), r.name))
        if r.op == "rename" and r.base_rev:
            try:
                old = self.m.revision(r.base_rev)
                entries.append((self.ino(old.parent_id), old.name))
            except errors.NotFound:
                pass
        for parent, name in entries:
            try:
                pyfuse3.invalidate_entry_async(parent, name.encode("utf-8"), ignore_enoent=True)
            except Exception:
                log.debug("invalidate_entry failed", exc_info=True)
        # Handles opened from now on start clean; those opened before may hold the old pages, and a
        # different version read through them is a blend (see read). Forgotten before the kernel
        # drops the pages, not after: requests keep arriving while it does, and a handle opened
        # meanwhile that reads only the new version must not count as mixed.
        self.cached.pop(self.ino(r.node_id), None)
        try:
            await trio.to_thread.run_sync(pyfuse3.invalidate_inode, self.ino(r.node_id))
        except OSError:
            pass  # the kernel does not know the inode: nothing cached

    def _invalidate_later(self, ino: int):
        """Drop the kernel's cached pages and attributes of an inode, outside the current request
        (invalidating from inside one can deadlock). Until that is done, an open of the inode
        drops its pages itself (`pages_trusted`)."""
        self.invalidate_soon.add(ino)
        self.wake.set()

    def pages_trusted(self, ino: int) -> bool:
        """Whether an open may keep the kernel's pages of `ino`: not while they are to be dropped.
        (A page filled by a read judged a blend would otherwise be served to the next open as if
        it were whole, without the read reaching the mount: the session's `seen` stays "blend",
        and its next rewrite is refused although the agent read the current version.)"""
        return ino not in self.invalidate_soon and ino not in self.invalidating
