"""Where things live and who is asking: the database path, the user directory, the identity."""

import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from . import errors
from .store import Identity, default_identity


def user_dir() -> Path:
    """$MEMFS_HOME, else the XDG data directory (~/.local/share/memfs)."""
    if os.environ.get("MEMFS_HOME"):
        return Path(os.environ["MEMFS_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "memfs"


def db_path(explicit: Optional[str] = None) -> str:
    """--db, else $MEMFS_DB, else memfs.db in the user directory."""
    return explicit or os.environ.get("MEMFS_DB") or str(user_dir() / "memfs.db")


def identity(agent: Optional[str] = None, session: Optional[str] = None) -> Identity:
    """The CLI's identity: the store's one rule (`memfs.store.default_identity`, docs/identity.md)."""
    return default_identity(agent, session)


_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str) -> float:
    """'7d', '2h', '30m' (ago), an ISO date or date-time (UTC unless it says), or unix seconds."""
    t = text.strip()
    m = _REL.match(t)
    if m:
        return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidInput(f"cannot read {text!r} as a time: use 7d, 2h, 30m, 2026-11-27 or 2026-11-27T10:00")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def fmt_time(ts: Optional[float]) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
