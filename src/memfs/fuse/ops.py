"""pyfuse3 operations: kernel requests translated into store API calls.

State held here, on the instance (nothing global):
- open files, per node: the bytes being written, which version they were based on, how many
  descriptors hold them; a file is committed as one revision on flush (close) or fsync;
- files created through this mount and not yet committed (`pending`), under inode numbers
  reserved in the database, so the inode never changes at the first commit;
- per path, the version this session last read or wrote (`seen`): the implicit precondition;
- armed `user.memfs.if-match` preconditions;
- the virtual, read-only `.memfs/` tree of each store.

Handlers never await while they touch that state, so on trio's single thread they run one at a
time. Short SQLite calls run inline (a thread hop costs more than the query, see docs/fuse-notes.md).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Optional

import pyfuse3
import trio

from .. import errors, paths
from ..config import fmt_time
from ..store import DIR, FILE, LEASE_SECONDS, SYMLINK, Memfs, Store, sha256
from . import virtual
from .lastknown import LastKnown
from .scratch import is_scratch

log = logging.getLogger("memfs.fuse")

ROOT = pyfuse3.ROOT_INODE
TIMEOUT = 60.0            # entry/attr cache lifetime; the change feed invalidates earlier
SCRATCH_GRACE = 5.0       # a scratch file left alone this long is committed as an ordinary file
XATTRS = ("sha256", "version", "author", "session", "mtime")
MIXED = "mixed"  # a `seen` value matching no version: the kernel may have shown a blend of two
PAGE = os.sysconf("SC_PAGE_SIZE")  # the unit of the kernel's page cache


def handler(fn):
    """Map library errors to their errno; anything unexpected to EIO (an uncaught exception would
    take the whole mount down)."""

    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(self, *args):
        self.requests[name] = self.requests.get(name, 0) + 1
        try:
            return await fn(self, *args)
        except pyfuse3.FUSEError:
            raise
        except errors.MemfsError as e:
            log.debug("%s: %s", fn.__name__, e)
            raise pyfuse3.FUSEError(e.errno) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper


def fail(code):
    raise pyfuse3.FUSEError(code)


@dataclass
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


@dataclass
class Handle:
    st: FileState
    append: bool
    writable: bool
    trunc: bool = False
    read_sha: Optional[str] = None  # the version this handle has read, MIXED if more than one


class MemfsOps(pyfuse3.Operations):
    enable_writeback_cache = False  # size and mtime stay the daemon's (docs/fuse-notes.md)

    def __init__(self, m: Memfs, mounts: list[tuple[Store, str]], *, single: bool = False,
                 owner: Optional[str] = None):
        super().__init__()
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
        self._last_refusal = None
        self.invalidate_soon: set[int] = set()  # inodes whose kernel cache must go, outside a request
        self.wake = trio.Event()                # wakes the change follower early
        self.sizes: dict[int, int] = {}          # inode -> the size the kernel was last told
        self.cached: dict[int, str] = {}         # inode -> the version whose pages the kernel may hold

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

    def _new_node_id(self) -> int:
        if not self._ids:
            self._ids = list(self.m.reserve_node_ids(256))[::-1]
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
        return name

    def _path(self, st: FileState) -> str:
        parent = self._dir(st.parent_id)
        if parent is None:
            fail(errno.ENOENT)
        return paths.join(parent.path, st.name)

    # ------------------------------------------------------------------ attributes

    def _attr(self, ino, kind, perm, size, mtime_ns, ctime_ns, ro, nlink=1, timeout=TIMEOUT):
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.st_mode = {FILE: stat.S_IFREG, DIR: stat.S_IFDIR, SYMLINK: stat.S_IFLNK}[kind] | (
            perm & ~0o222 if ro and kind != SYMLINK else perm)
        a.st_nlink = 2 if kind == DIR else nlink
        a.st_uid, a.st_gid = self.uid, self.gid
        a.st_size = size
        self.sizes[ino] = size
        a.st_blksize = 4096
        a.st_blocks = (size + 511) // 512
        a.st_atime_ns = a.st_mtime_ns = mtime_ns
        a.st_ctime_ns = ctime_ns
        a.entry_timeout = a.attr_timeout = timeout
        return a

    def _node_attr(self, n, ino=None):
        st = self.states.get(n.id)
        size = len(st.data) if st is not None and st.data is not None else n.size
        mtime = st.mtime_ns if st is not None and st.dirty else n.mtime_ns
        ro = self.scopes[n.store_id][1] != "rw"
        return self._attr(ino or self.ino(n.id), n.kind, n.mode, size, mtime, max(n.ctime_ns, mtime), ro)

    def _state_attr(self, st: FileState, ino=None):
        ro = self.scopes[st.store.id][1] != "rw"
        size = len(st.data) if st.data is not None else 0
        return self._attr(ino or self.ino(st.node_id), st.kind, st.mode, size, st.mtime_ns, st.mtime_ns, ro,
                          nlink=0 if st.unlinked else 1)

    def _root_attr(self):
        now = time.time_ns()
        return self._attr(ROOT, DIR, 0o555, 0, now, now, True)

    def _negative(self):
        a = pyfuse3.EntryAttributes()
        a.st_ino = 0
        a.entry_timeout = TIMEOUT
        return a

    # ------------------------------------------------------------------ lookup & attributes

    @handler
    async def lookup(self, parent_ino, name, ctx=None):
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
        # the kernel dropped these inodes: what it was told about their size no longer matters
        for ino, _ in inode_list:
            self.sizes.pop(ino, None)
            self.cached.pop(ino, None)

    @handler
    async def getattr(self, ino, ctx=None):
        if ino == ROOT and self.single_root is None:
            return self._root_attr()
        if ino >= virtual.VBASE:
            return self.virt.getattr(ino)
        nid = self.nid(ino)
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
                    self._abandon(st)
                fail(errno.EFBIG)
            st = self._state_for_write(nid, store)
            self._load_for_write(st, truncating=attr.st_size == 0)
            if attr.st_size == 0:
                st.data = bytearray()
                st.truncated = True
            elif attr.st_size < len(st.data):
                del st.data[attr.st_size:]
            else:
                st.data.extend(b"\0" * (attr.st_size - len(st.data)))
            st.append_only = False
            st.dirty = st.written = True
            st.mtime_ns = time.time_ns()
            if fh is None:  # truncate(2) by path: no close will follow
                self._commit(st)
                if st.opens == 0 and not st.pending:
                    self.states.pop(st.node_id, None)
        if fields.update_mode:
            mode = attr.st_mode & 0o7777
            if st is not None and st.pending:
                st.mode = mode
            else:
                n = self._node(ino)
                self.m.chmod(store, n.path, mode)
                if st is not None:
                    st.mode = mode
        if fields.update_mtime or fields.update_atime:
            mt = attr.st_mtime_ns if fields.update_mtime else None
            if mt is not None:
                if st is not None and (st.pending or st.dirty):
                    st.mtime_ns, st.mtime_set = mt, True
                if st is None or not st.pending:
                    self.m.set_mtime(nid, mt)
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
            entries = [(s.slug, self._node_attr(self.known.node(s.root_node))) for s in self.by_slug.values()]
        elif ino >= virtual.VBASE:
            entries = self.virt.listdir(ino)
        else:
            d = self._node(ino)
            if d.kind != DIR:
                fail(errno.ENOTDIR)
            entries = [(n.name, self._node_attr(n)) for n in self.known.children(d.id) if (d.id, n.name) not in self.hidden]
            entries += [(st.name, self._state_attr(st)) for (pid, _), st in self.pending.items() if pid == d.id]
            entries.sort(key=lambda e: e[0])
            here = self._node_attr(d, ino)
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

    @handler
    async def releasedir(self, fh):
        self.dirhandles.pop(fh, None)

    @handler
    async def mkdir(self, parent_ino, name, mode, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        if (d.id, name) in self.pending:
            fail(errno.EEXIST)
        n = self.m.mkdir(store, paths.join(d.path, name), mode=mode & ~ctx.umask & 0o7777,
                         node_id=self._new_node_id())
        self.own_revs.add(n.head_rev)
        return self._node_attr(n)

    @handler
    async def rmdir(self, parent_ino, name, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = paths.check_name(name)
        n = self._child(d.id, name)
        if n is None:
            fail(errno.ENOENT)
        if n.kind != DIR:
            fail(errno.ENOTDIR)
        if any(pid == n.id for pid, _ in self.pending):
            fail(errno.ENOTEMPTY)
        rev = self.m.rmdir(store, n.path)
        self.own_revs.add(rev.id)
        self._dirs.pop(n.id, None)

    @handler
    async def symlink(self, parent_ino, name, target, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        if (d.id, name) in self.pending:
            fail(errno.EEXIST)
        if is_scratch(name, d.name):  # a tool's probe (git init): kept in memory like scratch files
            if self._child(d.id, name) is not None:
                fail(errno.EEXIST)
            st = FileState(node_id=self._new_node_id(), store=store, parent_id=d.id, name=name, mode=0o777,
                           mtime_ns=time.time_ns(), data=bytearray(target), dirty=True, pending=True,
                           scratch=True, kind=SYMLINK, released_at=time.monotonic())
            self.pending[(d.id, name)] = st
            self.states[st.node_id] = st
            return self._state_attr(st)
        n = self.m.symlink(store, paths.join(d.path, name), target, node_id=self._new_node_id())
        self.own_revs.add(n.head_rev)
        return self._node_attr(n)

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
        fail(errno.EPERM)

    @handler
    async def unlink(self, parent_ino, name, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = paths.check_name(name)
        st = self.pending.pop((d.id, name), None)
        if st is not None:  # never committed: nothing to record
            self._unlinked(st)
            if st.shadow_of and self.hidden.get(st.shadow_of[1:]) == st.shadow_of[0]:
                # renamed away and removed, with nothing saved in its place: a deletion
                del self.hidden[st.shadow_of[1:]]
                n = self.m.node(st.shadow_of[0])
                if n is not None:
                    self.own_revs.add(self.m.delete(store, n.path, lease_owner=self.owner).id)
            return
        n = self._child(d.id, name)
        if n is None:
            fail(errno.ENOENT)
        if n.kind == DIR:
            fail(errno.EISDIR)
        st = self.states.get(n.id)
        if st is not None and st.data is None:
            st.data = bytearray(self._blob(n.sha256))  # open descriptors keep reading it
        rev = self.m.delete(store, n.path, lease_owner=self.owner)
        self.own_revs.add(rev.id)
        self.seen.pop((store.id, n.path), None)
        if st is not None:
            self._unlinked(st)

    def _unlinked(self, st: FileState):
        st.unlinked = True
        st.dirty = False
        if st.opens == 0:
            self.states.pop(st.node_id, None)

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
        dst_path = paths.join(dnew.path, name_new)
        dst_pending = self.pending.get((dnew.id, name_new))
        dst_node = None if dst_pending else self._child(dnew.id, name_new)
        if noreplace and (dst_pending or dst_node):
            fail(errno.EEXIST)
        src = self.pending.get((dold.id, name_old))
        if src is not None:
            return self._rename_pending(src, store, dnew, name_new, dst_path, dst_pending, dst_node)
        n = self._child(dold.id, name_old)
        if n is None:
            fail(errno.ENOENT)
        st = self.states.get(n.id)
        if (st is None and n.kind == FILE and dst_node is None and dst_pending is None
                and is_scratch(name_new, dnew.name) and not is_scratch(name_old, dold.name)
                and self.m.child(dnew.id, name_new) is None):
            return self._rename_to_backup(n, store, dold, dnew, name_new)
        if st is not None and st.dirty:
            self._commit(st)
        if dst_node is not None and dst_node.kind == FILE:
            self._check_fresh(store, dst_path, dst_node.sha256, None)
        if dst_pending is not None:
            self.pending.pop((dnew.id, name_new))
            self._unlinked(dst_pending)
        replaced = self.states.get(dst_node.id) if dst_node is not None else None
        rev = self.m.rename(store, n.path, dst_path, noreplace=noreplace, lease_owner=self.owner)
        self.own_revs.add(rev.id)
        self._dirs.clear()  # a directory's move changes the paths below it
        if replaced is not None:
            self._unlinked(replaced)
        if st is not None:  # open descriptors follow the file
            st.parent_id, st.name = dnew.id, name_new
        self._move_seen(store.id, n.path, dst_path)

    def _rename_to_backup(self, n, store, dold, dnew, name_new):
        """`mv f f~` before an editor writes a new `f` (vim's backupcopy=no, emacs): the store
        keeps `f` where it is, hidden here, and the backup is served from memory. If a new `f`
        follows, it lands on the same stored file, whose history goes on; if the backup is then
        removed, nothing else happens. Left alone, the backup becomes the real rename."""
        sb = FileState(node_id=self._new_node_id(), store=store, parent_id=dnew.id, name=name_new, mode=n.mode,
                       mtime_ns=n.mtime_ns, data=bytearray(self._blob(n.sha256)), dirty=True, pending=True,
                       scratch=True, released_at=time.monotonic(), shadow_of=(n.id, dold.id, n.name))
        self._rebind(self.ino(n.id), sb.node_id)  # the kernel's inode is now the backup's
        self._rebind(self.ino(self._new_node_id()), n.id)  # and the stored file gets a fresh one
        self.hidden[(dold.id, n.name)] = n.id
        self.pending[(dnew.id, name_new)] = sb
        self.states[sb.node_id] = sb

    def _commit_shadow(self, st: FileState):
        """A backup nobody replaced: perform the rename it stood for (and its edits, if any)."""
        node_id, dir_id, name = st.shadow_of
        self.hidden.pop((dir_id, name), None)
        n = self.m.node(node_id)
        self.pending.pop((st.parent_id, st.name), None)
        self.states.pop(st.node_id, None)
        st.pending = st.dirty = False
        if n is None:
            return
        dst = self._path(st)
        if n.path != dst:
            self.own_revs.add(self.m.rename(st.store, n.path, dst, lease_owner=self.owner).id)
        self._rebind(self.ino(st.node_id), node_id)
        if bytes(st.data) != self._blob(n.sha256):
            r = self.m.write(st.store, dst, bytes(st.data), lease_owner=self.owner)
            if r.revision:
                self.own_revs.add(r.revision.id)

    def _rename_pending(self, st, store, dnew, name_new, dst_path, dst_pending, dst_node):
        """A file this mount created and has not committed (a scratch file, typically) moves onto
        a name: the content becomes one revision of the target."""
        if dst_node is not None and dst_node.kind == DIR:
            fail(errno.EISDIR)
        old = (st.parent_id, st.name, st.scratch)
        self.pending.pop((st.parent_id, st.name))
        if dst_pending is not None:
            self.pending.pop((dnew.id, name_new))
        st.parent_id, st.name = dnew.id, name_new
        st.scratch = is_scratch(name_new, dnew.name)
        self.pending[(dnew.id, name_new)] = st
        if not st.scratch:
            try:
                self._commit(st)
            except pyfuse3.FUSEError:
                # refused: both files stay as they were (the kernel keeps the old names too)
                self.pending.pop((dnew.id, name_new), None)
                if dst_pending is not None:
                    self.pending[(dnew.id, name_new)] = dst_pending
                st.parent_id, st.name, st.scratch = old
                st.dirty = True
                self.pending[(st.parent_id, st.name)] = st
                raise
        if dst_pending is not None:
            self._unlinked(dst_pending)

    def _move_seen(self, store_id, src, dst):
        for key in [k for k in self.seen if k[0] == store_id and (k[1] == src or k[1].startswith(src + "/"))]:
            self.seen[(store_id, dst + key[1][len(src):])] = self.seen.pop(key)

    # ------------------------------------------------------------------ files

    @handler
    async def create(self, parent_ino, name, mode, flags, ctx):
        d = self._dir_node(parent_ino)
        store = self._writable(d.store_id)
        name = self._new_name(d, name)
        existing = self.pending.get((d.id, name)) or self._child(d.id, name)
        if existing is not None:
            # our negative entry was stale (another session created it): open what is there
            if flags & os.O_EXCL:
                fail(errno.EEXIST)
            ino = self.ino(existing.node_id if isinstance(existing, FileState) else existing.id)
            fi = await self.open(ino, flags & ~os.O_CREAT, ctx)
            return fi, await self.getattr(ino, ctx)
        st = FileState(node_id=self._new_node_id(), store=store, parent_id=d.id, name=name,
                       mode=mode & ~ctx.umask & 0o7777, mtime_ns=time.time_ns(), data=bytearray(),
                       dirty=True, truncated=True, pending=True, scratch=is_scratch(name, d.name))
        self.pending[(d.id, name)] = st
        self.states[st.node_id] = st
        st.opens += 1
        fh = self._next_fh()
        self.handles[fh] = Handle(st, bool(flags & os.O_APPEND), True, bool(flags & os.O_TRUNC))
        return pyfuse3.FileInfo(fh=fh, keep_cache=True), self._state_attr(st)

    @handler
    async def open(self, ino, flags, ctx):
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
            if n.kind == DIR:
                fail(errno.EISDIR)
            store, scope = self.scopes[n.store_id]
            st = FileState(node_id=n.id, store=store, parent_id=n.parent_id, name=n.name, mode=n.mode,
                           mtime_ns=n.mtime_ns)
        if writable or truncating:
            store = self._writable(st.store.id)
            if truncating:
                if not st.pending:
                    self._load_for_write(st, truncating=True)
                st.data = bytearray()
                st.truncated = True
                st.append_only = False
                st.dirty = True
                st.mtime_ns = time.time_ns()
        self.states[st.node_id] = st
        st.opens += 1
        fh = self._next_fh()
        # keep_cache: this handle may be served the kernel's pages of the version it holds
        self.handles[fh] = Handle(st, bool(flags & os.O_APPEND), writable, bool(flags & os.O_TRUNC),
                                  read_sha=self.cached.get(ino))
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    @handler
    async def read(self, fh, off, size):
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
        # The implicit precondition is the version this session last read. The kernel shows the
        # reader what we return clipped to the size it believes, from pages it may have cached:
        # only a read from the start, with that size right, shows one whole version. Otherwise
        # (another session's commit not yet invalidated here) the reader saw a blend: writes based
        # on it are refused until a clean read, and the kernel's copy is dropped now.
        # A read from offset 0 may also be the kernel refilling its page cache in the middle of a
        # reader's pass, after another session's commit invalidated it: so a handle that has
        # already read one version (through us, or from the kernel's pages of it) and now gets
        # another has read a blend, whatever the offset.
        ino = self.ino(n.id)
        key = (n.store_id, n.path)
        self.cached[ino] = n.sha256
        prior, h.read_sha = h.read_sha, n.sha256 if h.read_sha in (None, n.sha256) else MIXED
        if prior in (None, n.sha256) and off == 0 and self.sizes.get(ino) == len(data):
            self.seen[key] = n.sha256
        elif prior not in (None, n.sha256) or self.seen.get(key) != n.sha256:
            self.seen[key] = MIXED
            self._invalidate_later(ino)
        return data[off:off + size]

    @handler
    async def write(self, fh, off, buf):
        h = self.handles.get(fh)
        if h is None or isinstance(h, virtual.VHandle):
            fail(errno.EBADF)
        if not h.writable:
            fail(errno.EBADF)
        st = h.st
        store = self._writable(st.store.id)
        self._load_for_write(st, incoming=buf, append=h.append)
        if not st.pending and not h.append:
            self._hold_lease(st, buf)
        if h.append:
            off = len(st.data)
            if st.append_only:
                st.appended += buf
        else:
            st.append_only = False
        end = off + len(buf)
        if end > store.max_content_bytes:
            self._abandon(st)
            fail(errno.EFBIG)
        if off > len(st.data):
            st.data.extend(b"\0" * (off - len(st.data)))  # a write past the end leaves zeros
        st.data[off:end] = buf
        st.dirty = st.written = True
        if st.stale_trunc:
            # rewriting a file another session changed since this one read it: refused at the
            # first write that differs from what is stored (identical content always succeeds)
            n = self.m.node(st.node_id)
            if n is not None and not self._blob(n.sha256).startswith(bytes(st.data)):
                self._refuse(st, store, n.path, self.seen.get((store.id, n.path)),
                             "stale: another session changed the file after this one read it")
        st.mtime_ns = time.time_ns()
        return len(buf)

    @handler
    async def flush(self, fh):
        h = self.handles.get(fh)
        if h is None or isinstance(h, virtual.VHandle):
            return
        st = h.st
        # Opened with O_TRUNC and not yet written: the shell's `> f` closes a duplicate descriptor
        # before the command writes; committing then would add an empty revision nobody meant.
        # Release commits it if nothing follows. (touch and O_CREAT without O_TRUNC commit here.)
        if st.dirty and (st.written or not h.trunc) and not (st.pending and st.scratch):
            self._commit(st)

    @handler
    async def fsync(self, fh, datasync):
        await self.flush(fh)

    @handler
    async def release(self, fh):
        h = self.handles.pop(fh, None)
        if h is None or isinstance(h, virtual.VHandle):
            return
        st = h.st
        st.opens -= 1
        st.released_at = time.monotonic()
        if st.opens > 0:
            return
        if st.dirty and not st.scratch:
            try:
                self._commit(st)
            except pyfuse3.FUSEError as e:
                log.warning("could not commit %s on release: %s", st.name, os.strerror(e.errno))
        if (st.unlinked or not st.pending) and self.states.get(st.node_id) is st:
            self.states.pop(st.node_id, None)

    # ------------------------------------------------------------------ extended attributes

    @handler
    async def getxattr(self, ino, name, ctx):
        name = name.decode("utf-8", "replace")
        if not name.startswith("user.memfs.") or ino >= virtual.VBASE:
            fail(pyfuse3.ENOATTR)  # security.*, system.* asked on every write and ls -l: no db access
        key = name[len("user.memfs."):]
        nid = self.nid(ino)
        st = self.states.get(nid)
        if key == "if-match":
            n = self.known.node(nid)
            armed = n and self.armed.get((n.store_id, n.path))
            if not armed:
                fail(pyfuse3.ENOATTR)
            return armed.encode()
        if key not in XATTRS:
            fail(pyfuse3.ENOATTR)
        if st is not None and st.pending:
            if key == "sha256":
                return sha256(bytes(st.data or b"")).encode()
            fail(pyfuse3.ENOATTR)
        n = self._node(ino)
        if key == "sha256":
            return (n.sha256 or sha256(b"")).encode() if n.kind != DIR else fail(pyfuse3.ENOATTR)
        r = self.m.revision(n.head_rev)
        return {"version": str(r.id), "author": r.agent or "", "session": r.session or "",
                "mtime": fmt_time(r.created_at)}[key].encode()

    @handler
    async def listxattr(self, ino, ctx):
        if ino >= virtual.VBASE or (ino == ROOT and self.single_root is None):
            return []
        return [f"user.memfs.{k}".encode() for k in XATTRS]

    @handler
    async def setxattr(self, ino, name, value, ctx):
        name = name.decode("utf-8", "replace")
        if ino >= virtual.VBASE:
            fail(errno.EROFS)
        nid = self.nid(ino)
        st = self.states.get(nid)
        store_id = st.store.id if st is not None else self._node(ino).store_id
        self._writable(store_id)
        if name == "user.memfs.if-match":
            try:
                h = value.decode("ascii").strip()
            except UnicodeDecodeError:
                fail(errno.EINVAL)
            path = self._path(st) if st is not None else self._node(ino).path
            if not h:
                self.armed.pop((store_id, path), None)
                return
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
                fail(errno.EINVAL)
            self.armed[(store_id, path)] = h.lower()
            return
        if name.startswith("user.memfs.") and name[len("user.memfs."):] in XATTRS:
            return  # informational and derived; tools that copy xattrs (sed -i, cp -a) set them back
        fail(errno.ENOTSUP)

    @handler
    async def removexattr(self, ino, name, ctx):
        name = name.decode("utf-8", "replace")
        if name == "user.memfs.if-match":
            n = self._node(ino)
            self._writable(n.store_id)
            if self.armed.pop((n.store_id, n.path), None) is None:
                fail(pyfuse3.ENOATTR)
            return
        fail(errno.ENOTSUP if not name.startswith("user.memfs.") else errno.EROFS)

    # ------------------------------------------------------------------ commit & conflicts

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

    def _load_for_write(self, st: FileState, truncating=False, incoming=None, append=False):
        """Before the first change to a committed file: refuse if this session's view is stale,
        else build on the stored content."""
        if st.pending:
            if st.data is None:
                st.data = bytearray()
            return
        n = self.m.node(st.node_id)
        if n is None:
            if st.unlinked:
                return
            fail(errno.ENOENT)
        if st.dirty:
            if not st.append_only and not st.truncated and n.sha256 != st.loaded_sha:
                self._refuse(st, st.store, n.path, st.loaded_sha, "changed by another session while open", incoming)
            return
        key = (st.store.id, n.path)
        stale = (self.armed.get(key) or self.seen.get(key)) not in (None, n.sha256)
        if truncating:
            st.stale_trunc = stale
        elif not append:  # appends go to the current end and never conflict
            self._check_fresh(st.store, n.path, n.sha256, st, incoming)
        st.loaded_sha = n.sha256
        st.truncated = truncating
        st.append_only = True
        st.appended = bytearray()
        if not truncating:
            st.data = bytearray(self._blob(n.sha256))

    def _hold_lease(self, st: FileState, incoming=None):
        """A rewrite reserves its file from its first write() to its commit, so that a competing
        writer is refused at its write() (which a shell reports), never only at close()."""
        now = time.monotonic()
        if st.lease_at and now - st.lease_at < LEASE_SECONDS / 2:
            return
        try:
            current = self.m.lease(st.node_id, self.owner, if_match=None if st.truncated else st.loaded_sha)
        except errors.PreconditionFailed as e:  # changed since loaded, or another session's lease
            n = self.m.node(st.node_id)
            self._refuse(st, st.store, n.path if n else st.name, st.loaded_sha, e.message, incoming)
        except errors.PathNotFound:
            return  # deleted meanwhile: the commit decides
        st.lease_at = now
        if st.truncated:
            # a rewrite is stale if this session's version is no longer the stored one; with the
            # lease held that can no longer change before the commit, so decide it here
            n = self.m.node(st.node_id)
            key = (st.store.id, n.path) if n else None
            st.stale_trunc = key is not None and (self.armed.get(key) or self.seen.get(key)) not in (None, current)

    def _drop_lease(self, st: FileState):
        if st.lease_at:
            st.lease_at = 0.0
            try:
                self.m.release_lease(st.node_id, self.owner)
            except errors.MemfsError as e:
                log.warning("could not release the write lease on %s: %s", st.name, e)

    def _check_fresh(self, store, path, current_sha, st, incoming=None):
        """The implicit precondition: the version this session last read must still be current."""
        key = (store.id, path)
        seen = self.armed.get(key) or self.seen.get(key)
        if seen is not None and seen != current_sha:
            self._refuse(st, store, path, seen, "stale: another session changed the file after this one read it",
                         incoming)

    def _refuse(self, st, store, path, base, reason, incoming=None):
        """Refuse a write with ESTALE, keeping what was refused in the conflicts record."""
        content = bytes(st.data) if st is not None and st.data is not None and st.dirty else None
        base = None if base == MIXED else base  # a blend of versions has no hash to name
        if incoming is not None:
            content = (content or b"") + bytes(incoming)
        # the kernel retries an open that failed with ESTALE once: record the refusal once
        key = (store.id, path, base, None if content is None else sha256(content))
        if self._last_refusal != (key, int(time.monotonic())):
            self._last_refusal = (key, int(time.monotonic()))
            try:
                self.m.record_conflict(store, path, content, base_sha256=base, reason=reason)
            except errors.MemfsError as e:
                log.error("could not record the conflict on %s: %s", path, e)
            self.stats["conflicts"] += 1
        log.info("refused write to %s: %s", path, reason)
        if st is not None and not st.pending:
            self._drop_lease(st)
            self._invalidate_later(self.ino(st.node_id))
        if st is not None:
            st.data = None if not st.pending else st.data
            st.dirty = st.pending and st.dirty
        fail(errno.ESTALE)

    def _commit(self, st: FileState):
        if st.unlinked:
            st.dirty = False
            return
        store = st.store
        path = self._path(st)
        key = (store.id, path)
        content = bytes(st.data or b"")
        armed = self.armed.get(key)  # consumed by a commit that succeeds, kept by one refused
        try:
            if st.pending and st.kind == SYMLINK:
                n = self.m.symlink(store, path, bytes(st.data), node_id=st.node_id)
                self.pending.pop((st.parent_id, st.name), None)
                st.pending = st.dirty = False
                self.own_revs.add(n.head_rev)
                self.states.pop(st.node_id, None)
                return
            if st.pending and st.shadow_of and self.hidden.get(st.shadow_of[1:]) == st.shadow_of[0]:
                return self._commit_shadow(st)
            if st.pending:
                expected = armed
                if expected is None and key in self.seen:  # this session read a file of that name
                    expected = self.seen[key] if self.m.lookup(store, path) is not None else None
                if expected == MIXED:
                    raise errors.PreconditionFailed("this session read a blend of two versions")
                # node_id: the inode this file was created with, unless the path is stored already
                r = self.m.write(store, path, content, mode=st.mode, if_match=expected, node_id=st.node_id,
                                 mtime_ns=st.mtime_ns if st.mtime_set else None, lease_owner=self.owner)
                if r.node.id != st.node_id:  # landed on a stored file: one renamed away, or another's
                    self.hidden.pop((st.parent_id, st.name), None)
                    self._rebind(self.ino(st.node_id), r.node.id)
                    self.states.pop(st.node_id, None)
                    self.pending.pop((st.parent_id, st.name), None)
                    st.node_id = r.node.id
                    self.states[st.node_id] = st
                else:
                    self.pending.pop((st.parent_id, st.name), None)
                st.pending = False
            elif st.append_only and not st.truncated and not armed:
                # appends go to the end of what is stored now, in one transaction: never a conflict
                # (holding no lease, an append waits out another session's rewrite)
                expected = None
                r = self.m.append(store, path, bytes(st.appended), mode=st.mode,
                                  mtime_ns=st.mtime_ns if st.mtime_set else None)
                content = None
            else:
                expected = armed or (st.loaded_sha if not st.truncated else self.seen.get(key))
                if expected == MIXED:
                    raise errors.PreconditionFailed("this session read a blend of two versions")
                r = self.m.write(store, path, content, if_match=expected, mode=st.mode,
                                 mtime_ns=st.mtime_ns if st.mtime_set else None, lease_owner=self.owner)
        except errors.PreconditionFailed:
            self._refuse(st, store, path, expected, "stale: the file changed since this session's version")
        except errors.HookRefused as e:  # kept in .memfs/conflicts/ like a stale write, but EACCES
            try:
                self._refuse(st, store, path, expected, f"refused by write hook {e.hook_id}: {e.reason}")
            except pyfuse3.FUSEError:
                pass
            if st.pending:
                self._abandon(st)
            fail(errno.EACCES)
        except errors.ContentTooLarge:
            self._abandon(st)
            fail(errno.EFBIG)
        self.armed.pop(key, None)
        if r.revision is not None:
            self.own_revs.add(r.revision.id)
            self.stats["commits"] += 1
        self.seen[key] = r.node.sha256
        self.sizes[self.ino(r.node.id)] = r.node.size  # the kernel saw these bytes written
        # the kernel's pages hold what was just written where they were already filled by a read,
        # or where a write covered whole pages; a partly written page is left for a read to fill
        ino = self.ino(r.node.id)
        if ino in self.cached or r.node.size >= PAGE:
            self.cached[ino] = r.node.sha256
        st.lease_at = 0.0  # the commit released it
        st.dirty = st.written = st.mtime_set = st.stale_trunc = False
        st.truncated = False
        st.data = None
        st.loaded_sha = r.node.sha256
        st.appended = bytearray()
        st.append_only = True
        if r.redacted:  # a write hook changed the content: the kernel's pages hold what was written
            self._invalidate_later(self.ino(r.node.id))
        elif content is not None:
            self._blobs[r.node.sha256] = content

    def _invalidate_later(self, ino: int):
        """Drop the kernel's cached pages and attributes of an inode, outside the current request
        (invalidating from inside one can deadlock)."""
        self.invalidate_soon.add(ino)
        self.wake.set()

    def _abandon(self, st: FileState):
        """Drop a change that cannot be stored (too large): nothing of it reaches the store, and
        a file created for it goes away."""
        if st.pending:
            self.pending.pop((st.parent_id, st.name), None)
            self._unlinked(st)
        else:
            st.data, st.dirty, st.written, st.truncated, st.stale_trunc = None, False, False, False, False
            self._drop_lease(st)
        self._invalidate_later(self.ino(st.node_id))

    def commit_all(self):
        """Before unmount: everything written and not yet committed (scratch files included)."""
        for st in list(self.states.values()):
            if st.unlinked or not (st.dirty or st.pending):
                continue
            st.scratch = False
            try:
                self._commit(st)
            except pyfuse3.FUSEError as e:
                log.warning("could not commit %s at unmount: %s", st.name, os.strerror(e.errno))
            except Exception:
                log.exception("could not commit %s at unmount", st.name)

    def sweep_scratch(self):
        """Commit scratch files nobody renamed or removed within the grace period."""
        now = time.monotonic()
        for st in list(self.pending.values()):
            if st.scratch and st.opens == 0 and now - st.released_at > SCRATCH_GRACE:
                st.scratch = False
                try:
                    self._commit(st)
                except pyfuse3.FUSEError as e:
                    log.warning("could not commit scratch file %s: %s", st.name, os.strerror(e.errno))

    # ------------------------------------------------------------------ coherence

    async def follow_changes(self, interval: float = 0.2):
        """Drop kernel caches for what other sessions (other mounts, the API, reverts, dreams)
        changed, driven by the revision feed: polled (SQLite), or woken by the database's change
        notifications with polling as the fallback (PostgreSQL, other hosts)."""
        async with trio.open_nursery() as nursery:
            if self.m.db.notifies:
                nursery.start_soon(self._listen)
                interval = 1.0
            await self._follow(interval)

    async def _listen(self):
        while True:
            if await trio.to_thread.run_sync(self.m.db.wait_for_change, 1.0, abandon_on_cancel=True):
                self.wake.set()

    async def _follow(self, interval: float):
        version = failing = None
        while True:
            with trio.move_on_after(interval):
                await self.wake.wait()
            self.wake = trio.Event()
            try:  # a failure here (a locked database, say) must not take the mount down
                self.sweep_scratch()
                while self.invalidate_soon:
                    ino = self.invalidate_soon.pop()
                    self.cached.pop(ino, None)  # see _invalidate
                    try:
                        await trio.to_thread.run_sync(pyfuse3.invalidate_inode, ino)
                    except OSError:
                        pass
                v = self.m.db.data_version()
                if v == version:
                    continue
                version = v
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
