"""Refused writes on the mount: a stale write (ESTALE) or one a write hook refused (EACCES), each
recorded once in the store's conflicts (`.memfs/conflicts/`), a hook's refusal without its content;
the kernel's retry of a refused open or rename is not a second refusal (and withdraws the first
when it lands)."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import time

import pyfuse3

from .. import errors
from ..store import sha256
from .staleness import MIXED

log = logging.getLogger("memfs.fuse")

RETRY_WINDOW = 2.0   # the kernel's retry of a refused request comes within this (seconds)
HOOK_TTL = 1.0       # how long the mount trusts its answer to "does this store have write hooks"

# Set while serving a request the kernel itself retries when it fails with ESTALE (a path lookup
# retried with LOOKUP_REVAL: open, rename). A refusal of write() or close() reaches the tool,
# which may try the very same bytes again: that is a second refusal, and neither is withdrawn.
_KERNEL_RETRIES = contextvars.ContextVar("memfs_kernel_retries", default=False)


@contextlib.contextmanager
def kernel_retries():
    """Mark the request being served as one the kernel retries once on ESTALE."""
    token = _KERNEL_RETRIES.set(True)
    try:
        yield
    finally:
        _KERNEL_RETRIES.reset(token)


def fail(code):
    raise pyfuse3.FUSEError(code)


class RefusalsMixin:
    """Write hooks run at write(), and the records of refused writes (part of MemfsOps)."""

    # ------------------------------------------------------------------ write hooks

    async def _has_hooks(self, store) -> bool:
        hit = self._hooked.get(store.id)
        now = time.monotonic()
        if hit is None or now - hit[0] > HOOK_TTL:
            hit = (now, bool(self.m.hooks(store)))
            self._hooked[store.id] = hit
        return hit[1]

    async def _hooks_at_write(self, st, store):
        if not await self._has_hooks(store):
            return
        path, content = self._path(st), bytes(st.data)
        op = "create" if st.pending else "write"
        try:
            passed, note = await self.worker.run(lambda m: m.run_write_hooks(store, path, content, operation=op),
                                                 group=False)
            # passed as it is: a commit of these same bytes need not run the hooks again
            st.hooked_sha = sha256(content) if passed == content and note is None else None
        except errors.HookRefused as e:
            await self._note_hook_refusal(store, path, e)
            await self._abandon(st)
            fail(errno.EACCES)

    async def _note_hook_refusal(self, store, path, e: errors.HookRefused):
        # the refused bytes are exactly what the hook exists to keep out: the refusal is recorded,
        # never the content
        self.hook_refusals.append((store, path, f"refused by write hook {e.hook_id}: {e.reason}", e.hook_id))
        await self.record_hook_refusals()

    # ------------------------------------------------------------------ refusals

    async def _refuse(self, st, store, path, base, reason, incoming=None):
        """Refuse a write with ESTALE, keeping what was refused in the conflicts record."""
        content = bytes(st.data) if st is not None and st.data is not None and st.dirty else None
        if incoming is not None:
            content = (content or b"") + bytes(incoming)
        if (store.id, path) in self.armed:
            self.fired.add((store.id, path))
        log.info("refused write to %s: %s (basis %s)", path, reason, (base or "none")[:12])
        if st is not None and not st.pending:
            self._drop_lease(st)
            self._invalidate_later(self.ino(st.node_id))
        if st is not None:
            st.data = None if not st.pending else st.data
            st.dirty = st.pending and st.dirty
            st.gen += 1
        await self._record_refusal(store, path, content, None if base == MIXED else base, reason)
        fail(errno.ESTALE)

    async def _record_refusal(self, store, path, content, base, reason):
        """The kernel retries a refused open or rename once (ESTALE): the same refusal twice is
        one record, and one whose retry then landed is withdrawn at that landing (see _landed).
        Other refusals reached the tool: each is recorded and stays."""
        retried = _KERNEL_RETRIES.get()
        digest = None if content is None else sha256(content)
        key = (store.id, path, base, digest)
        now = time.monotonic()
        hit = self.refusals.get(key)
        if retried and hit is not None and now - hit[1] < RETRY_WINDOW:
            return
        try:
            c = await self.worker.run(lambda m: m.record_conflict(store, path, content, base_sha256=base,
                                                                  reason=reason))
        except errors.MemfsError as e:
            log.error("could not record the conflict on %s: %s", path, e)
            return
        self.stats["conflicts"] += 1
        if retried:
            if len(self.refusals) > 1000:
                self.refusals.clear()
            self.refusals[key] = (c.id, now)

    async def _landed(self, store, path, digest):
        """A write of `path` landed: a refusal of the same content moments ago, in a request the
        kernel retries, was the kernel's first try of this very request, not a refusal."""
        now = time.monotonic()
        for key in [k for k, (_, at) in self.refusals.items()
                    if k[0] == store.id and k[1] == path and k[3] == digest and now - at < RETRY_WINDOW]:
            cid, _ = self.refusals.pop(key)
            self.stats["conflicts"] -= 1
            try:
                await self.worker.run(lambda m: m.withdraw_conflict(store, cid))
            except errors.MemfsError as e:
                log.error("could not withdraw conflict %d on %s: %s", cid, path, e)

    async def record_hook_refusals(self):
        """Record the writes hooks refused (who, when, which hook, why): without their content."""
        rows, self.hook_refusals = self.hook_refusals, []
        for store, path, reason, hook_id in rows:
            try:
                await self.worker.run(lambda m: m.record_conflict(store, path, None, base_sha256=None, reason=reason,
                                                                  hook_id=hook_id))
            except errors.MemfsError as e:
                log.error("could not record the refusal on %s: %s", path, e)
