"""Helpers for the mount tests (fixtures are in conftest.py): run bash, catch an errno, read the
store's log since a point, time how long until something becomes true."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import subprocess
import time
from typing import Callable, Optional

from memfs import Memfs
from memfs.fuse.scratch import is_scratch

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)


def bash(script: str, cwd, *, timeout: float = 60, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run `script` with bash explicitly (dash reports errors with other exit codes)."""
    return subprocess.run(["bash", "-c", script], cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def ok(script: str, cwd, **kw) -> subprocess.CompletedProcess:
    p = bash(script, cwd, **kw)
    assert p.returncode == 0, f"`{script}` exited {p.returncode}: {p.stderr}"
    return p


def errno_of(fn: Callable, *args, **kw) -> Optional[int]:
    """The errno `fn(*args)` fails with, or None when it succeeds."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


def name(code: Optional[int]) -> str:
    return "success" if code is None else errno.errorcode.get(code, str(code))


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def head(db) -> int:
    with Memfs(db) as m:
        return m.head()


def revs(db, store: str = "team-sre", *, after: int = 0, path: Optional[str] = None) -> list:
    """Revisions of `store` after revision `after`, oldest first."""
    with Memfs(db) as m:
        return m.log(store, path, after=after, newest_first=False)


def history(db, path: str, store: str = "team-sre") -> list:
    with Memfs(db) as m:
        return m.history(store, path)


def stored(db, path: str, store: str = "team-sre") -> Optional[bytes]:
    """Content of `path` in the store now (None when there is no such file)."""
    with Memfs(db) as m:
        n = m.lookup(store, path)
        return None if n is None else m.blob(n.sha256)


def ops(rs) -> list[tuple[str, str]]:
    return [(r.op, r.path) for r in rs]


# Names tools use for files that live a moment: the mount's own list, and a few more that tools
# use in practice (rsync's .NAME.XXXXXX, numbered backups, git's mkstemp names inside .git).
_EXTRA_TEMP = re.compile(r"\..+\.[A-Za-z0-9]{6}|.+\.~\d+~|sed[A-Za-z0-9]{6}")
_GIT_TEMP = re.compile(r"(.*/)?\.git/(.*/)?(t|tmp_)[A-Za-z0-9_]{6,}")


def is_temp(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return bool(is_scratch(base) or _EXTRA_TEMP.fullmatch(base) or _GIT_TEMP.fullmatch(path))


def temp_names(rs) -> list[str]:
    """Paths in revisions `rs` that look like a scratch or temp file."""
    return [p for r in rs for p in (r.path, r.old_path) if p and is_temp(p)]


def elapsed_until(pred: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> Optional[float]:
    """Seconds until pred() is true (polled every `interval`), or None if it never was."""
    start = time.monotonic()
    while True:
        try:
            if pred():
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)


def renameat2(src, dst, flags: int) -> None:
    if _libc.renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(src))


def read_or_none(path) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
