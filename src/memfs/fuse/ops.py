"""pyfuse3 operations: kernel requests translated into store API calls.

State held here, on the instance (nothing global):
- open files (fuse/files.py): the bytes being written, which version they were based on, how many
  descriptors hold them; a file is committed as one revision on flush (close) or fsync;
- files created through this mount and not yet committed (`pending`), under inode numbers
  reserved in the database, so the inode never changes at the first commit;
- per path, the version this session last read or wrote (`seen`): the implicit precondition,
  judged in fuse/staleness.py; armed `user.memfs.if-match` preconditions;
- the virtual, read-only `.memfs/` tree of each store (fuse/virtual.py).

Nothing here waits on the request loop: store writes, leases, hooks and conflict records run in
the mount's store worker (memfs/worker.py) and are awaited. Short reads (one indexed SQLite query)
stay inline: a thread hop costs more than the query (docs/fuse-notes.md). Namespace changes take
`nslock`, one file's changes its `FileState.lock`, so that no two interleave at an await.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from typing import Callable, Optional

import pyfuse3
import trio

from .. import errors, paths
from ..store import DIR, SYMLINK, Memfs, Store, WriteOptions
from . import virtual
from .coherence import CoherenceMixin
from .names import NamesMixin
from .files import FileState, FilesMixin, Handle, _own
from .handler import fail, handler
from .lastknown import LastKnown
from .lookups import LookupCounts
from .reads import ReadCounter
from .refusals import kernel_retries
from .scratch import is_scratch
from .attributes import AttributesMixin
from ..worker import Worker

log = logging.getLogger("memfs.fuse")

ROOT = pyfuse3.ROOT_INODE
SCRATCH_GRACE = 5.0       # a scratch file left alone this long is committed as an ordinary file


class MemfsOps(FilesMixin, NamesMixin, CoherenceMixin, AttributesMixin, pyfuse3.Operations):
    enable_writeback_cache = False  # size and mtime stay the daemon's (docs/fuse-notes.md)
    SCRATCH_GRACE = SCRATCH_GRACE
    is_scratch = staticmethod(is_scratch)

    def __init__(self, m: Memfs, mounts: list[tuple[Store, str]], *, single: bool = False,
                 owner: Optional[str] = None, open_store: Optional[Callable[[], Memfs]] = None):
        super().__init__()
        # the store calls that may wait run here, on their own connection (see memfs/worker.py)
        self.worker = Worker(open_store or m.reopen, on_abort=lambda: self.own_revs.clear())
        self.nslock = trio.Lock()  # namespace changes (create, mkdir, rename, unlink...) one at a time
        self.refusals: dict = {}   # (store, path, base, hash) -> (conflict id, when): recent refusals
        self.fired: set = set()    # armed if-matches that refused a write (see files._read)
        self.hook_refusals: list = []  # refused by a write hook, to record (without the content)
        self._hooked: dict = {}    # store id -> (when asked, has write hooks)
        self.owner = owner or f"mount-{os.getpid()}"  # this mount's name on the write leases it holds
        self.m = m
        self.scopes: dict[int, tuple[Store, str]] = {s.id: (s, scope) for s, scope in mounts}
        self.by_slug = {s.slug: s for s, _ in mounts}
        if len(self.by_slug) != len(mounts):
            raise errors.InvalidInput("two of the stores have the same slug; mount them separately")
        self.single_root = mounts[0][0].root_node if single else None
        self.uid, self.gid = os.getuid(), os.getgid()
        self.states: dict[int, FileState] = {}
        self.pending: dict[tuple[int, str], FileState] = {}
        # Inodes are node ids + 1, except where a save by rename made the kernel's inode and the
        # stored file part ways: `alias` maps such an inode to its node, `node_ino` a node to its inode.
        self.alias: dict[int, int] = {}
        self.node_ino: dict[int, int] = {}
        self.hidden: dict[tuple[int, str], int] = {}  # (dir, name) -> node renamed away, not yet in the store
        self._dirs: dict[int, object] = {}  # directory rows by id (see _dir)
        self.handles: dict[int, Handle] = {}
        self.dirhandles: dict[int, list] = {}
        self.seen: dict[tuple[int, str], Optional[str]] = {}
        self.armed: dict[tuple[int, str], str] = {}
        self.own_revs: set[int] = set()
        self.cursor = m.head()
        self._fh = 0
        self._ids: list[int] = []
        self._blobs: dict[str, bytes] = {}
        self.known = LastKnown(m)  # read-only answers while the database is unreachable
        self.virt = virtual.VirtualTree(self)
        self.stats = {"commits": 0, "conflicts": 0}
        self.requests: dict[str, int] = {}  # FUSE requests by type, logged at unmount
        self.invalidate_soon: set[int] = set()  # inodes whose kernel cache must go, outside a request
        self.invalidating: set[int] = set()     # ... and those whose invalidation is under way
        self.wake = trio.Event()                # wakes the change follower early
        self.sizes: dict[int, int] = {}          # inode -> the size the kernel was last told
        self.lookups = LookupCounts()            # the kernel's lookup count per inode (fuse/lookups.py)
        self.cached: dict[int, str] = {}         # inode -> the version whose pages the kernel may hold
        self.reads = ReadCounter(m)              # read counts, to the store in batches (fuse/reads.py)

    # ------------------------------------------------------------------ inode <-> node

    def ino(self, node_id: int) -> int:
        return ROOT if node_id == self.single_root else self.node_ino.get(node_id, node_id + 1)

    def _rebind(self, ino: int, node_id: int):
        self.alias[ino] = node_id
        self.node_ino[node_id] = ino

    def _child(self, parent_id: int, name: str):
        """The stored child as the kernel sees it: none where it was renamed away (see hidden)."""
        return None if (parent_id, name) in self.hidden else self.known.child(parent_id, name)

    def nid(self, ino: int) -> Optional[int]:
        if ino == ROOT:
            return self.single_root
        if ino >= virtual.VBASE:
            return None
        return self.alias.get(ino, ino - 1)

    def _next_fh(self) -> int:
        self._fh += 1
        return self._fh

    async def _new_node_id(self) -> int:
        if not self._ids:
            ids = await self.worker.run(lambda m: m.reserve_node_ids(256), group=False)
            if not self._ids:
                self._ids = list(ids)[::-1]
        return self._ids.pop()

    def _scope(self, store_id: int) -> tuple[Store, str]:
        try:
            return self.scopes[store_id]
        except KeyError:
            fail(errno.ENOENT)

    def _writable(self, store_id: int) -> Store:
        store, scope = self._scope(store_id)
        if scope != "rw":
            fail(errno.EROFS)
        return store

    def _node(self, ino: int):
        nid = self.nid(ino)
        if nid is None:
            fail(errno.ENOENT)
        n = self.known.node(nid)
        if n is None or n.store_id not in self.scopes:
            fail(errno.ENOENT)
        return n

    def _dir(self, node_id: int):
        """A node, directories from a cache: every create and commit needs its parent's path.
        The cache is dropped whenever a directory moves or goes (here or in another session)."""
        d = self._dirs.get(node_id)
        if d is None:
            d = self.known.node(node_id)
            if d is not None and d.kind == DIR:
                self._dirs[node_id] = d
        return d

    def _dir_node(self, ino: int):
        if ino >= virtual.VBASE or (ino == ROOT and self.single_root is None):
            fail(errno.EROFS)
        nid = self.nid(ino)
        n = self._dir(nid) if nid is not None else None
        if n is None or n.store_id not in self.scopes:
            fail(errno.ENOENT)
        if n.kind != DIR:
            fail(errno.ENOTDIR)
        return n

    def _new_name(self, d, name) -> str:
        """A name for a new entry in directory node `d`: valid, and not the virtual .memfs."""
        name = paths.check_name(name)
        if d.parent_id is None and name == virtual.DIRNAME:
            fail(errno.EROFS)
        if len(d.path.encode("utf-8")) + 1 + len(name.encode("utf-8")) > paths.MAX_PATH_BYTES:
            fail(errno.ENAMETOOLONG)  # refused now: the commit at close() would fail, unseen by bash
        return name

    def _path(self, st: FileState) -> str:
        parent = self._dir(st.parent_id)
        if parent is None:
            fail(errno.ENOENT)
        return paths.join(parent.path, st.name)

    # ------------------------------------------------------------------ lookup & attributes

    def _entry(self, attr):
        """An entry the kernel will hold (lookup, create, mkdir, symlink, mknod, readdirplus): one
        more lookup for it to forget."""
        self.lookups.add(attr.st_ino)
        return attr

    @handler
    async def lookup(self, parent_ino, name, ctx=None):
        return self._entry(await self._lookup(parent_ino, name))

    async def _lookup(self, parent_ino, name):
        if len(name) > paths.MAX_NAME_BYTES:
            fail(errno.ENAMETOOLONG)
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            return self._negative()
        if parent_ino == ROOT and self.single_root is None:
            s = self.by_slug.get(name)
            return self._node_attr(self.known.node(s.root_node)) if s else self._negative()
        if parent_ino >= virtual.VBASE:
            return self.virt.lookup(parent_ino, name)
        pnid = self.nid(parent_ino)
        st = self.pending.get((pnid, name))
        if st is not None:
            return self._state_attr(st)
        n = self._child(pnid, name)
        if n is not None:
            return self._node_attr(n)
        if name == virtual.DIRNAME:
            p = self.known.node(pnid)
            if p is not None and p.parent_id is None and p.store_id in self.scopes:
                return self.virt.lookup_root(p.store_id)
        return self._negative()

    async def forget(self, inode_list):
        # the kernel dropped these inodes: what it was told about their size no longer matters.
        # Only once it forgot every lookup: a FORGET of an evicted inode can arrive after a new
        # LOOKUP of the same inode, whose size must stay known (without it a whole read of the
        # new version would be judged a blend, and the session's next write refused)
        for ino, n in inode_list:
            if self.lookups.forget(ino, n):
                self.sizes.pop(ino, None)
                self.cached.pop(ino, None)

    @handler
    async def getattr(self, ino, ctx=None):
        if ino == ROOT and self.single_root is None:
            return self._root_attr()
        if ino >= virtual.VBASE:
            return self.virt.getattr(ino)
        nid = self.nid(ino)
        await self.settled(nid)
        st = self.states.get(nid)
        if st is not None and (st.pending or st.unlinked):
            return self._state_attr(st, ino)
        # a directory from the cache creates use: the kernel asks for it again after every
        # create in it (default_permissions); see _dir for when the cache is dropped
        n = self._dirs.get(nid) or self.known.node(nid)
        if n is None or n.store_id not in self.scopes:
            fail(errno.ENOENT)
        return self._node_attr(n, ino)

    @handler
    async def setattr(self, ino, attr, fields, fh, ctx):
        if ino >= virtual.VBASE or (ino == ROOT and self.single_root is None):
            fail(errno.EROFS)
        nid = self.nid(ino)
        self._dirs.pop(nid, None)  # a directory's mode or mtime may change: read it again
        st = self.states.get(nid)
        store_id = st.store.id if st is not None else self._node(ino).store_id
        store = self._writable(store_id)
        if fields.update_size:
            if attr.st_size > store.max_content_bytes:
                if st is not None and st.dirty:
                    async with st.lock:
                        await self._abandon(st)
                fail(errno.EFBIG)
            st = self._state_for_write(nid, store)
            h = self.handles.get(fh) if fh is not None else None
            if isinstance(h, Handle):
                h.changed = True
            async with st.lock:
                await self._load_for_write(st, truncating=attr.st_size == 0)
                if attr.st_size == 0:
                    st.data = bytearray()
                    st.truncated = True
                elif attr.st_size < len(st.data):
                    del st.data[attr.st_size:]
                else:
                    st.data.extend(b"\0" * (attr.st_size - len(st.data)))
                st.append_only = False
                st.dirty = st.written = True
                st.gen += 1
                st.mtime_ns = time.time_ns()
                if fh is None:  # truncate(2) by path: no close will follow
                    await self._commit(st)
                    if st.opens == 0 and not st.pending:
                        self.states.pop(st.node_id, None)
        own = self.own_revs
        if fields.update_mode:
            mode = attr.st_mode & 0o7777
            if st is not None and st.pending:
                st.mode = mode
            else:
                path = self._node(ino).path
                await self._store_call(lambda m: _own(own, m.chmod(store, path, mode)))
                if st is not None:
                    st.mode = mode
        if fields.update_mtime or fields.update_atime:
            mt = attr.st_mtime_ns if fields.update_mtime else None
            if mt is not None:
                if st is not None and (st.pending or st.dirty):
                    st.mtime_ns, st.mtime_set = mt, True
                if st is None or not st.pending:
                    await self._store_call(lambda m: m.set_mtime(nid, mt))
        # uid/gid: stores keep no owners; accepted so that cp -a, tar and rsync -a go on
        return await self.getattr(ino, ctx)

    @handler
    async def readlink(self, ino, ctx):
        st = self.states.get(self.nid(ino))
        if st is not None and st.pending and st.kind == SYMLINK:
            return bytes(st.data)
        n = self._node(ino)
        if n.kind != SYMLINK:
            fail(errno.EINVAL)
        return self.m.blob(n.sha256)

    @handler
    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 30
        s.f_files = s.f_ffree = s.f_favail = 1 << 30
        s.f_namemax = paths.MAX_NAME_BYTES
        return s

    @handler
    async def access(self, ino, mode, ctx):
        if mode & os.W_OK:
            if ino >= virtual.VBASE or (ino == ROOT and self.single_root is None):
                return False
            n = self._node(ino)
            return self.scopes[n.store_id][1] == "rw"
        return True

    # ------------------------------------------------------------------ directories

    @handler
    async def opendir(self, ino, ctx):
        if ino == ROOT and self.single_root is None:
            entries = [(s.slug, self._node_attr(self.known.node(s.root_node), told=False)) for s in self.by_slug.values()]
        elif ino >= virtual.VBASE:
            entries = self.virt.listdir(ino)
        else:
            d = self._node(ino)
            if d.kind != DIR:
                fail(errno.ENOTDIR)
            # the kernel is told each entry's size when readdir hands it out, maybe much later
            entries = [(n.name, self._node_attr(n, told=False)) for n in self.known.children(d.id)
                       if (d.id, n.name) not in self.hidden]
            entries += [(st.name, self._state_attr(st, told=False)) for (pid, _), st in self.pending.items()
                        if pid == d.id]
            entries.sort(key=lambda e: e[0])
            here = self._node_attr(d, ino, told=False)
            entries[:0] = [(".", here), ("..", here)]  # the kernel does not link these; ls -a shows them
        fh = self._next_fh()
        self.dirhandles[fh] = entries
        return fh

    @handler
    async def readdir(self, fh, start_id, token):
        entries = self.dirhandles.get(fh, [])
        for i in range(start_id, len(entries)):
            name, attr = entries[i]
            if not pyfuse3.readdir_reply(token, name.encode("utf-8"), attr, i + 1):
                break
            if name not in (".", ".."):  # the kernel links (and later forgets) the others
                self._entry(attr)
                # what the kernel is told now, however old: a change since opendir must make a
                # read of the new version count as clipped (a blend), not whole
                self.sizes[attr.st_ino] = attr.st_size

    @handler
    async def releasedir(self, fh):
        self.dirhandles.pop(fh, None)

    @handler
    async def mkdir(self, parent_ino, name, mode, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        async with self.nslock:
            if (d.id, name) in self.pending:
                fail(errno.EEXIST)
            path, own, nid = paths.join(d.path, name), self.own_revs, await self._new_node_id()
            n = await self._store_call(lambda m: _own(own, m.mkdir(store, path, mode=mode & ~ctx.umask & 0o7777,
                                                                     opts=WriteOptions(node_id=nid))))
        return self._entry(self._node_attr(n))

    @handler
    async def rmdir(self, parent_ino, name, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = paths.check_name(name)
        async with self.nslock:
            n = self._child(d.id, name)
            if n is None:
                fail(errno.ENOENT)
            if n.kind != DIR:
                fail(errno.ENOTDIR)
            if any(pid == n.id for pid, _ in self.pending):
                fail(errno.ENOTEMPTY)
            own = self.own_revs
            await self._store_call(lambda m: _own(own, m.rmdir(store, n.path)))
            self._dirs.pop(n.id, None)

    @handler
    async def symlink(self, parent_ino, name, target, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        async with self.nslock:
            if (d.id, name) in self.pending:
                fail(errno.EEXIST)
            if is_scratch(name, d.name):  # a tool's probe (git init): kept in memory like scratch files
                if self._child(d.id, name) is not None:
                    fail(errno.EEXIST)
                st = FileState(node_id=await self._new_node_id(), store=store, parent_id=d.id, name=name,
                               mode=0o777, mtime_ns=time.time_ns(), data=bytearray(target), dirty=True,
                               pending=True, scratch=True, kind=SYMLINK, released_at=time.monotonic())
                self.pending[(d.id, name)] = st
                self.states[st.node_id] = st
                return self._entry(self._state_attr(st))
            path, own, nid = paths.join(d.path, name), self.own_revs, await self._new_node_id()
            n = await self._store_call(lambda m: _own(own, m.symlink(store, path, target, opts=WriteOptions(node_id=nid))))
        return self._entry(self._node_attr(n))

    @handler
    async def link(self, ino, new_parent_ino, new_name, ctx):
        # hard links would give one file two paths and two histories; git falls back to rename
        for i in (ino, new_parent_ino):
            if i >= virtual.VBASE:
                fail(errno.EROFS)
            self._writable(self._node(i).store_id)
        fail(errno.EPERM)

    @handler
    async def mknod(self, parent_ino, name, mode, rdev, ctx):
        self._writable(self._dir_node(parent_ino).store_id)
        if not stat.S_ISREG(mode):
            fail(errno.EPERM)  # fifos, sockets, devices: a store holds files, directories and links
        # a regular file (tar creates files with mknodat): as an empty file created and closed
        fi, attr = await self._create(parent_ino, name, mode, os.O_CREAT | os.O_EXCL | os.O_WRONLY, ctx)
        try:
            await self._flush(fi.fh)
        finally:
            await self._release(fi.fh)
        return self._entry(await self.getattr(attr.st_ino, ctx))

    @handler
    async def unlink(self, parent_ino, name, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = paths.check_name(name)
        own, owner = self.own_revs, self.owner
        async with self.nslock:
            st = self.pending.get((d.id, name))
            if st is not None:  # never committed: nothing to record
                async with st.lock:
                    if self.pending.get((d.id, name)) is st:
                        del self.pending[(d.id, name)]
                        self._unlinked(st)
                        if st.shadow_of and self.hidden.get(st.shadow_of[1:]) == st.shadow_of[0]:
                            # renamed away and removed, with nothing saved in its place: a deletion
                            del self.hidden[st.shadow_of[1:]]
                            n = self.m.node(st.shadow_of[0])
                            if n is not None:
                                await self._store_call(lambda m: _own(own, m.delete(store, n.path, opts=WriteOptions(lease_owner=owner))))
                        return
            n = self._child(d.id, name)
            if n is None:
                fail(errno.ENOENT)
            if n.kind == DIR:
                fail(errno.EISDIR)
            st = self.states.get(n.id)
            if st is None:
                await self._store_call(lambda m: _own(own, m.delete(store, n.path, opts=WriteOptions(lease_owner=owner))))
            else:
                async with st.lock:
                    if st.data is None:
                        st.data = bytearray(self._blob(n.sha256))  # open descriptors keep reading it
                    await self._store_call(lambda m: _own(own, m.delete(store, n.path, opts=WriteOptions(lease_owner=owner))))
                    self._unlinked(st)
            self.seen.pop((store.id, n.path), None)

    @handler
    async def rename(self, p_old, name_old, p_new, name_new, flags, ctx):
        if flags & pyfuse3.RENAME_EXCHANGE:
            fail(errno.EINVAL)
        noreplace = bool(flags & pyfuse3.RENAME_NOREPLACE)
        if p_old >= virtual.VBASE or p_new >= virtual.VBASE:
            fail(errno.EROFS)
        dold, dnew = self._dir_node(p_old), self._dir_node(p_new)
        store = self._writable(dold.store_id)
        self._writable(dnew.store_id)
        if dold.store_id != dnew.store_id:
            fail(errno.EXDEV)
        name_old, name_new = paths.check_name(name_old), self._new_name(dnew, name_new)
        with kernel_retries():
            return await self._rename_locked(store, dold, name_old, dnew, name_new, noreplace)

    async def _rename_locked(self, store, dold, name_old, dnew, name_new, noreplace):
        async with self.nslock:
            src = self.pending.get((dold.id, name_old))
            n = None if src is not None else self._child(dold.id, name_old)
            st = src or (self.states.get(n.id) if n is not None else None)
            if st is None:
                return await self._rename(store, dold, name_old, dnew, name_new, noreplace)
            async with st.lock:  # a commit of the file in flight lands first
                return await self._rename(store, dold, name_old, dnew, name_new, noreplace)

    # ------------------------------------------------------------------ files (fuse/files.py)

    @handler
    async def create(self, parent_ino, name, mode, flags, ctx):
        with kernel_retries():
            fi, attr = await self._create(parent_ino, name, mode, flags, ctx)
        return fi, self._entry(attr)

    @handler
    async def open(self, ino, flags, ctx):
        with kernel_retries():
            return await self._open(ino, flags, ctx)

    @handler
    async def read(self, fh, off, size):
        return await self._read(fh, off, size)

    @handler
    async def write(self, fh, off, buf):
        return await self._write(fh, off, buf)

    @handler
    async def flush(self, fh):
        return await self._flush(fh)

    @handler
    async def fsync(self, fh, datasync):
        return await self._flush(fh)

    @handler
    async def release(self, fh):
        return await self._release(fh)
