"""Anthropic Messages API conversations: `{system, tools, messages}`, a bare list of messages, a
single response `Message`, or a recorded HTTP exchange `[{request, response}, ...]` (the last
request carries the whole conversation so far; its response is the final assistant turn).
References are JSON pointers into the file."""

from __future__ import annotations

import os
from typing import Any

from .common import UNREADABLE, blocks_of, calls_and_results, link, read_json_file
from .model import Problem, Ref, Session, Turn, correction_of_text

FORMAT = "messages-api"


def read(path: str, data: Any = None) -> Session:
    s = Session(session_id=os.path.splitext(os.path.basename(path))[0].removesuffix(".http"), format=FORMAT,
                source=path, sources=[path])
    if data is None:
        data = read_json_file(path, s)
        if data is UNREADABLE:
            return s
    if isinstance(data, list) and data and all(isinstance(x, dict) and "request" in x for x in data):
        _recorded(s, path, data)
    elif isinstance(data, dict) and isinstance(data.get("messages"), list):
        _conversation(s, path, data["messages"], "/messages")
        s.model = data.get("model") if isinstance(data.get("model"), str) else None
    elif isinstance(data, dict) and data.get("type") == "message":
        _message(s, path, data, "")
    elif isinstance(data, list):
        _conversation(s, path, data, "")
    else:
        s.problems.append(Problem(Ref(path, 1), "malformed", "not a Messages API conversation"))
    link(s)
    return s


def _recorded(s: Session, path: str, data: list) -> None:
    last = None
    for i, x in enumerate(data):
        req, resp = x.get("request"), x.get("response")
        body = req.get("body") if isinstance(req, dict) else None
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            last = (i, body)
    if last is None:
        s.problems.append(Problem(Ref(path, 1), "malformed", "no request with messages"))
        return
    i, body = last
    s.model = body.get("model") if isinstance(body.get("model"), str) else None
    _conversation(s, path, body["messages"], f"/{i}/request/body/messages")
    resp = data[i].get("response")
    if isinstance(resp, dict):
        rb = resp.get("body")
        status = resp.get("status_code")
        ptr = f"/{i}/response/body"
        if isinstance(rb, dict) and rb.get("type") == "error":
            err = rb.get("error") if isinstance(rb.get("error"), dict) else {}
            s.turns.append(Turn("system", "", Ref(path, pointer=ptr), refs=[Ref(path, pointer=ptr)],
                                error=f"{err.get('type', 'error')}: {err.get('message', '')} (HTTP {status})"))
        elif isinstance(rb, dict):
            _message(s, path, rb, ptr)


def _message(s: Session, path: str, m: dict, ptr: str) -> None:
    ref = Ref(path, pointer=ptr or "/")
    text, calls, results = calls_and_results(blocks_of(m.get("content")), ref)
    t = Turn(m.get("role") or "assistant", text, ref, message_id=m.get("id"), tool_calls=calls,
             tool_results=results, refs=[ref])
    if m.get("stop_reason") in ("refusal", "model_context_window_exceeded"):
        t.error = f"stop_reason {m['stop_reason']}"
    s.turns.append(t)


def _conversation(s: Session, path: str, messages: list, ptr: str) -> None:
    for j, m in enumerate(messages):
        ref = Ref(path, pointer=f"{ptr}/{j}")
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            s.problems.append(Problem(ref, "malformed", "not a message with a role"))
            continue
        text, calls, results = calls_and_results(blocks_of(m.get("content")), ref)
        t = Turn(m["role"], text, ref, tool_calls=calls, tool_results=results, refs=[ref])
        if m["role"] == "user" and not results:
            t.correction = correction_of_text(text, False)
        s.turns.append(t)


def looks_like(data: Any) -> bool:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return "request" in data[0] or data[0].get("role") in ("user", "assistant")
    return isinstance(data, dict) and (isinstance(data.get("messages"), list) or data.get("type") == "message")
