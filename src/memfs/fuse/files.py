"""Open files: the bytes being written, the commit on close (refusals and their records: fuse/refusals.py).

A file is committed as one revision on flush (close) or fsync. Commits, leases, hooks and conflict
records go to the mount's store worker (memfs/worker.py) and are awaited there, so the request loop
keeps answering while they wait; one file's changes are serialised by its lock (`FileState.lock`),
so its commits apply in the order its handles flushed. Which version a write is based on, and
whether it may land, is decided in fuse/staleness.py.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import pyfuse3
import trio

from .. import errors, settings, store as _store
from ..store import FILE, SYMLINK, Store, WriteOptions, sha256
from . import staleness, virtual
from .refusals import RefusalsMixin
from ..worker import RunAlone

log = logging.getLogger("memfs.fuse")

PAGE = os.sysconf("SC_PAGE_SIZE")  # the unit of the kernel's page cache


def fail(code):
    raise pyfuse3.FUSEError(code)


@dataclass(eq=False)
class FileState:
    node_id: int
    store: Store
    parent_id: int
    name: str
    mode: int
    mtime_ns: int
    data: Optional[bytearray] = None   # None: serve the stored content
    dirty: bool = False
    loaded_sha: Optional[str] = None   # the stored version `data` was built on
    truncated: bool = False            # data does not build on loaded_sha (O_TRUNC, truncate to 0)
    append_only: bool = True           # every change so far was an O_APPEND write
    appended: bytearray = field(default_factory=bytearray)
    opens: int = 0
    pending: bool = False              # created here, never committed
    scratch: bool = False
    unlinked: bool = False
    written: bool = False              # data was written (not only truncated) since the last commit
    mtime_set: bool = False            # a tool set the mtime explicitly (rsync, tar): keep it
    stale_trunc: bool = False          # truncated over a version this session no longer has
    kind: str = FILE                   # SYMLINK for a scratch-named link kept in memory (data: target)
    lease_at: float = 0.0              # when this mount last took the file's write lease (monotonic)
    shadow_of: Optional[tuple] = None  # (node, dir, name): a stored file renamed onto this scratch name
    released_at: float = 0.0
    gen: int = 0                       # bumped by every change: a commit clears only what it stored
    releasing: Optional[trio.Event] = None  # set when the commit at the last close has landed
    hooked_sha: Optional[str] = None   # content the write hooks passed unchanged at a write()
    lock: trio.Lock = field(default_factory=trio.Lock)


@dataclass(eq=False)
class Handle:
    st: FileState
    append: bool
    writable: bool
    trunc: bool = False
    read_sha: Optional[str] = None  # the version this handle has read, MIXED if more than one
    changed: bool = False           # this handle wrote, truncated or created: its close commits
    hooked: bool = False            # the store's write hooks have seen this handle's first write


class FilesMixin(RefusalsMixin):
    """Handlers and state for file content (part of MemfsOps)."""

    # ------------------------------------------------------------------ open, read, write, close

    async def _create(self, parent_ino, name, mode, flags, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        async with self.nslock:
            existing = self.pending.get((d.id, name)) or self._child(d.id, name)
            if existing is not None:
                # our negative entry was stale (another session created it): open what is there
                if flags & os.O_EXCL:
                    fail(errno.EEXIST)
                ino = self.ino(existing.node_id if isinstance(existing, FileState) else existing.id)
                fi = await self._open(ino, flags & ~os.O_CREAT, ctx)
                return fi, await self.getattr(ino, ctx)
            st = FileState(node_id=await self._new_node_id(), store=store, parent_id=d.id, name=name,
                           mode=mode & ~ctx.umask & 0o7777, mtime_ns=time.time_ns(), data=bytearray(),
                           dirty=True, truncated=True, pending=True, scratch=self.is_scratch(name, d.name))
            self.pending[(d.id, name)] = st
            self.states[st.node_id] = st
        st.opens += 1
        fh = self._next_fh()
        self.handles[fh] = Handle(st, bool(flags & os.O_APPEND), True, bool(flags & os.O_TRUNC), changed=True)
        return pyfuse3.FileInfo(fh=fh, keep_cache=True), self._state_attr(st)

    async def _open(self, ino, flags, ctx):
        if ino >= virtual.VBASE:
            if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
                fail(errno.EROFS)
            fh = self._next_fh()
            self.handles[fh] = self.virt.open(ino)
            return pyfuse3.FileInfo(fh=fh, direct_io=True, keep_cache=False)
        nid = self.nid(ino)
        st = self.states.get(nid)
        writable = flags & os.O_ACCMODE != os.O_RDONLY
        truncating = bool(flags & os.O_TRUNC)  # Linux truncates even on O_RDONLY|O_TRUNC
        if st is None:
            n = self._node(ino)
            if n.kind == "dir":
                fail(errno.EISDIR)
            st = FileState(node_id=n.id, store=self.scopes[n.store_id][0], parent_id=n.parent_id, name=n.name,
                           mode=n.mode, mtime_ns=n.mtime_ns)
            self.states[st.node_id] = st
        if writable or truncating:
            self._writable(st.store.id)
        st.opens += 1  # counted before any wait, so that no release drops the state meanwhile
        if not truncating and flags & os.O_ACCMODE != os.O_WRONLY:
            self.reads.note(st.store.id, st.node_id)  # reads are known (fuse/reads.py)
        fh = self._next_fh()
        # keep_cache: this handle may be served the kernel's pages of the version it holds
        keep = self.pages_trusted(ino)
        h = Handle(st, bool(flags & os.O_APPEND), writable, truncating,
                   read_sha=self.cached.get(ino) if keep else None, changed=truncating)
        self.handles[fh] = h
        if truncating:
            try:
                async with st.lock:
                    if not st.pending:
                        await self._load_for_write(st, truncating=True)
                    st.data = bytearray()
                    st.truncated, st.append_only, st.dirty = True, False, True
                    st.gen += 1
                    st.mtime_ns = time.time_ns()
            except BaseException:
                self.handles.pop(fh, None)
                self._closed(st)
                raise
        return pyfuse3.FileInfo(fh=fh, keep_cache=keep)

    async def _read(self, fh, off, size):
        h = self.handles.get(fh)
        if h is None:
            fail(errno.EBADF)
        if isinstance(h, virtual.VHandle):
            return h.data[off:off + size]
        st = h.st
        if st.data is not None:
            return bytes(st.data[off:off + size])
        n = self.known.node(st.node_id)
        if n is None:
            return b""
        data = self._blob(n.sha256)
        ino = self.ino(n.id)
        key = (n.store_id, n.path)
        self.cached[ino] = n.sha256
        r = staleness.after_read(h.read_sha, n.sha256, off, self.sizes.get(ino), len(data), self.seen.get(key))
        h.read_sha = r.handle_sha
        if r.seen is not None:
            self.seen[key] = r.seen
            if r.seen == n.sha256 and key in self.fired:
                # an if-match that refused a write stays armed until the file is read again (what
                # .memfs/README tells the agent to do); then what the session read is its basis
                self.fired.discard(key)
                self.armed.pop(key, None)
        if r.invalidate:
            self._invalidate_later(ino)
        return data[off:off + size]

    async def _write(self, fh, off, buf):
        h = self.handles.get(fh)
        if h is None or isinstance(h, virtual.VHandle) or not h.writable:
            fail(errno.EBADF)
        st = h.st
        store = self._writable(st.store.id)
        async with st.lock:
            if st.unlinked:  # removed or replaced: its descriptors write to what they hold
                if st.data is None:
                    st.data = bytearray()
            else:
                await self._load_for_write(st, incoming=buf, append=h.append)
                if not st.pending and not h.append:
                    await self._hold_lease(st, buf)
                    if st.data is None:
                        # the change follower dropped the clean buffer while the lease was taken
                        # (another session's revision of the file, its content unchanged): the
                        # lease holds against the version loaded, so build on that again
                        st.data = bytearray(self._blob(st.loaded_sha))
            if h.append:
                off = len(st.data)
                if st.append_only and not st.unlinked:
                    st.appended += buf
            else:
                st.append_only = False
            end = off + len(buf)
            if end > store.max_content_bytes:
                await self._abandon(st)
                fail(errno.EFBIG)
            if off > len(st.data):
                st.data.extend(b"\0" * (off - len(st.data)))  # a write past the end leaves zeros
            st.data[off:end] = buf
            st.dirty = st.written = h.changed = True
            st.gen += 1
            st.mtime_ns = time.time_ns()
            if st.unlinked:
                return len(buf)  # a replaced or removed file: its writes stay with its descriptors
            if st.stale_trunc:
                # rewriting a file another session changed since this one read it: refused at the
                # first write that differs from what is stored (identical content always succeeds)
                n = self.m.node(st.node_id)
                key = (store.id, n.path) if n is not None else None
                if n is not None and not self._blob(n.sha256).startswith(bytes(st.data)):
                    await self._refuse(st, store, n.path, staleness.basis(self.armed.get(key), self.seen.get(key)),
                                       "stale: another session changed the file after this one read it")
            if not h.hooked and not st.scratch:
                # a hook's refusal must reach the writer where a shell reports it (write(), not
                # close(), which bash ignores): the hooks see the content so far at the first write.
                # (A scratch file is judged at its rename onto the real name, which tools report.)
                h.hooked = True
                await self._hooks_at_write(st, store)
        return len(buf)

    async def _flush(self, fh):
        h = self.handles.get(fh)
        if h is None or isinstance(h, virtual.VHandle):
            return
        st = h.st
        # Only a handle that changed the file commits at its close: a reader's close must not
        # commit another descriptor's change (an O_TRUNC not yet written, say). Opened with
        # O_TRUNC and not yet written: the shell's `> f` closes a duplicate descriptor before the
        # command writes; committing then would add an empty revision nobody meant. Release
        # commits it if nothing follows. (touch and O_CREAT without O_TRUNC commit here.)
        if not h.changed or (h.trunc and not st.written) or (st.pending and st.scratch):
            return
        async with st.lock:
            if st.dirty:
                await self._commit(st)

    async def _release(self, fh):
        h = self.handles.pop(fh, None)
        if h is None or isinstance(h, virtual.VHandle):
            return
        st = h.st
        st.released_at = time.monotonic()
        if st.opens > 1:
            st.opens -= 1
            return
        if st.dirty and not st.scratch and not st.unlinked:
            # the kernel sends RELEASE after close() returned: a stat of the file that follows
            # waits for this commit (see settled), as it did when commits ran on the loop
            st.releasing = trio.Event()
            try:
                await self._commit_unheard(st, "on release", lambda st: st.dirty)
            finally:
                st.releasing.set()
                st.releasing = None
        self._closed(st)

    async def settled(self, nid):
        """Wait for the commit of a file's last close, if one is in flight."""
        st = self.states.get(nid)
        if st is not None and st.releasing is not None:
            await st.releasing.wait()

    def _closed(self, st: FileState):
        st.opens -= 1
        if st.opens > 0:
            return
        if (st.unlinked or not st.pending) and self.states.get(st.node_id) is st:
            self.states.pop(st.node_id, None)

    # ------------------------------------------------------------------ helpers of the write path

    def _blob(self, sha):
        data = self._blobs.get(sha)
        if data is None:
            data = self.m.blob(sha)
            if len(self._blobs) > 256:
                self._blobs.clear()
            self._blobs[sha] = data
        return data

    def _state_for_write(self, nid, store) -> FileState:
        st = self.states.get(nid)
        if st is None:
            n = self.m.node(nid)
            if n is None:
                fail(errno.ENOENT)
            st = FileState(node_id=n.id, store=store, parent_id=n.parent_id, name=n.name, mode=n.mode,
                           mtime_ns=n.mtime_ns)
            self.states[nid] = st
        return st

    async def _load_for_write(self, st: FileState, truncating=False, incoming=None, append=False):
        """Before the first change to a committed file: refuse if this session's view is stale,
        else build on the stored content."""
        reason, base, path = self._load_check(st, truncating, incoming, append)
        if reason:
            await self._refuse(st, st.store, path, base, reason, incoming)

    def _load_check(self, st, truncating, incoming, append):
        if st.pending:
            if st.data is None:
                st.data = bytearray()
            return None, None, None
        n = self.m.node(st.node_id)
        if n is None:
            if st.unlinked:
                return None, None, None
            fail(errno.ENOENT)
        key = (st.store.id, n.path)
        armed, seen = self.armed.get(key), self.seen.get(key)
        reason = staleness.open_check(dirty=st.dirty, append_only=st.append_only, truncated=st.truncated,
                                      loaded=st.loaded_sha, current=n.sha256, armed=armed, seen=seen,
                                      truncating=truncating, append=append)
        if reason:
            return reason, (st.loaded_sha if st.dirty else staleness.basis(armed, seen)), n.path
        if st.dirty:
            return None, None, None
        if truncating:
            st.stale_trunc = staleness.is_stale(armed, seen, n.sha256)
        st.loaded_sha = n.sha256
        st.truncated = truncating
        st.append_only = True
        st.appended = bytearray()
        if not truncating:
            st.data = bytearray(self._blob(n.sha256))
        return None, None, None

    async def _hold_lease(self, st: FileState, incoming=None):
        """A rewrite reserves its file from its first write() to its commit, so that a competing
        writer is refused at its write() (which a shell reports), never only at close()."""
        now = time.monotonic()
        if st.lease_at and now - st.lease_at < settings.get("MEMFS_LEASE_SECONDS") / 2:
            return
        owner, nid, match = self.owner, st.node_id, None if st.truncated else st.loaded_sha
        try:
            current = await self.worker.run(lambda m: m.lease(nid, owner, if_match=match))
        except errors.PreconditionFailed as e:  # changed since loaded, or another session's lease
            n = self.m.node(st.node_id)
            await self._refuse(st, st.store, n.path if n else st.name, st.loaded_sha, e.message, incoming)
        except errors.PathNotFound:
            return  # deleted meanwhile: the commit decides
        st.lease_at = now
        if st.truncated:
            # a rewrite is stale if this session's version is no longer the stored one; with the
            # lease held that can no longer change before the commit, so decide it here
            n = self.m.node(st.node_id)
            key = (st.store.id, n.path) if n else None
            st.stale_trunc = key is not None and staleness.is_stale(self.armed.get(key), self.seen.get(key), current)

    def _drop_lease(self, st: FileState):
        """Give the write lease back, without waiting for it (nothing depends on the answer)."""
        if st.lease_at:
            st.lease_at = 0.0
            nid, owner = st.node_id, self.owner
            self.worker.submit(lambda m: m.release_lease(nid, owner))

    # ------------------------------------------------------------------ commit

    async def _store_call(self, fn, group=True, wait_lease=False):
        """A store write in the worker. `wait_lease`: a write lease held by another session is
        waited out (an append waits for a rewrite to finish), asleep on trio, never in the worker;
        otherwise it refuses the call at once (errors.Leased: a rewrite of this mount competing
        with another's is stale)."""
        deadline = time.monotonic() + settings.get("MEMFS_LEASE_SECONDS") + 1
        delay = 0.002
        while True:
            try:
                return await self.worker.run(fn, group=group)
            except errors.Leased:
                if not wait_lease or time.monotonic() > deadline:
                    raise
                await trio.sleep(delay)
                delay = min(delay * 2, 0.05)

    async def _commit(self, st: FileState):
        """Store what `st` holds as one revision (its lock held by the caller)."""
        if st.unlinked:
            st.dirty = False
            return
        store = st.store
        path = self._path(st)
        key = (store.id, path)
        content = bytes(st.data or b"")
        gen, how, app_len = st.gen, None, len(st.appended)
        armed = self.armed.get(key)  # consumed by a commit that lands; a refused one keeps it armed
        owner, own, expected = self.owner, self.own_revs, None
        mtime = st.mtime_ns if st.mtime_set else None
        try:
            if st.pending and st.kind == SYMLINK:
                target, nid = bytes(st.data), st.node_id
                await self._store_call(lambda m: _own(own, m.symlink(store, path, target, opts=WriteOptions(node_id=nid))))
                self.pending.pop((st.parent_id, st.name), None)
                st.pending = st.dirty = False
                self.states.pop(st.node_id, None)
                return
            if st.pending and st.shadow_of and self.hidden.get(st.shadow_of[1:]) == st.shadow_of[0]:
                return await self._commit_shadow(st)
            exists = st.pending and key in self.seen and self.m.lookup(store, path) is not None
            try:
                how, expected = staleness.commit_plan(
                    pending=st.pending, append_only=st.append_only, truncated=st.truncated, loaded=st.loaded_sha,
                    armed=armed, seen=self.seen.get(key), exists=exists)
            except staleness.Refused as e:
                raise errors.PreconditionFailed(e.reason) from None
            if how == "append":
                appended = bytes(st.appended)
                # wait=False: a lease is waited out here, on trio (_store_call), not in the worker
                r = await self._store_call(lambda m: _hooked(own, lambda: m.append(
                    store, path, appended, mode=st.mode, opts=WriteOptions(mtime_ns=mtime, wait=False))),
                    wait_lease=True)
                content = None
            else:
                nid = st.node_id if st.pending else None
                hooks = st.hooked_sha is None or st.hooked_sha != sha256(content)
                r = await self._store_call(lambda m: _hooked(own, lambda: m.write(
                    store, path, content, mode=st.mode, if_match=expected, hooks=hooks,
                    opts=WriteOptions(node_id=nid, mtime_ns=mtime, lease_owner=owner))))
        except errors.PreconditionFailed:
            await self._refuse(st, store, path, expected, "stale: the file changed since this session's version")
        except errors.HookRefused as e:
            await self._note_hook_refusal(store, path, e)
            await self._abandon(st)
            fail(errno.EACCES)
        except errors.ContentTooLarge:
            await self._abandon(st)
            fail(errno.EFBIG)
        if st.pending:
            if r.node.id != st.node_id:  # landed on a stored file: one renamed away, or another's
                self.hidden.pop((st.parent_id, st.name), None)
                old = self.states.get(r.node.id)
                if old is not None and old is not st:
                    # descriptors opened on the file this one replaced keep the replaced file, as
                    # on a local file system: their writes never reach the new content
                    self._detach(old)
                self._rebind(self.ino(st.node_id), r.node.id)
                self.states.pop(st.node_id, None)
                st.node_id = r.node.id
                self.states[st.node_id] = st
            self.pending.pop((st.parent_id, st.name), None)
            st.pending = False
        self.armed.pop(key, None)
        self.fired.discard(key)
        if r.revision is not None:
            self.stats["commits"] += 1
        if self.refusals:
            await self._landed(store, path, r.node.sha256)
        self.seen[key] = r.node.sha256
        ino = self.ino(r.node.id)
        self.sizes[ino] = r.node.size  # the kernel saw these bytes written
        # the kernel's pages hold what was just written where they were already filled by a read,
        # or where a write covered whole pages; a partly written page is left for a read to fill
        if ino in self.cached or r.node.size >= PAGE:
            self.cached[ino] = r.node.sha256
        st.lease_at = 0.0  # the commit released it
        st.hooked_sha = None
        st.loaded_sha = r.node.sha256
        if st.gen != gen:
            # written to while the commit waited: what came after builds on what was stored
            st.appended = st.appended[app_len:] if how == "append" else bytearray()
            st.truncated = st.stale_trunc = False
            return
        st.dirty = st.written = st.mtime_set = st.stale_trunc = False
        st.truncated = False
        st.data = None
        st.appended = bytearray()
        st.append_only = True
        if r.redacted:  # a write hook changed the content: the kernel's pages hold what was written
            self._invalidate_later(ino)
        elif content is not None:
            self._blobs[r.node.sha256] = content

    async def _commit_unheard(self, st: FileState, when: str, still):
        """A commit no caller hears of (the last release, unmount, a scratch file's grace period):
        taken under the file's lock if `still(st)` holds then; a refusal or failure is logged."""
        try:
            async with st.lock:
                if still(st):
                    await self._commit(st)
        except (pyfuse3.FUSEError, errors.MemfsError) as e:
            why = os.strerror(e.errno) if isinstance(e, pyfuse3.FUSEError) else e.message
            log.warning("could not commit %s %s: %s", st.name, when, why)

    def _detach(self, st: FileState):
        if st.data is None:
            n = self.m.node(st.node_id)
            st.data = bytearray(self._blob(n.sha256)) if n is not None and n.sha256 else bytearray()
        self._drop_lease(st)
        st.unlinked, st.dirty = True, False
        if st.opens == 0:
            self.states.pop(st.node_id, None)

    async def _commit_shadow(self, st: FileState):
        """A backup nobody replaced: perform the rename it stood for (and its edits, if any)."""
        node_id, dir_id, name = st.shadow_of
        self.hidden.pop((dir_id, name), None)
        n = self.m.node(node_id)
        self.pending.pop((st.parent_id, st.name), None)
        self.states.pop(st.node_id, None)
        st.pending = st.dirty = False
        if n is None:
            return
        dst, store, owner, own = self._path(st), st.store, self.owner, self.own_revs
        data = bytes(st.data)
        changed = data != self._blob(n.sha256)

        def move(m):
            if n.path != dst:
                _own(own, m.rename(store, n.path, dst, opts=WriteOptions(lease_owner=owner)))
            if changed:
                _own(own, m.write(store, dst, data, opts=WriteOptions(lease_owner=owner)))

        self._rebind(self.ino(st.node_id), node_id)
        await self._store_call(lambda m: _hooked(own, lambda: move(m)))

    async def _abandon(self, st: FileState):
        """Drop a change that cannot be stored (too large, refused by a hook): nothing of it
        reaches the store, and a file created for it goes away."""
        if st.pending:
            self.pending.pop((st.parent_id, st.name), None)
            self._unlinked(st)
        else:
            st.data, st.dirty, st.written, st.truncated, st.stale_trunc = None, False, False, False, False
            st.gen += 1
            self._drop_lease(st)
        self._invalidate_later(self.ino(st.node_id))

    async def commit_all(self):
        """Before unmount: everything written and not yet committed (scratch files included)."""
        for st in list(self.states.values()):
            if st.unlinked or not (st.dirty or st.pending):
                continue
            st.scratch = False
            try:
                await self._commit_unheard(st, "at unmount", lambda st: st.dirty or st.pending)
            except Exception:
                log.exception("could not commit %s at unmount", st.name)
        await self.record_hook_refusals()
        await self.reads.flush(self.worker)

    async def sweep_scratch(self):
        """Commit scratch files nobody renamed or removed within the grace period."""
        now = time.monotonic()
        for st in list(self.pending.values()):
            if st.scratch and st.opens == 0 and now - st.released_at > self.SCRATCH_GRACE:
                st.scratch = False
                await self._commit_unheard(st, "(a scratch file left alone)", lambda st: st.pending)


def _own(own_revs: set, result):
    """Note a revision this mount wrote, in the worker and before it commits, so that the change
    follower never takes it for another session's."""
    rev = getattr(result, "revision", result)
    if rev is not None and getattr(rev, "id", None) is not None:
        own_revs.add(rev.id)
    head = getattr(result, "head_rev", None)
    if head is not None:
        own_revs.add(head)
    return result


def _hooked(own_revs: set, call):
    """Run a store write inside the worker's shared transaction; one whose write hooks must run
    first (outside any transaction) is handed back to run on its own."""
    try:
        return _own(own_revs, call())
    except _store.HooksOutsideTransaction:
        raise RunAlone() from None
