"""Every setting memfs reads from the environment, read when used (never at import) and checked in
one place: a bad value is an `InvalidInput` naming the variable, which the CLI checks at start
(`check()`), so a typo is one line and exit 2 for every command, never a traceback."""

import os
from typing import Callable, Optional

from . import errors


def _number(kind: type, what: str, low: float) -> Callable[[str, str], object]:
    def parse(name: str, text: str):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or v != v or v < low or v in (float("inf"), float("-inf")):
            raise errors.InvalidInput(f"{name} must be {what}, not {text!r}")
        return v

    return parse


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        if text.lower() not in allowed:
            raise errors.InvalidInput(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {text!r}")
        return text.lower()

    return parse


# name -> (parser, default). Strings (MEMFS_DB, MEMFS_HOME, MEMFS_AGENT, ...) need no check.
SETTINGS: dict = {
    "MEMFS_LEASE_SECONDS": (_number(float, "a positive number of seconds", 0.001), 5.0),
    "MEMFS_BUSY_TIMEOUT": (_number(float, "a number of seconds", 0), 10.0),
    "MEMFS_SYNC": (_choice("full", "normal", "extra"), "full"),
    "MEMFS_READ_COUNTS": (_choice("1", "0"), "1"),  # 0: the mount does not count reads (the bench)
    "MEMFS_PG_POOL": (_number(int, "a number of connections (1 or more)", 1), 16),
    "MEMFS_DREAM_ENGINE": (_choice("local", "claude"), None),
    "MEMFS_DREAM_CONCURRENCY": (_number(int, "a number of parallel calls (1 or more)", 1), 4),
    "MEMFS_DREAM_BATCH_CHARS": (_number(int, "a number of characters (1 or more)", 1), 60000),
    "MEMFS_DREAM_MAX_RETRIES": (_number(int, "a number of retries (0 or more)", 0), 4),
    "MEMFS_DREAM_RETRY_BASE": (_number(float, "a number of seconds", 0), 1.0),
}


def get(name: str, default: Optional[object] = None):
    """The setting's value from the environment (parsed), else `default`, else its own default.
    An empty variable counts as unset."""
    parse, own = SETTINGS[name]
    text = os.environ.get(name, "").strip()
    if not text:
        return own if default is None else default
    return parse(name, text)


def check() -> None:
    """Raise InvalidInput for the first badly set variable (the CLI calls this before any command)."""
    for name in SETTINGS:
        get(name)
