"""Claude Managed Agents session events (`{domain}.{action}`), as a JSON list, a list response
(`{"data": [...]}`) or NDJSON."""

from __future__ import annotations

import os
from typing import Any

from .common import UNREADABLE, iter_json_lines, link, note_time, parse_ts, read_json_file, text_of
from .model import Problem, Ref, Session, ToolCall, ToolResult, Turn, correction_of_text

FORMAT = "managed-agents"


def read(path: str, data: Any = None) -> Session:
    s = Session(session_id=os.path.splitext(os.path.basename(path))[0], format=FORMAT, source=path, sources=[path])
    if data is None and path.endswith(".jsonl"):
        events = [(Ref(path, n), d) for n, d in iter_json_lines(path, s)]
    else:
        if data is None:
            data = read_json_file(path, s)
            if data is UNREADABLE:
                return s
        base = ""
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data, base = data["data"], "/data"
        events = []
        for i, d in enumerate(data if isinstance(data, list) else []):
            ref = Ref(path, pointer=f"{base}/{i}")
            if isinstance(d, dict):
                events.append((ref, d))
            else:
                s.problems.append(Problem(ref, "unparseable", f"a JSON {type(d).__name__}, not an event"))
    for ref, d in events:
        _event(s, ref, d)
    link(s)
    return s


def _event(s: Session, ref: Ref, d: dict) -> None:
    typ = d.get("type")
    if not isinstance(typ, str) or "." not in typ:
        s.problems.append(Problem(ref, "malformed", f"not a session event: type {typ!r}"))
        return
    if isinstance(d.get("session_id"), str):
        s.session_id = d["session_id"]
    ts = parse_ts(d.get("processed_at") or d.get("created_at"))
    note_time(s, ts)
    last = s.turns[-1] if s.turns else None
    if typ == "user.message":
        text = text_of(d.get("content"))
        s.turns.append(Turn("user", text, ref, ts, d.get("id"), refs=[ref], correction=correction_of_text(text, False)))
    elif typ == "user.interrupt":
        s.turns.append(Turn("user", "[interrupted by user]", ref, ts, d.get("id"), refs=[ref], correction="interrupt"))
    elif typ == "user.tool_confirmation":
        if d.get("result") == "deny":
            why = d.get("deny_message") or "the user denied this tool use"
            s.turns.append(Turn("user", "", ref, ts, d.get("id"), refs=[ref], tool_results=[
                ToolResult(str(d.get("tool_use_id") or ""), f"The user doesn't want to proceed with this tool use: {why}",
                           True, ref)]))
    elif typ in ("agent.message", "agent.tool_use", "agent.mcp_tool_use", "agent.custom_tool_use"):
        if last is None or last.role != "assistant" or last.tool_results:
            last = Turn("assistant", "", ref, ts, d.get("id"), refs=[])
            s.turns.append(last)
        last.refs.append(ref)
        if typ == "agent.message":
            last.text = "\n".join(x for x in (last.text, text_of(d.get("content"))) if x)
        else:
            inp = d.get("input")
            last.tool_calls.append(ToolCall(str(d.get("id") or ""), str(d.get("name") or d.get("tool_name") or "?"),
                                            inp if isinstance(inp, dict) else {"input": inp}, ref))
    elif typ in ("agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result"):
        tid = d.get("tool_use_id") or d.get("mcp_tool_use_id") or d.get("custom_tool_use_id") or ""
        r = ToolResult(str(tid), text_of(d.get("content")), d.get("is_error") is True, ref)
        if last is not None and last.role == "user" and last.tool_results and not last.text:
            last.tool_results.append(r)
            last.refs.append(ref)
        else:
            s.turns.append(Turn("user", "", ref, ts, d.get("id"), tool_results=[r], refs=[ref]))
    elif typ == "session.error":
        err = d.get("error") if isinstance(d.get("error"), dict) else {}
        msg = err.get("message") or d.get("message") or "session error"
        s.turns.append(Turn("system", "", ref, ts, d.get("id"), refs=[ref], error=f"{err.get('type', 'error')}: {msg}"))
    # agent.thinking, session.status_*, span.*, compaction: no conversation content


def looks_like(first: Any) -> bool:
    if isinstance(first, dict) and isinstance(first.get("data"), list):
        first = first["data"][0] if first["data"] else {}
    if isinstance(first, list):
        first = first[0] if first else {}
    t = first.get("type") if isinstance(first, dict) else None
    return isinstance(t, str) and t.split(".")[0] in ("user", "agent", "session", "span") and "." in t

