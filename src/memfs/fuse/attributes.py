"""Attributes as the kernel sees them: a node's stat attributes (with the cache lifetime), and the
extended attributes `user.memfs.*` (sha256, version, author, session, mtime: read-only and
derived; `if-match`: an armed precondition for the next write of the file)."""

from __future__ import annotations

import errno
import stat
import time

import pyfuse3

from ..config import fmt_time
from ..store import DIR, FILE, SYMLINK, sha256
from . import virtual
from .handler import fail, handler

ROOT = pyfuse3.ROOT_INODE
TIMEOUT = 60.0            # entry/attr cache lifetime; the change feed invalidates earlier
XATTRS = ("sha256", "version", "author", "session", "mtime")
DIR_XATTRS = ("version", "author", "session", "mtime")


class AttributesMixin:
    """Stat attributes of nodes and open files; getxattr, listxattr, setxattr, removexattr (part
    of MemfsOps)."""

    # ------------------------------------------------------------------ attributes

    def _attr(self, ino, kind, perm, size, mtime_ns, ctime_ns, ro, nlink=1, timeout=TIMEOUT, told=True):
        """`told`: the attributes go to the kernel now (a listing's go when each is handed out)."""
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.st_mode = {FILE: stat.S_IFREG, DIR: stat.S_IFDIR, SYMLINK: stat.S_IFLNK}[kind] | (
            perm & ~0o222 if ro and kind != SYMLINK else perm)
        a.st_nlink = 2 if kind == DIR else nlink
        a.st_uid, a.st_gid = self.uid, self.gid
        a.st_size = size
        if told:
            self.sizes[ino] = size
        a.st_blksize = 4096
        a.st_blocks = (size + 511) // 512
        a.st_atime_ns = a.st_mtime_ns = mtime_ns
        a.st_ctime_ns = ctime_ns
        a.entry_timeout = a.attr_timeout = timeout
        return a

    def _node_attr(self, n, ino=None, told=True):
        st = self.states.get(n.id)
        size = len(st.data) if st is not None and st.data is not None else n.size
        mtime = st.mtime_ns if st is not None and st.dirty else n.mtime_ns
        ro = self.scopes[n.store_id][1] != "rw"
        return self._attr(ino or self.ino(n.id), n.kind, n.mode, size, mtime, max(n.ctime_ns, mtime), ro, told=told)

    def _state_attr(self, st, ino=None, told=True):
        ro = self.scopes[st.store.id][1] != "rw"
        size = len(st.data) if st.data is not None else 0
        return self._attr(ino or self.ino(st.node_id), st.kind, st.mode, size, st.mtime_ns, st.mtime_ns, ro,
                          nlink=0 if st.unlinked else 1, told=told)

    def _root_attr(self):
        now = time.time_ns()
        return self._attr(ROOT, DIR, 0o555, 0, now, now, True)

    def _negative(self):
        a = pyfuse3.EntryAttributes()
        a.st_ino = 0
        a.entry_timeout = TIMEOUT
        return a

    # ------------------------------------------------------------------ extended attributes

    @handler
    async def getxattr(self, ino, name, ctx):
        name = name.decode("utf-8", "replace")
        if not name.startswith("user."):
            # security.*, system.*, trusted.*: not supported, said so (EOPNOTSUPP, not ENODATA), so
            # that `ls -l` stops asking for them on this file system (docs/fuse-notes.md, trap 11)
            fail(errno.EOPNOTSUPP)
        if not name.startswith("user.memfs.") or ino >= virtual.VBASE:
            fail(pyfuse3.ENOATTR)
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
        # only the names getxattr answers for this node (tools that copy xattrs read each listed one)
        nid = self.nid(ino)
        st = self.states.get(nid)
        if st is not None and st.pending:
            return [b"user.memfs.sha256"]
        n = self._node(ino)
        names = [f"user.memfs.{k}".encode() for k in (DIR_XATTRS if n.kind == DIR else XATTRS)]
        if self.armed.get((n.store_id, n.path)):
            names.append(b"user.memfs.if-match")
        return names

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
            self.fired.discard((store_id, path))
            return
        if name.startswith("user.memfs.") and name[len("user.memfs."):] in XATTRS:
            return  # informational and derived; tools that copy xattrs (sed -i, cp -a) set them back
        fail(errno.EOPNOTSUPP)

    @handler
    async def removexattr(self, ino, name, ctx):
        name = name.decode("utf-8", "replace")
        if name == "user.memfs.if-match":
            n = self._node(ino)
            self._writable(n.store_id)
            if self.armed.pop((n.store_id, n.path), None) is None:
                fail(pyfuse3.ENOATTR)
            return
        if name.startswith("user.memfs.") and name[len("user.memfs."):] in XATTRS:
            return  # derived, as for setxattr: rsync -X removes what the source lacks
        fail(errno.EOPNOTSUPP if not name.startswith("user.memfs.") else pyfuse3.ENOATTR)
