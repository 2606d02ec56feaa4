"""The ids and page cursors of the HTTP API.

- A store's id is its `uid` column (`memstore_` + 24 hex digits), made when the store is.
- A memory's id is `mem_` + its node id in decimal (`mem_42`); the node id is the file's inode
  number on a mount and stays the same across renames, as Anthropic's memory ids do.
- A version's id is `memver_` + its revision id in decimal (`memver_117`); revision ids are global
  and increase in commit order, so version ids sort by age.

Both decimal forms are canonical (no sign, no leading zero), so each memory and version has
exactly one id. Page cursors are opaque to clients: URL-safe base64 of a small JSON object that
names the listing it belongs to, so that a cursor is refused by any other listing."""

import base64
import binascii
import json
import re
from typing import Optional

from .. import errors

_MEM = re.compile(r"mem_([1-9][0-9]{0,17})")
_VER = re.compile(r"memver_([1-9][0-9]{0,17})")
_STORE = re.compile(r"memstore_[0-9a-f]{24}")


def memory_id(node_id: int) -> str:
    return f"mem_{node_id}"


def version_id(rev_id: int) -> str:
    return f"memver_{rev_id}"


def parse_memory_id(text) -> Optional[int]:
    m = _MEM.fullmatch(text) if isinstance(text, str) else None
    return int(m.group(1)) if m else None


def parse_version_id(text) -> Optional[int]:
    m = _VER.fullmatch(text) if isinstance(text, str) else None
    return int(m.group(1)) if m else None


def is_store_id(text) -> bool:
    return isinstance(text, str) and _STORE.fullmatch(text) is not None


def encode_cursor(kind: str, scope: str, value) -> str:
    raw = json.dumps({"k": kind, "s": scope, "v": value}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(page: Optional[str], kind: str, scope: str):
    """The value inside a cursor this listing made, None for no cursor; InvalidInput otherwise."""
    if page is None:
        return None
    bad = errors.InvalidInput("page: not a cursor that this listing returned (use next_page as given)")
    if not isinstance(page, str) or not page or len(page) > 4096:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4))
        d = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(d, dict) or d.get("k") != kind or d.get("s") != scope or "v" not in d:
        raise bad
    return d["v"]
