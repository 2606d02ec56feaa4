"""Namespace changes behind unlink and rename: what happens to open files, files created here and
not yet committed, and the backups editors make when they save (part of MemfsOps)."""

from __future__ import annotations

import errno
import time

import pyfuse3

from .. import paths
from ..store import DIR, FILE, WriteOptions
from . import staleness
from .files import FileState, _own
from .scratch import is_scratch


def fail(code):
    raise pyfuse3.FUSEError(code)


class NamesMixin:
    def _unlinked(self, st: FileState):
        st.unlinked = True
        st.dirty = False
        st.gen += 1
        if st.opens == 0:
            self.states.pop(st.node_id, None)

    async def _rename(self, store, dold, name_old, dnew, name_new, noreplace):
        dst_path = paths.join(dnew.path, name_new)
        dst_pending = self.pending.get((dnew.id, name_new))
        dst_node = None if dst_pending else self._child(dnew.id, name_new)
        if noreplace and (dst_pending or dst_node):
            fail(errno.EEXIST)
        src = self.pending.get((dold.id, name_old))
        if src is not None:
            return await self._rename_pending(src, store, dnew, name_new, dst_path, dst_pending, dst_node)
        n = self._child(dold.id, name_old)
        if n is None:
            fail(errno.ENOENT)
        st = self.states.get(n.id)
        if (st is None and n.kind == FILE and dst_node is None and dst_pending is None
                and is_scratch(name_new, dnew.name) and not is_scratch(name_old, dold.name)
                and self.m.child(dnew.id, name_new) is None):
            return await self._rename_to_backup(n, store, dold, dnew, name_new)
        if st is not None and st.dirty:
            await self._commit(st)
        if dst_node is not None and dst_node.kind == FILE:
            key = (store.id, dst_path)
            if staleness.is_stale(self.armed.get(key), self.seen.get(key), dst_node.sha256):
                await self._refuse(None, store, dst_path, staleness.basis(self.armed.get(key), self.seen.get(key)),
                                 "stale: another session changed the file after this one read it")
        if dst_pending is not None:
            self.pending.pop((dnew.id, name_new))
            self._unlinked(dst_pending)
        replaced = self.states.get(dst_node.id) if dst_node is not None else None
        if replaced is not None:
            self._detach(replaced)  # its descriptors keep the replaced file
        own, owner = self.own_revs, self.owner
        await self._store_call(lambda m: _own(own, m.rename(store, n.path, dst_path, noreplace=noreplace,
                                                            opts=WriteOptions(lease_owner=owner))))
        self._dirs.clear()  # a directory's move changes the paths below it
        if st is not None:  # open descriptors follow the file
            st.parent_id, st.name = dnew.id, name_new
        self._move_seen(store.id, n.path, dst_path)

    async def _rename_to_backup(self, n, store, dold, dnew, name_new):
        """`mv f f~` before an editor writes a new `f` (vim's backupcopy=no, emacs): the store
        keeps `f` where it is, hidden here, and the backup is served from memory. If a new `f`
        follows, it lands on the same stored file, whose history goes on; if the backup is then
        removed, nothing else happens. Left alone, the backup becomes the real rename."""
        sb = FileState(node_id=await self._new_node_id(), store=store, parent_id=dnew.id, name=name_new,
                       mode=n.mode, mtime_ns=n.mtime_ns, data=bytearray(self._blob(n.sha256)), dirty=True,
                       pending=True, scratch=True, released_at=time.monotonic(), shadow_of=(n.id, dold.id, n.name))
        fresh = await self._new_node_id()
        self._rebind(self.ino(n.id), sb.node_id)  # the kernel's inode is now the backup's
        self._rebind(self.ino(fresh), n.id)  # and the stored file gets a fresh one
        self.hidden[(dold.id, n.name)] = n.id
        self.pending[(dnew.id, name_new)] = sb
        self.states[sb.node_id] = sb

    async def _rename_pending(self, st, store, dnew, name_new, dst_path, dst_pending, dst_node):
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
                await self._commit(st)
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
