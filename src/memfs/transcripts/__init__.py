"""Agent transcripts in, one internal model out (see model.py).

`load(path)` reads a file of any supported format (detected from its content); `register(m,
paths)` finds transcript files under files and folders (a Claude Code projects folder included),
reads each and records it in the store's transcript registry; `sessions_for(m, ids)` loads every
registered file of those sessions plus the mount's own record of them. Reading is lenient: lines
that do not parse are counted on the session (`Session.problems`), never raised."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from .. import errors
from . import claude_code, managed_agents, messages_api, mount, stream_json
from .common import scrub
from .model import Finding, Problem, Ref, Session, ToolCall, ToolResult, Turn

FORMATS = (claude_code.FORMAT, stream_json.FORMAT, messages_api.FORMAT, managed_agents.FORMAT)
__all__ = ["Session", "Turn", "ToolCall", "ToolResult", "Finding", "Problem", "Ref", "load", "detect",
           "register", "sessions_for", "discover", "FORMATS"]

_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


def detect(path: str) -> tuple[Optional[str], object]:
    """(format, parsed data for whole-JSON files) or (None, reason)."""
    low = path.lower()
    try:
        if low.endswith((".jsonl", ".ndjson")):
            firsts = []
            with open(path, "rb") as f:
                for raw in f:
                    try:
                        d = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(d, dict):
                        scrub(d)
                        firsts.append(d)
                    if len(firsts) >= 20:
                        break
            for d in firsts:
                if stream_json.looks_like(d):
                    return stream_json.FORMAT, None
                if managed_agents.looks_like(d):
                    return managed_agents.FORMAT, None
                if claude_code.looks_like(d):
                    return claude_code.FORMAT, None
            if any(d.get("type") in ("user", "assistant") for d in firsts):
                return claude_code.FORMAT, None
            return None, "no transcript records found"
        if low.endswith(".json"):
            with open(path, "rb") as f:
                try:
                    data = json.loads(f.read().decode("utf-8", "replace"))
                except ValueError:
                    return None, "not JSON"
            if managed_agents.looks_like(data):
                return managed_agents.FORMAT, data
            if messages_api.looks_like(data):
                return messages_api.FORMAT, data
            return None, "not a Messages API conversation or an event list"
    except OSError as e:
        raise errors.NotFound(f"cannot read {path}: {e.strerror}")
    return None, "not a .jsonl or .json file"


def load(path: str, fmt: Optional[str] = None) -> Session:
    """Read one transcript file into a Session. Unknown formats raise InvalidInput."""
    data = None
    if fmt is None:
        fmt, data = detect(path)
        if fmt is None:
            raise errors.InvalidInput(f"{path}: not a transcript ({data})")
    if fmt == claude_code.FORMAT:
        return claude_code.read(path)
    if fmt == stream_json.FORMAT:
        return stream_json.read(path)
    if fmt == messages_api.FORMAT:
        return messages_api.read(path, data)
    if fmt == managed_agents.FORMAT:
        return managed_agents.read(path, data)
    raise errors.InvalidInput(f"unknown transcript format {fmt!r} (known: {', '.join(FORMATS)})")


def discover(paths: Iterable[str]) -> list[str]:
    """Files named directly, and every .jsonl/.json below folders, in path order."""
    out = []
    for p in paths:
        p = os.path.abspath(os.path.expanduser(p))
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith((".jsonl", ".json", ".ndjson"))]
        elif os.path.exists(p):
            out.append(p)
        else:
            raise errors.NotFound(f"no such file or directory: {p}")
    return out


def is_subagent_file(path: str) -> bool:
    base = os.path.basename(path)
    return base.startswith("agent-") or os.path.basename(os.path.dirname(path)) == "subagents"


@dataclass
class Registered:
    path: str
    format: Optional[str]
    session: Optional[Session]
    skipped: Optional[str] = None
    session_id: Optional[str] = None
    refused: bool = False  # registered already as another agent's or session's (skipped says so)


def register(m, paths: Iterable[str], *, session: Optional[str] = None, agent: Optional[str] = None,
             stores: Optional[list] = None, reassign: bool = False) -> list[Registered]:
    """Find, read and record transcripts. Files that are not transcripts are reported as skipped,
    and so are files registered already as another agent's or session's, unless `reassign`."""
    stores = [m.get_store(s).name for s in (stores or [])]
    out = []
    for path in discover(paths):
        fmt, data = detect(path)
        if fmt is None:
            out.append(Registered(path, None, None, skipped=str(data)))
            continue
        s = load(path, fmt) if data is None else (messages_api.read(path, data) if fmt == messages_api.FORMAT
                                                  else managed_agents.read(path, data))
        sid = session or s.session_id
        st = os.stat(path)
        try:
            m.add_transcript(path, fmt, sid, agent=agent, stores=stores, size=st.st_size, mtime=st.st_mtime,
                             started_at=s.started_at, ended_at=s.ended_at, reassign=reassign,
                             stats={**s.stats(), "subagent": is_subagent_file(path),
                                    "unparseable_lines": [p.ref.line for p in s.unparseable][:100]})
        except errors.AlreadyExists as e:
            out.append(Registered(path, fmt, None, skipped=e.message.removeprefix(f"{path} is "), refused=True))
            continue
        out.append(Registered(path, fmt, s, session_id=sid))
    return out


def sessions_for(m, session_ids: Iterable[str], **kw) -> list[Session]:
    """One Session per registered transcript file of these sessions (sub-agent files folded into
    their session's main file), plus the mount's record of each session that wrote through memfs."""
    return list(iter_sessions(m, session_ids, **kw))


def iter_sessions(m, session_ids: Iterable[str], *, store=None, until_rev: Optional[int] = None,
                  mount_record: bool = True) -> Iterator[Session]:
    """`sessions_for`, one session at a time (a dream over many transcripts keeps one in memory)."""
    ids = sorted(set(session_ids))
    regs = m.transcripts(session_ids=ids) if ids else []
    by_sid: dict[str, list] = {}
    for t in regs:
        by_sid.setdefault(t.session_id, []).append(t)
    store_names = [m.get_store(store).name] if store is not None else None
    for sid in ids:
        main: Optional[Session] = None
        for t in sorted(by_sid.get(sid, []), key=lambda t: (is_subagent_file(t.path), t.path)):
            try:
                s = load(t.path, t.format)
            except (OSError, errors.MemfsError) as e:  # a registered file went away: note it, go on
                s = Session(sid, t.format, t.path, problems=[Problem(Ref(t.path), "unparseable", f"cannot read: {e}")])
            s.session_id = sid
            s.agent = t.agent or s.agent
            if is_subagent_file(t.path) and main is not None and main.format == s.format:
                for turn in s.turns:
                    turn.sidechain = True
                main.merge(s)
            else:
                if main is not None:
                    yield main
                main = s
        if main is not None:
            yield main
        if mount_record:
            rec = mount.read(m, sid, store_names, until_rev)
            if rec.turns:
                yield rec
