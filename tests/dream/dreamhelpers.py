"""Helpers for the dream tests: synthetic Claude Code sessions."""

import json
from datetime import datetime, timedelta, timezone


def cc_session(path, session_id, steps, start="2026-11-20T10:00:00+00:00", cwd="/work"):
    """Write a Claude Code session JSONL. Steps: ("user", text), ("hook", text) (isMeta feedback),
    ("tool", name, input, result, is_error), ("wait", seconds) (the clock moves on). Records are a
    second apart otherwise. Returns {step index: line number of its result}."""
    t0 = datetime.fromisoformat(start)
    lines, parent, n, lines_of = [], None, 0, {}
    waited = 0.0

    def rec(typ, message, **extra):
        nonlocal parent, n
        n += 1
        uid = f"{session_id}-u{n}"
        r = {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": cwd, "sessionId": session_id,
             "version": "2.1.14", "type": typ, "message": message, "uuid": uid,
             "timestamp": (t0 + timedelta(seconds=n + waited)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}
        r.update(extra)
        parent = uid
        lines.append(json.dumps(r))
        return len(lines)

    for i, st in enumerate(steps):
        if st[0] == "wait":
            waited += st[1]
        elif st[0] == "user":
            lines_of[i] = rec("user", {"role": "user", "content": st[1]})
        elif st[0] == "hook":
            lines_of[i] = rec("user", {"role": "user", "content": st[1]}, isMeta=True)
        else:
            _, name, inp, result, is_error = st
            tid = f"toolu_{session_id}_{i}"
            rec("assistant", {"id": f"msg_{session_id}_{i}", "type": "message", "role": "assistant",
                              "model": "claude-sonnet-4-5", "content": [{"type": "tool_use", "id": tid, "name": name,
                                                                          "input": inp}]})
            lines_of[i] = rec("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid,
                                                                    "content": result, "is_error": is_error}]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return lines_of
