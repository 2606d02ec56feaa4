#!/usr/bin/env python3
"""A minimal pyfuse3 + trio passthrough filesystem: the baseline `scripts/bench` measures memfs against.

    python scripts/passthrough.py SOURCE MOUNTPOINT [--timeout SECONDS] [--xattr] [--debug]

It mirrors the directory tree SOURCE at MOUNTPOINT, answering every request with the matching
system call on SOURCE. It is what any pyfuse3 filesystem pays for the FUSE round trips, without
a database: memfs's mount figures are reported as a ratio to it.

Shape, chosen to be a fair baseline for memfs (see docs/fuse-notes.md):
- entry and attribute timeouts are `--timeout` (default 60 s), negative lookups are cached for the
  same time, `keep_cache` stays on, no writeback cache;
- OPEN, FLUSH (a no-op: a store commits there) and RELEASE are all handled, one backing file
  descriptor per open();
- handlers run inline on the trio thread (each is one short system call);
- an exception other than FUSEError never escapes a handler: OSError keeps its errno, anything
  else is logged and answered EIO.

Readiness: the mount appears in /proc/mounts (and "ready" is printed on stderr). SIGTERM, SIGINT
and SIGHUP unmount cleanly and exit 0.

Limits: SOURCE must be one filesystem (its inode numbers are passed through); hard links and
mknod are not implemented (ENOSYS), nor extended attributes unless --xattr is given; readdir
lists no "." and ".." (as pyfuse3's examples) and its offsets are positions in a sorted snapshot
of the directory taken at its first readdir call.
"""

import argparse
import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import signal
import stat as stat_m
import sys

import pyfuse3
import trio
from pyfuse3 import FUSEError

log = logging.getLogger("passthrough")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_AT_FDCWD = -100
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2


