"""The mount's read counter: a file opened for reading is counted in memory, and the counts go
to the store in one batch every few seconds and at unmount (`Memfs.record_reads`), never a row
per read. Counting is a dict increment on the trio thread; a flush is one small transaction."""

from __future__ import annotations

import logging
import time

from .. import settings

log = logging.getLogger("memfs.fuse")

FLUSH_EVERY = 5.0  # seconds between batches


class ReadCounter:
    def __init__(self, m, every: float = FLUSH_EVERY):
        self.m = m
        self.every = every
        self.counts: dict[tuple[int, int], list] = {}  # (store id, node id) -> [count, last read]
        self.last_flush = time.monotonic()
        if settings.get("MEMFS_READ_COUNTS") == "0":  # off: for the bench's comparison
            self.note = lambda store_id, node_id: None

    def note(self, store_id: int, node_id: int) -> None:
        c = self.counts.get((store_id, node_id))
        if c is None:
            self.counts[(store_id, node_id)] = [1, time.time()]
        else:
            c[0] += 1
            c[1] = time.time()

    def due(self) -> bool:
        return bool(self.counts) and time.monotonic() - self.last_flush >= self.every

    async def flush(self, worker) -> None:
        """Hand the counts to the store through the mount's worker (a write transaction must not
        wait on the request loop); on failure they are kept for the next round."""
        self.last_flush = time.monotonic()
        if not self.counts:
            return
        batch, self.counts = self.counts, {}
        session = getattr(self.m.identity, "session", None)
        rows = [(sid, nid, session, n, last) for (sid, nid), (n, last) in batch.items()]
        try:
            await worker.run(lambda m: m.record_reads(rows))
        except Exception as e:  # a locked or unreachable database: keep the counts, retry later
            for k, (n, last) in batch.items():
                c = self.counts.setdefault(k, [0, last])
                c[0] += n
                c[1] = max(c[1], last)
            log.warning("could not record read counts (%s); retrying", e)
