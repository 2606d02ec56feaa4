"""The mount's no-lost-update rules, without a kernel: which version a session's write is based on,
whether it may land, and what a read tells about the version a session has seen.

The mount (fuse/files.py) keeps the state — per path, the version this session last saw (`seen`)
and an armed `user.memfs.if-match`; per open file, the version its buffer was built on — and asks
these functions; they hold every decision, so they are unit-tested (tests/fuse/test_staleness.py,
including a hypothesis state machine over two sessions) without a mount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MIXED = "mixed"  # a `seen` value matching no version: the reader may have been shown a blend of two


def basis(armed: Optional[str], seen: Optional[str]) -> Optional[str]:
    """The version a write from this session is based on: an armed if-match wins over what the
    session last read; None when it has seen no version of the path."""
    return armed or seen


def is_stale(armed: Optional[str], seen: Optional[str], current: Optional[str]) -> bool:
    """A write based on `basis(armed, seen)` would overwrite a version this session never saw."""
    b = basis(armed, seen)
    return b is not None and b != current


@dataclass(frozen=True)
class ReadOutcome:
    handle_sha: str        # what the handle has now read (MIXED if more than one version)
    seen: Optional[str]    # the session's new `seen` for the path
    invalidate: bool       # drop the kernel's pages: the reader may have been shown a blend


def after_read(handle_sha: Optional[str], current: str, offset: int, kernel_size: Optional[int],
               length: int, seen: Optional[str]) -> ReadOutcome:
    """A read through a handle of the stored version `current`.

    The kernel shows the reader what the daemon returns clipped to the size it believes, and may
    serve other parts from pages of an older version. Only a read from offset 0, with the kernel's
    size right, through a handle that has read nothing else, shows one whole version. A handle
    that read one version and now gets another has read a blend, whatever the offset (the kernel
    refilling its cache mid-pass after another session's commit)."""
    prior = handle_sha
    now = current if prior in (None, current) else MIXED
    if prior in (None, current) and offset == 0 and kernel_size == length:
        return ReadOutcome(now, current, False)
    if prior not in (None, current) or seen != current:
        return ReadOutcome(now, MIXED, True)
    return ReadOutcome(now, seen, False)


class Refused(Exception):
    """The write may not land: `base` is the version it was based on (None for a blend)."""

    def __init__(self, reason: str, base: Optional[str]):
        super().__init__(reason)
        self.reason, self.base = reason, (None if base == MIXED else base)


def commit_plan(*, pending: bool, append_only: bool, truncated: bool, loaded: Optional[str],
                armed: Optional[str], seen: Optional[str], exists: bool) -> tuple[str, Optional[str]]:
    """How a file's buffered change is committed: ("append", None) — the appended bytes go to the
    end of what is stored, never a conflict — or ("write", expected) — a whole new content, which
    lands only if the stored version is still `expected` (None: whatever is there).

    - a file created here: the version this session saw of the path, if it saw one and one exists;
    - a file opened for appending only: an append (unless an if-match is armed);
    - a rewrite that read the file first: the version it was built on (`loaded`);
    - a truncating rewrite: the version the session saw last.
    Raises Refused when the session's view is a blend of versions."""
    if pending:
        expected = armed
        if expected is None and seen is not None:
            expected = seen if exists else None
    elif append_only and not truncated and not armed:
        return "append", None
    else:
        expected = armed or (loaded if not truncated else seen)
    if expected == MIXED:
        raise Refused("this session read a blend of two versions", MIXED)
    return "write", expected


def open_check(*, dirty: bool, append_only: bool, truncated: bool, loaded: Optional[str],
               current: Optional[str], armed: Optional[str], seen: Optional[str], truncating: bool,
               append: bool) -> Optional[str]:
    """Before a change to a committed file: the reason to refuse it now, or None.

    A buffer already dirty must still build on the stored version (unless it only appends or
    replaces everything). A fresh rewrite must be based on the version stored now; appends go to
    the current end and never conflict (unless an if-match is armed); a truncating open is judged
    later, at its first write that differs from what is stored (identical content always succeeds)."""
    if dirty:
        if not append_only and not truncated and current != loaded:
            return "changed by another session while open"
        return None
    if truncating or (append and not armed):
        return None  # an armed append is judged now, like a rewrite: its commit would be refused
    if is_stale(armed, seen, current):
        return "stale: another session changed the file after this one read it"
    return None
