"""The read-only `.memfs/` directory of each store: history an agent can read and grep.

    .memfs/README              what this is, in a few lines
    .memfs/log                 the store's audit log, one revision per line
    .memfs/history/PATH/REV    every version of every file, by revision number
    .memfs/conflicts/log       refused writes: who, when, against which version, who changed it
    .memfs/conflicts/N-NAME    the refused content of conflict N (none for a write hook's refusal)

Not listed by readdir (so `ls -a` and `grep -r` skip it), reachable by path."""

from __future__ import annotations

import errno
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyfuse3

from .. import errors, paths
from ..config import fmt_time
from ..store import GONE_OPS

if TYPE_CHECKING:
    from .ops import MemfsOps

VBASE = 1 << 60
DIRNAME = ".memfs"
SHORT = 1.0  # cache lifetime of things that grow (log, conflicts)

README = """\
This directory is memfs's record of the store; it is read-only and hidden from ls and grep -r.

  log                 every change: revision, time, agent, session, operation, path, sha256
  history/PATH/REV    the content of PATH as revision REV wrote it (grep -rn here to search the past)
  conflicts/log       writes that were refused: the file had changed since you read it, or a
                      write hook (a secrets or PII scanner, say) refused the content
  conflicts/N-NAME    the content of refused write N (not kept when a write hook refused it)

A write fails with "Stale file handle" (ESTALE) when another session changed the file after you
last read it. Nothing was written. Read the file again, merge your change into what is there
now, and write again. Your refused content is kept in conflicts/. A write refused with
"Permission denied" (EACCES) was stopped by the store's write hook (a secrets or PII scanner, say),
at the first write() or at close(): conflicts/log gives its reason; the refused content is not kept anywhere.

Extended attributes on every file: user.memfs.sha256, .version, .author, .session, .mtime.
Set user.memfs.if-match to a sha256 to write only if the file still has that content. It guards
every write of the file from this mount until one lands or you read the file again (or remove
it: setfattr -x user.memfs.if-match FILE).
"""


@dataclass
class VHandle:
    data: bytes


def flat(path: str) -> str:
    return path.strip("/").replace("/", "%2F") or "root"


