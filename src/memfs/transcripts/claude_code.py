"""Claude Code session JSONL (`~/.claude/projects/<cwd>/<session>.jsonl` and its sub-agent files).

One API message may be spread over several lines sharing `message.id`: they become one turn.
Conversation order follows `parentUuid`, not file order (lines may be out of order); a record
whose parent is not in the file (a sub-agent's root, a resumed session) starts a thread of its
own. `isMeta` user records carrying hook feedback are corrections."""

from __future__ import annotations

import os
from collections import Counter
from typing import Optional

from .common import blocks_of, calls_and_results, iter_json_lines, link, note_time, parse_ts
from .model import Problem, Ref, Session, Turn, correction_of_text

FORMAT = "claude-code"
# record types that carry no conversation (metadata of the client)
QUIET_TYPES = {"file-history-snapshot", "queue-operation", "progress", "attachment", "custom-title", "tag",
               "last-prompt", "agent-name", "pr-link", "mode", "worktree-state", "ai-title", "task-summary"}


def read(path: str) -> Session:
    s = Session(session_id="", format=FORMAT, source=path, sources=[path])
    turns: list[Turn] = []
    by_msg: dict[str, Turn] = {}
    owner: dict[str, Turn] = {}  # record uuid -> the turn it belongs to
    parent_of: dict[int, Optional[str]] = {}  # id(turn) -> parent uuid of its first record
    ids = Counter()
    for n, d in iter_json_lines(path, s):
        typ = d.get("type")
        ref = Ref(path, n)
        if isinstance(d.get("sessionId"), str):
            ids[d["sessionId"]] += 1
        if typ == "summary":
            s.summary = s.summary or (d.get("summary") if isinstance(d.get("summary"), str) else None)
            continue
        if typ in QUIET_TYPES:
            continue
        ts = parse_ts(d.get("timestamp"))
        note_time(s, ts)
        if typ == "system":
            content = d.get("content")
            if isinstance(content, str) and content:
                t = Turn("system", content, ref, ts, d.get("uuid"), d.get("parentUuid"), refs=[ref], is_meta=True)
                if d.get("level") == "error":
                    t.error = content
                turns.append(t)
                _own(owner, parent_of, t, d)
            continue
        if typ not in ("user", "assistant"):
            s.problems.append(Problem(ref, "malformed", f"unknown record type {typ!r}" if typ else "no record type"))
            continue
        msg = d.get("message")
        if not isinstance(msg, dict):
            s.problems.append(Problem(ref, "malformed", "message is not an object"))
            continue
        if "content" not in msg:
            s.problems.append(Problem(ref, "malformed", "message has no content"))
            continue
        s.cwd = s.cwd or d.get("cwd")
        if typ == "assistant" and isinstance(msg.get("model"), str) and msg["model"] != "<synthetic>":
            s.model = s.model or msg["model"]
        tur = d.get("toolUseResult")
        hint = isinstance(tur, str) and tur.startswith("Error")
        text, calls, results = calls_and_results(blocks_of(msg.get("content")), ref, hint)
        mid = msg.get("id") if typ == "assistant" and isinstance(msg.get("id"), str) else None
        if mid and mid in by_msg:
            t = by_msg[mid]  # another line of the same API message
            t.text = "\n".join(x for x in (t.text, text) if x)
            t.tool_calls += calls
            t.refs.append(ref)
            if d.get("uuid"):
                owner[d["uuid"]] = t
            continue
        is_meta = d.get("isMeta") is True
        t = Turn(msg.get("role") if msg.get("role") in ("user", "assistant") else typ, text, ref, ts,
                 d.get("uuid"), d.get("parentUuid"), mid, calls, results, [ref], is_meta,
                 sidechain=d.get("isSidechain") is True, agent_id=d.get("agentId") if isinstance(d.get("agentId"), str) else None)
        if t.role == "user" and not results:
            t.correction = correction_of_text(text, is_meta)
        if mid:
            by_msg[mid] = t
        turns.append(t)
        _own(owner, parent_of, t, d)
    s.session_id = ids.most_common(1)[0][0] if ids else os.path.splitext(os.path.basename(path))[0]
    s.turns = _thread(turns, owner, parent_of)
    link(s)
    return s


def _own(owner, parent_of, t, d):
    if isinstance(d.get("uuid"), str):
        owner[d["uuid"]] = t
    parent_of[id(t)] = d.get("parentUuid") if isinstance(d.get("parentUuid"), str) else None


def _thread(turns: list[Turn], owner: dict, parent_of: dict) -> list[Turn]:
    """Conversation order: depth first from each root, siblings in file order."""
    children: dict[int, list[Turn]] = {}
    roots = []
    for t in turns:
        p = owner.get(parent_of.get(id(t)) or "")
        if p is None or p is t:
            roots.append(t)
        else:
            children.setdefault(id(p), []).append(t)
    out, seen = [], set()
    for root in roots:
        stack = [root]
        while stack:
            t = stack.pop()
            if id(t) in seen:
                continue
            seen.add(id(t))
            out.append(t)
            stack.extend(reversed(children.get(id(t), [])))
    out.extend(t for t in turns if id(t) not in seen)  # cycles: keep them, in file order
    return out


def looks_like(first: dict) -> bool:
    return ("sessionId" in first or "parentUuid" in first or "leafUuid" in first
            or first.get("type") in QUIET_TYPES)
