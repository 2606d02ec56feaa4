"""Claude Code's headless stream (`claude -p --output-format stream-json --verbose`): NDJSON of
`system` (init), `assistant`, `user` and `result` records with snake_case `session_id`."""

from __future__ import annotations

import os
from collections import Counter

from .common import blocks_of, calls_and_results, iter_json_lines, link, note_time, parse_ts
from .model import Problem, Ref, Session, Turn, correction_of_text

FORMAT = "stream-json"


def read(path: str) -> Session:
    s = Session(session_id="", format=FORMAT, source=path, sources=[path])
    ids = Counter()
    by_msg: dict[str, Turn] = {}
    for n, d in iter_json_lines(path, s):
        ref = Ref(path, n)
        typ = d.get("type")
        if isinstance(d.get("session_id"), str):
            ids[d["session_id"]] += 1
        note_time(s, parse_ts(d.get("timestamp")))
        if typ == "system":
            if d.get("subtype") == "init":
                s.cwd = d.get("cwd") if isinstance(d.get("cwd"), str) else s.cwd
                s.model = d.get("model") if isinstance(d.get("model"), str) else s.model
            continue
        if typ == "result":
            subtype = d.get("subtype")
            if d.get("is_error") is True or (isinstance(subtype, str) and subtype.startswith("error")):
                msg = d.get("result") if isinstance(d.get("result"), str) else f"session ended with {subtype}"
                t = Turn("system", msg, ref, refs=[ref], error=f"{subtype}: {msg}" if subtype else msg)
                s.turns.append(t)
            elif isinstance(d.get("result"), str):
                s.summary = d["result"][:500]
            continue
        if typ not in ("user", "assistant"):
            if typ is None:
                s.problems.append(Problem(ref, "malformed", "no record type"))
            continue
        msg = d.get("message")
        if not isinstance(msg, dict) or "content" not in msg:
            s.problems.append(Problem(ref, "malformed", "message is not an object with content"))
            continue
        text, calls, results = calls_and_results(blocks_of(msg.get("content")), ref)
        mid = msg.get("id") if typ == "assistant" and isinstance(msg.get("id"), str) else None
        if mid and mid in by_msg:
            t = by_msg[mid]
            t.text = "\n".join(x for x in (t.text, text) if x)
            t.tool_calls += calls
            t.refs.append(ref)
            continue
        side = isinstance(d.get("parent_tool_use_id"), str)
        t = Turn(typ, text, ref, message_id=mid, tool_calls=calls, tool_results=results, refs=[ref],
                 sidechain=side, agent_id=d.get("parent_tool_use_id") if side else None)
        if typ == "assistant" and isinstance(msg.get("model"), str):
            s.model = s.model or msg["model"]
        if typ == "user" and not results:
            t.correction = correction_of_text(text, False)
        if mid:
            by_msg[mid] = t
        s.turns.append(t)
    s.session_id = ids.most_common(1)[0][0] if ids else os.path.splitext(os.path.basename(path))[0]
    link(s)
    return s


def looks_like(first: dict) -> bool:
    return "session_id" in first and first.get("type") in ("system", "assistant", "user", "result")