def _renameat2(old: str, new: str, flags: int) -> None:
    if _libc.renameat2(_AT_FDCWD, os.fsencode(old), _AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def handler(fn):
    """Map OSError to its errno and anything unexpected to EIO: an escaping exception kills the mount."""

    @functools.wraps(fn)
    async def wrapped(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except FUSEError:
            raise
        except OSError as e:
            raise FUSEError(e.errno or errno.EIO) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise FUSEError(errno.EIO) from None

    return wrapped


class Passthrough(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, source: str, timeout: float):
        super().__init__()
        self.timeout = float(timeout)
        self.root_ino = os.lstat(source).st_ino
        self.paths = {pyfuse3.ROOT_INODE: source}  # inode -> path, None once unlinked
        self.lookups = {pyfuse3.ROOT_INODE: 1}     # inode -> kernel lookup count
        self.fds = {}                              # inode -> set of open backing fds
        self.fd_ino = {}                           # fd -> inode
        self.dirs = {}                             # opendir handle -> [inode, snapshot or None]
        self.next_dir = 1

    # ------------------------------------------------------------------ inode bookkeeping

    def _ino(self, st) -> int:
        return pyfuse3.ROOT_INODE if st.st_ino == self.root_ino else st.st_ino

    def _path(self, ino: int) -> str:
        p = self.paths.get(ino)
        if p is None:
            raise FUSEError(errno.ENOENT)
        return p

    def _child(self, parent: int, name: bytes) -> str:
        return os.path.join(self._path(parent), os.fsdecode(name))

    def _remember(self, ino: int, path: str) -> None:
        self.lookups[ino] = self.lookups.get(ino, 0) + 1
        self.paths[ino] = path

    def _gone(self, ino: int) -> None:
        if ino in self.paths and ino != pyfuse3.ROOT_INODE:
            self.paths[ino] = None

    def _entry(self, st) -> pyfuse3.EntryAttributes:
        e = pyfuse3.EntryAttributes()
        e.st_ino = self._ino(st)
        e.generation = 0
        e.entry_timeout = self.timeout
        e.attr_timeout = self.timeout
        e.st_mode = st.st_mode
        e.st_nlink = st.st_nlink
        e.st_uid = st.st_uid
        e.st_gid = st.st_gid
        e.st_rdev = st.st_rdev
        e.st_size = st.st_size
        e.st_blksize = max(st.st_blksize, 4096)
        e.st_blocks = st.st_blocks
        e.st_atime_ns = st.st_atime_ns
        e.st_mtime_ns = st.st_mtime_ns
        e.st_ctime_ns = st.st_ctime_ns
        return e

    def _stat(self, ino: int):
        fds = self.fds.get(ino)
        if fds:
            return os.fstat(next(iter(fds)))
        return os.lstat(self._path(ino))

    def _open_fd(self, ino: int, fd: int) -> None:
        self.fds.setdefault(ino, set()).add(fd)
        self.fd_ino[fd] = ino

    # ------------------------------------------------------------------ names

    @handler
    async def lookup(self, parent_inode, name, ctx=None):
        path = self._child(parent_inode, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            e = pyfuse3.EntryAttributes()  # a cached negative entry: st_ino 0
            e.st_ino = 0
            e.entry_timeout = self.timeout
            return e
        ino = self._ino(st)
        if name not in (b".", b".."):
            self._remember(ino, path)
        return self._entry(st)

    @handler
    async def forget(self, inode_list):
        for ino, n in inode_list:
            if ino == pyfuse3.ROOT_INODE:
                continue
            left = self.lookups.get(ino, 0) - n
            if left > 0:
                self.lookups[ino] = left
                continue
            self.lookups.pop(ino, None)
            if not self.fds.get(ino):
                self.paths.pop(ino, None)

    @handler
    async def getattr(self, inode, ctx=None):
        return self._entry(self._stat(inode))

    @handler
    async def setattr(self, inode, attr, fields, fh, ctx):
        target = fh if fh is not None else self._path(inode)
        if fields.update_size:
            if fh is not None:
                os.ftruncate(fh, attr.st_size)
            else:
                os.truncate(target, attr.st_size)
        if fields.update_mode:
            os.chmod(target, stat_m.S_IMODE(attr.st_mode))
        if fields.update_uid or fields.update_gid:
            uid = attr.st_uid if fields.update_uid else -1
            gid = attr.st_gid if fields.update_gid else -1
            if fh is not None:
                os.fchown(fh, uid, gid)
            else:
                os.chown(target, uid, gid, follow_symlinks=False)
        if fields.update_atime or fields.update_mtime:
            old = os.fstat(fh) if fh is not None else os.lstat(target)
            ns = (attr.st_atime_ns if fields.update_atime else old.st_atime_ns,
                  attr.st_mtime_ns if fields.update_mtime else old.st_mtime_ns)
            if fh is not None:
                os.utime(fh, ns=ns)
            else:
                os.utime(target, ns=ns, follow_symlinks=False)
        return self._entry(os.fstat(fh) if fh is not None else self._stat(inode))

    @handler
    async def readlink(self, inode, ctx):
        return os.fsencode(os.readlink(self._path(inode)))

    @handler
    async def symlink(self, parent_inode, name, target, ctx):
        path = self._child(parent_inode, name)
        os.symlink(os.fsdecode(target), path)
        os.chown(path, ctx.uid, ctx.gid, follow_symlinks=False)
        st = os.lstat(path)
        self._remember(self._ino(st), path)
        return self._entry(st)

    @handler
    async def mkdir(self, parent_inode, name, mode, ctx):
        path = self._child(parent_inode, name)
        os.mkdir(path, stat_m.S_IMODE(mode) & ~ctx.umask)
        os.chown(path, ctx.uid, ctx.gid, follow_symlinks=False)
        st = os.lstat(path)
        self._remember(self._ino(st), path)
        return self._entry(st)

    @handler
    async def unlink(self, parent_inode, name, ctx):
        path = self._child(parent_inode, name)
        ino = self._ino(os.lstat(path))
        os.unlink(path)
        self._gone(ino)

    @handler
    async def rmdir(self, parent_inode, name, ctx):
        path = self._child(parent_inode, name)
        ino = self._ino(os.lstat(path))
        os.rmdir(path)
        self._gone(ino)

    @handler
    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        old = self._child(parent_inode_old, name_old)
        new = self._child(parent_inode_new, name_new)
        if flags & ~(_RENAME_NOREPLACE | _RENAME_EXCHANGE):
            raise FUSEError(errno.EINVAL)
        st = os.lstat(old)
        ino = self._ino(st)
        try:
            replaced = self._ino(os.lstat(new))
        except FileNotFoundError:
            replaced = None
        if flags:
            _renameat2(old, new, flags)
        else:
            os.rename(old, new)
        if flags & _RENAME_EXCHANGE:
            moves = [(ino, old, new), (replaced, new, old)]
        else:
            if replaced is not None and replaced != ino:
                self._gone(replaced)
            moves = [(ino, old, new)]
        for i, src, dst in moves:
            if i in self.paths and self.paths[i] is not None:
                self.paths[i] = dst
        for i, src, dst in moves:  # children of a renamed directory keep their own paths: rewrite them
            if stat_m.S_ISDIR(os.lstat(dst).st_mode):
                prefix = src + os.sep
                for child, p in list(self.paths.items()):
                    if p is not None and p.startswith(prefix) and child not in (ino, replaced):
                        self.paths[child] = dst + p[len(src):]

    # ------------------------------------------------------------------ directories

    @handler
    async def opendir(self, inode, ctx):
        self._path(inode)
        h = self.next_dir
        self.next_dir += 1
        self.dirs[h] = [inode, None]
        return h

    @handler
    async def readdir(self, fh, start_id, token):
        d = self.dirs[fh]
        path = self._path(d[0])
        if d[1] is None or start_id == 0:
            with os.scandir(path) as it:
                d[1] = sorted(e.name for e in it)
        names = d[1]
        for i in range(start_id, len(names)):
            child = os.path.join(path, names[i])
            try:
                st = os.lstat(child)
            except FileNotFoundError:
                continue
            if not pyfuse3.readdir_reply(token, os.fsencode(names[i]), self._entry(st), i + 1):
                break
            self._remember(self._ino(st), child)

    @handler
    async def releasedir(self, fh):
        self.dirs.pop(fh, None)

    @handler
    async def fsyncdir(self, fh, datasync):
        fd = os.open(self._path(self.dirs[fh][0]), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @handler
    async def statfs(self, ctx):
        s = os.statvfs(self.paths[pyfuse3.ROOT_INODE])
        out = pyfuse3.StatvfsData()
        for a in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail"):
            setattr(out, a, getattr(s, a))
        out.f_namemax = min(s.f_namemax, 255)
        return out

    # ------------------------------------------------------------------ files

    @handler
    async def open(self, inode, flags, ctx):
        fd = os.open(self._path(inode), flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY))
        self._open_fd(inode, fd)
        return pyfuse3.FileInfo(fh=fd)

    @handler
    async def create(self, parent_inode, name, mode, flags, ctx):
        path = self._child(parent_inode, name)
        fd = os.open(path, flags | os.O_CREAT, stat_m.S_IMODE(mode) & ~ctx.umask)
        try:
            os.fchown(fd, ctx.uid, ctx.gid)
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        ino = self._ino(st)
        self._remember(ino, path)
        self._open_fd(ino, fd)
        return pyfuse3.FileInfo(fh=fd), self._entry(st)

    @handler
    async def read(self, fh, off, size):
        return os.pread(fh, size, off)

    @handler
    async def write(self, fh, off, buf):
        # on an O_APPEND descriptor Linux's pwrite appends whatever the offset: right for O_APPEND
        return os.pwrite(fh, buf, off)

    @handler
    async def flush(self, fh):
        pass  # a store commits here; the passthrough has nothing to do, but answers like one would

    @handler
    async def fsync(self, fh, datasync):
        (os.fdatasync if datasync else os.fsync)(fh)

    @handler
    async def release(self, fh):
        ino = self.fd_ino.pop(fh, None)
        fds = self.fds.get(ino)
        if fds is not None:
            fds.discard(fh)
            if not fds:
                del self.fds[ino]
                if ino not in self.lookups:
                    self.paths.pop(ino, None)
        os.close(fh)


class XattrPassthrough(Passthrough):
    """With --xattr: extended attributes forwarded too. Without them the kernel gets ENOSYS once and
    stops asking (ls -l then costs no getxattr requests); a filesystem that must serve xattrs, like
    memfs, pays two per file listed (security.selinux, system.posix_acl_access)."""

    def _xtarget(self, inode):
        fds = self.fds.get(inode)
        return next(iter(fds)) if fds else self._path(inode)

    @handler
    async def getxattr(self, inode, name, ctx):
        t = self._xtarget(inode)
        return os.getxattr(t, os.fsdecode(name), **({} if isinstance(t, int) else {"follow_symlinks": False}))

    @handler
    async def listxattr(self, inode, ctx):
        t = self._xtarget(inode)
        names = os.listxattr(t, **({} if isinstance(t, int) else {"follow_symlinks": False}))
        return [os.fsencode(n) for n in names]

    @handler
    async def setxattr(self, inode, name, value, ctx):
        t = self._xtarget(inode)
        os.setxattr(t, os.fsdecode(name), value, **({} if isinstance(t, int) else {"follow_symlinks": False}))

    @handler
    async def removexattr(self, inode, name, ctx):
        t = self._xtarget(inode)
        os.removexattr(t, os.fsdecode(name), **({} if isinstance(t, int) else {"follow_symlinks": False}))


async def serve(ops: Passthrough, mountpoint: str, debug: bool) -> None:
    # Signal handlers go in before the mount exists, so a SIGTERM at any time unmounts cleanly.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        options = set(pyfuse3.default_options)
        options.add("fsname=passthrough")
        if debug:
            options.add("debug")
        pyfuse3.init(ops, mountpoint, options)
        try:
            print(f"passthrough: ready at {mountpoint} (timeouts {ops.timeout:g} s)", file=sys.stderr, flush=True)
            async with trio.open_nursery() as nursery:

                async def run_main():
                    await pyfuse3.main()
                    nursery.cancel_scope.cancel()  # also ends on an external `fusermount3 -u`

                async def stop_on_signal():
                    async for sig in signals:
                        log.info("signal %d: unmounting", sig)
                        pyfuse3.terminate()
                        return

                nursery.start_soon(run_main)
                nursery.start_soon(stop_on_signal)
        finally:
            pyfuse3.close(unmount=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("mountpoint")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="entry and attribute cache timeout in seconds (default 60)")
    ap.add_argument("--xattr", action="store_true",
                    help="forward extended attributes too (default: ENOSYS, as a minimal passthrough)")
    ap.add_argument("--debug", action="store_true", help="log every request (slow)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.INFO,
                        format="%(asctime)s passthrough %(levelname)s %(message)s")
    source = os.path.abspath(a.source)
    if not os.path.isdir(source):
        ap.error(f"{a.source}: not a directory")
    if not os.path.isdir(a.mountpoint):
        ap.error(f"{a.mountpoint}: not a directory")
    os.umask(0)  # the caller's umask arrives with each request (ctx.umask)
    try:
        ops = (XattrPassthrough if a.xattr else Passthrough)(source, a.timeout)
        trio.run(serve, ops, os.path.abspath(a.mountpoint), a.debug)
    except RuntimeError as e:  # e.g. pyfuse3.init failing to mount
        print(f"passthrough: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
