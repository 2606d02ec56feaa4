"""memfs objects -> the JSON objects of Anthropic's memory stores API."""

import json
from datetime import datetime, timezone
from typing import Optional

from ..store import FileInfo, Revision, Store
from .ids import memory_id, version_id

OPERATION = {"create": "created", "write": "modified", "rename": "modified", "delete": "deleted"}
OPS_FOR = {"created": ("create",), "modified": ("write", "rename"), "deleted": ("delete",)}


def ts(t: Optional[float]) -> Optional[str]:
    """RFC 3339, UTC, microseconds."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def parse_ts(text: str, name: str, bound: int = 0) -> float:
    """An RFC 3339 time as unix seconds. Times are shown to the microsecond (rounded), so a bound
    (-1 lower, +1 upper) reaches half a microsecond further: a time the API showed matches itself."""
    from .. import errors

    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise errors.InvalidInput(f"{name}: not an RFC 3339 time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.timestamp() + bound * 0.5e-6
    except (OverflowError, ValueError, OSError):
        raise errors.InvalidInput(f"{name}: time out of range: {text!r}") from None


def text_of(data: bytes) -> Optional[str]:
    """Content as text; None for bytes that are not UTF-8 (a binary file written through a mount)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def store(s: Store) -> dict:
    return {"type": "memory_store", "id": s.uid, "name": s.name, "description": s.description,
            "metadata": s.metadata, "created_at": ts(s.created_at), "updated_at": ts(s.updated_at),
            "archived_at": ts(s.archived_at)}


def memory(f: FileInfo, s: Store, content: Optional[bytes] = None) -> dict:
    return {"type": "memory", "id": memory_id(f.node_id), "memory_store_id": s.uid, "path": f.path,
            "content": None if content is None else text_of(content), "content_sha256": f.sha256,
            "content_size_bytes": f.size, "memory_version_id": version_id(f.version),
            "created_at": ts(f.created_at), "updated_at": ts(f.updated_at)}


def prefix(path: str) -> dict:
    return {"type": "memory_prefix", "path": path}


def actor(kind: Optional[str], agent=None, session=None, api_key_id=None, dream_job=None) -> Optional[dict]:
    """memfs's actor kinds as Anthropic's actors: a mount (an agent in a session) is a
    session_actor, the HTTP API an api_actor, an operator at the CLI a user_actor, a dream a
    service_account_actor named by its job."""
    if kind == "api":
        return {"type": "api_actor", "api_key_id": api_key_id or "anonymous"}
    if kind == "agent" and session:
        return {"type": "session_actor", "session_id": session}
    if kind == "dream":
        return {"type": "service_account_actor", "service_account_id": dream_job or "dream"}
    if kind in ("agent", "operator"):
        return {"type": "user_actor", "user_id": agent or kind}
    return None


def version(r: Revision, s: Store, content: Optional[bytes] = None) -> dict:
    redacted = r.redacted_at is not None
    gone = redacted or r.op == "delete"
    by = None
    if redacted and r.redacted_by:
        try:
            d = json.loads(r.redacted_by)
        except ValueError:
            d = {}
        by = actor(d.get("actor"), d.get("agent"), d.get("session"), d.get("api_key_id")) if isinstance(d, dict) else None
    return {"type": "memory_version", "id": version_id(r.id), "memory_id": memory_id(r.node_id),
            "memory_store_id": s.uid, "operation": OPERATION[r.op],
            "path": None if redacted else r.path,
            "content": None if gone or content is None else text_of(content),
            "content_sha256": None if gone else r.sha256,
            "content_size_bytes": None if gone else r.size,
            "created_by": actor(r.actor, r.agent, r.session, r.api_key_id, r.dream_job),
            "created_at": ts(r.created_at), "redacted_at": ts(r.redacted_at), "redacted_by": by,
            # memfs's additions: who wrote it (Anthropic records no agent id), in which session, and
            # for a merge's revision the branch version it brought in
            "agent_id": r.agent, "session_id": r.session,
            "merged_from_version_id": version_id(r.merged_from) if r.merged_from else None}