class VirtualTree:
    def __init__(self, ops: "MemfsOps"):
        self.ops = ops
        self.m = ops.m
        self.keys: dict[tuple, int] = {}
        self.nodes: dict[int, tuple] = {}

    def _ino(self, key: tuple) -> int:
        ino = self.keys.get(key)
        if ino is None:
            ino = VBASE + len(self.keys) + 1
            self.keys[key] = ino
            self.nodes[ino] = key
        return ino

    def _key(self, ino):
        try:
            return self.nodes[ino]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    # keys: (store_id, kind, arg); kinds: root, readme, log, history (arg: path), rev (arg: id),
    # conflicts, conflictlog, conflict (arg: id)
    def lookup_root(self, store_id):
        return self.getattr(self._ino((store_id, "root", None)))

    def _child_key(self, key, name):
        sid, kind, arg = key
        if kind == "root":
            return {"README": (sid, "readme", None), "log": (sid, "log", None),
                    "history": (sid, "history", "/"), "conflicts": (sid, "conflicts", None)}.get(name)
        if kind == "history":
            if name.isdigit():
                r = self._revision(sid, int(name))
                if r is not None and r.sha256 is not None and arg in (r.path, r.old_path):
                    return (sid, "rev", r.id)
            try:
                p = paths.normalize(paths.join(arg, name))
            except errors.MemfsError:
                return None
            if self.m.log(sid, p, limit=1):
                return (sid, "history", p)
            return None
        if kind == "conflicts":
            if name == "log":
                return (sid, "conflictlog", None)
            num = name.split("-", 1)[0]
            if num.isdigit():
                c = self.m.conflict(sid, int(num))
                if c is not None and not c.refused_by_hook and name == self._conflict_name(c):
                    return (sid, "conflict", c.id)
        return None

    def lookup(self, parent_ino, name):
        key = self._child_key(self._key(parent_ino), name)
        if key is None:
            a = pyfuse3.EntryAttributes()
            a.st_ino = 0
            a.entry_timeout = SHORT
            return a
        return self.getattr(self._ino(key))

    def _revision(self, sid, rid):
        try:
            r = self.m.revision(rid)
        except errors.NotFound:
            return None
        return r if r.store_id == sid else None

    @staticmethod
    def _conflict_name(c):
        return f"{c.id}-{flat(c.path)}"

    def listdir(self, ino):
        key = self._key(ino)
        sid, kind, arg = key
        if kind == "root":
            names = ["README", "conflicts", "history", "log"]
        elif kind == "history":
            names = set()
            prefix = "" if arg == "/" else arg
            for r in self.m.log(sid, None if arg == "/" else arg):
                for p in (r.path, r.old_path):
                    if p is None:
                        continue
                    if p == arg and r.sha256 is not None and r.kind != "dir" and r.op not in GONE_OPS:
                        names.add(str(r.id))
                    elif p.startswith(prefix + "/") and p != "/":
                        names.add(p[len(prefix) + 1:].split("/", 1)[0])
            names = sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
        elif kind == "conflicts":
            # one query for the whole folder: a lookup per entry made listing it quadratic
            out = [("log", self.getattr(self._ino((sid, "conflictlog", None))))]
            for c in self.m.conflicts(sid):
                if not c.refused_by_hook:
                    out.append((self._conflict_name(c), self._attr(self._ino((sid, "conflict", c.id)), c.size,
                                                                   int(c.created_at * 1e9), SHORT)))
            return out
        else:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        out = []
        for n in names:
            k = self._child_key(key, n)
            if k is not None:
                out.append((n, self.getattr(self._ino(k))))
        return out

    def content(self, key) -> bytes:
        sid, kind, arg = key
        if kind == "readme":
            return README.encode()
        if kind == "log":
            lines = []
            for r in self.m.log(sid, newest_first=False):
                what = r.path if not r.old_path else f"{r.old_path} -> {r.path}"
                msg = f"  # {r.message}" if r.message else ""
                lines.append(f"{r.id}\t{fmt_time(r.created_at)}\tagent={r.agent or '-'}\tsession={r.session or '-'}"
                             f"\t{r.op}\t{what}\t{r.sha256 or '-'}{msg}\n")
            return "".join(lines).encode()
        if kind == "rev":
            return self.m.blob(self.m.revision(arg).sha256)
        if kind == "conflictlog":
            lines = []
            for c in self.m.conflicts(sid):
                if c.refused_by_hook:  # nothing of the content is kept: a hook refused it to keep it out
                    lines.append(f"{c.id}\t{fmt_time(c.created_at)}\t{c.path}\trefused for agent={c.agent or '-'} "
                                 f"session={c.session or '-'}: {c.reason}; a write hook refused this content, "
                                 f"so it was not kept\n")
                    continue
                by = "-"
                if c.current_rev:
                    r = self._revision(sid, c.current_rev)
                    if r is not None:
                        by = f"revision {r.id} by agent={r.agent or '-'} session={r.session or '-'} at {fmt_time(r.created_at)}"
                lines.append(
                    f"{c.id}\t{fmt_time(c.created_at)}\t{c.path}\trefused for agent={c.agent or '-'} "
                    f"session={c.session or '-'}: {c.reason}; you had {(c.base_sha256 or 'nothing')[:12]}, "
                    f"the store has {(c.current_sha256 or 'nothing')[:12]} ({by}); "
                    f"your content: conflicts/{self._conflict_name(c)}\n")
            return "".join(lines).encode()
        if kind == "conflict":
            c = self.m.conflict(sid, arg)
            return self.m.blob(c.sha256) if c is not None and c.sha256 else b""
        raise pyfuse3.FUSEError(errno.EISDIR)

    def getattr(self, ino):
        sid, kind, arg = self._key(ino)
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.st_uid, a.st_gid = self.ops.uid, self.ops.gid
        a.st_blksize = 4096
        now = time.time_ns()
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = now
        if kind in ("root", "history", "conflicts"):
            a.st_mode = stat.S_IFDIR | 0o555
            a.st_nlink = 2
            a.entry_timeout = a.attr_timeout = SHORT
            return a
        a.st_mode = stat.S_IFREG | 0o444
        a.st_nlink = 1
        if kind == "conflict":
            c = self.m.conflict(sid, arg)
            return self._attr(ino, c.size if c else 0, int(c.created_at * 1e9) if c else now, SHORT)
        if kind == "rev":
            r = self.m.revision(arg)
            a.st_size = r.size
            a.st_mtime_ns = a.st_ctime_ns = a.st_atime_ns = int(r.created_at * 1e9)
            a.entry_timeout = a.attr_timeout = 3600  # a revision never changes
        else:
            a.st_size = len(self.content((sid, kind, arg)))
            a.entry_timeout = a.attr_timeout = 0 if kind in ("log", "conflictlog") else SHORT
        a.st_blocks = (a.st_size + 511) // 512
        return a

    def _attr(self, ino, size, mtime_ns, timeout):
        a = pyfuse3.EntryAttributes()
        a.st_ino = ino
        a.st_uid, a.st_gid = self.ops.uid, self.ops.gid
        a.st_blksize = 4096
        a.st_mode = stat.S_IFREG | 0o444
        a.st_nlink = 1
        a.st_size = size
        a.st_blocks = (size + 511) // 512
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = mtime_ns
        a.entry_timeout = a.attr_timeout = timeout
        return a

    def open(self, ino):
        return VHandle(self.content(self._key(ino)))
