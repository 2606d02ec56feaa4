"""The mount's own record of a session, read through the store API: every revision the session
committed (a successful write) and every write it had refused (a conflict, an error). It is the
one transcript there is when an agent's harness keeps none. References: `memfs#/revisions/N`,
`memfs#/conflicts/N`."""

from __future__ import annotations

from typing import Optional

from .model import Ref, Session, ToolCall, ToolResult, Turn

FORMAT = "memfs"


def read(m, session_id: str, stores: Optional[list] = None, until_rev: Optional[int] = None) -> Session:
    s = Session(session_id=session_id, format=FORMAT, source="memfs", sources=["memfs"])
    events = []
    for r in m.log(session=session_id, newest_first=False):
        if until_rev is not None and r.id > until_rev:
            continue
        if stores and r.store_name not in stores:
            continue
        if r.kind != "file" and r.op not in ("mkdir", "rmdir"):
            continue
        events.append((r.created_at, 0, r.id, r))
        s.agent = s.agent or r.agent
    targets = [m.get_store(x) for x in stores] if stores else m.list_stores()
    for st in targets:
        for c in m.conflicts(st, session=session_id):
            events.append((c.created_at, 1, c.id, (st.name, c)))
            s.agent = s.agent or c.agent
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for ts, kind, _id, obj in events:
        if kind == 0:
            r = obj
            ref = Ref("memfs", pointer=f"/revisions/{r.id}")
            path = r.path if not r.old_path else f"{r.old_path} -> {r.path}"
            call = ToolCall(f"rev-{r.id}", f"memfs.{r.op}", {"store": r.store_name, "path": r.path,
                                                             "old_path": r.old_path, "sha256": r.sha256}, ref)
            res = ToolResult(call.id, f"{r.op} {r.store_name}:{path} revision {r.id}", False, ref, call.name)
            call.result = res
            s.turns.append(Turn("assistant", "", ref, ts, refs=[ref], tool_calls=[call]))
            s.turns.append(Turn("user", "", ref, ts, refs=[ref], tool_results=[res]))
        else:
            store_name, c = obj
            ref = Ref("memfs", pointer=f"/conflicts/{c.id}")
            call = ToolCall(f"conflict-{c.id}", "memfs.write", {"store": store_name, "path": c.path,
                                                                "base_sha256": c.base_sha256}, ref)
            res = ToolResult(call.id, f"write of {store_name}:{c.path} refused: {c.reason}", True, ref, call.name)
            call.result = res
            s.turns.append(Turn("assistant", "", ref, ts, refs=[ref], tool_calls=[call]))
            s.turns.append(Turn("user", "", ref, ts, refs=[ref], tool_results=[res]))
        s.stores = sorted(set(s.stores) | {obj.store_name if kind == 0 else obj[0]})
        if s.started_at is None or ts < s.started_at:
            s.started_at = ts
        if s.ended_at is None or ts > s.ended_at:
            s.ended_at = ts
    s.lines = len(events)
    return s
