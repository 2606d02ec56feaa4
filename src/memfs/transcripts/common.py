"""Helpers shared by the readers: lenient line reading, timestamps, content blocks."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from .model import Problem, Ref, Session, ToolCall, ToolResult


def iter_json_lines(path: str, session: Session) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line that is a JSON object; anything else is recorded as
    an unparseable line on the session and skipped. Never raises on bad content."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            session.lines = n
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as e:
                session.problems.append(Problem(Ref(path, n), "unparseable", f"not JSON: {str(e)[:80]}"))
                continue
            if not isinstance(obj, dict):
                session.problems.append(Problem(Ref(path, n), "unparseable",
                                                f"a JSON {type(obj).__name__}, not an object"))
                continue
            bad = scrub(obj)
            if bad:
                session.problems.append(Problem(Ref(path, n), "malformed", f"ignored non-text {', '.join(bad)}"))
            yield n, obj


UNREADABLE = object()


def read_json_file(path: str, session: Session):
    """A whole-file JSON transcript, leniently: the parsed value, or `UNREADABLE` after recording why
    it could not be read (the caller then returns the session as it is)."""
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    session.lines = raw.count("\n") + 1
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        session.problems.append(Problem(Ref(path, 1), "unparseable", f"not JSON: {str(e)[:80]}"))
        return UNREADABLE


# fields the readers use as names and keys: any JSON may arrive in them, only text is meaningful
ID_FIELDS = ("type", "subtype", "uuid", "parentUuid", "leafUuid", "sessionId", "session_id", "id",
             "tool_use_id", "agentId", "role", "name", "parent_tool_use_id")


def scrub(obj: dict) -> list[str]:
    """Drop identifier fields that are not text (here and in `message`); returns what was dropped."""
    bad = []
    for where, d in (("", obj), ("message.", obj.get("message"))):
        if not isinstance(d, dict):
            continue
        for k in ID_FIELDS:
            if k in d and d[k] is not None and not isinstance(d[k], str):
                del d[k]
                bad.append(where + k)
    return bad


def parse_ts(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value / 1000 if value > 1e11 else value)
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def blocks_of(content: Any) -> list[dict]:
    """Content as a list of blocks: a string becomes one text block; bare strings in a list too."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, dict):
        return [content]
    if isinstance(content, list):
        out = []
        for b in content:
            if isinstance(b, dict):
                out.append(b)
            elif isinstance(b, str):
                out.append({"type": "text", "text": b})
        return out
    return [{"type": "text", "text": str(content)}]


def text_of(content: Any) -> str:
    """The readable text of a content value (a string, text blocks, nested tool_result content)."""
    parts = []
    for b in blocks_of(content):
        t = b.get("type")
        if t == "text" or (t is None and "text" in b):
            parts.append(str(b.get("text") or ""))
        elif t == "tool_result":
            parts.append(text_of(b.get("content")))
    return "\n".join(p for p in parts if p)


def note_time(session: Session, ts: Optional[float]) -> None:
    if ts is None:
        return
    if session.started_at is None or ts < session.started_at:
        session.started_at = ts
    if session.ended_at is None or ts > session.ended_at:
        session.ended_at = ts


def calls_and_results(blocks: list[dict], ref: Ref, is_error_hint=None) -> tuple[str, list[ToolCall], list[ToolResult]]:
    """Split content blocks into text, tool calls and tool results."""
    texts, calls, results = [], [], []
    for b in blocks:
        t = b.get("type")
        if t == "text" or (t is None and "text" in b):
            texts.append(str(b.get("text") or ""))
        elif t in ("tool_use", "server_tool_use", "mcp_tool_use"):
            inp = b.get("input")
            calls.append(ToolCall(str(b.get("id") or ""), str(b.get("name") or "?"),
                                  inp if isinstance(inp, dict) else {"input": inp}, ref))
        elif t == "tool_result" or (t and t.endswith("_tool_result")):
            err = b.get("is_error")
            is_error = err is True or (err is None and bool(is_error_hint))
            results.append(ToolResult(str(b.get("tool_use_id") or ""), text_of(b.get("content")), is_error, ref))
    return "\n".join(x for x in texts if x), calls, results


def link(session: Session) -> None:
    """Give each tool call its result and each result the name of its tool."""
    calls = {}
    for t in session.turns:
        for c in t.tool_calls:
            calls.setdefault(c.id, c)
    for t in session.turns:
        for r in t.tool_results:
            c = calls.get(r.tool_use_id)
            if c is not None:
                r.tool = c.name
                if c.result is None:
                    c.result = r
