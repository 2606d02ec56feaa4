"""What the local engine keeps of a transcript: errors, corrections and timings as `Occurrence`s,
and the lesson notes' sections they are written into."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Optional


from .text import (EVIDENCE_SHOWN, ITEMS_SHOWN, TIMING_MIN_DELAY, call_summary, clean_item, day, first_lines,
                   signature)


READ_ONLY_TOOLS = {"Read", "Glob", "Grep", "LS", "TodoWrite", "WebSearch", "WebFetch", "view"}


class Occurrence:
    __slots__ = ("kind", "key", "title", "session", "agent", "ref", "ts", "text", "worked", "tool", "subkind")

    def __init__(self, kind, key, title, session, agent, ref, ts, text, worked, tool, subkind):
        self.kind, self.key, self.title, self.session, self.agent = kind, key, title, session, agent
        self.ref, self.ts, self.text, self.worked, self.tool, self.subkind = ref, ts, text, worked, tool, subkind

    def sort_key(self):
        return (self.ts or 0.0, self.session, self.ref)

    def evidence(self) -> str:
        return f"{self.session} @ {self.ref}"


def digest_session(s) -> tuple[list[Occurrence], list[tuple]]:
    """What the engine keeps of a session: its errors and corrections (with what worked
    afterwards), and the commands it ran without error (for verification notes)."""
    occ = []
    calls = [(i, c) for i, t in enumerate(s.turns) for c in t.tool_calls]
    for f in s.findings():
        after = [c for i, c in calls if i > f.turn_index and c.result is not None and not c.result.is_error]
        if f.kind == "error":
            sig = signature(f.text)
            if not sig:
                continue
            worked = [call_summary(c) for c in after if c.name == f.tool][:1]
            occ.append(Occurrence("error", f"{f.tool or '-'}: {sig}", f"{f.tool or 'Session'}: {sig}", s.session_id,
                                  s.agent, str(f.ref), f.timestamp, f.text, worked, f.tool, None))
        else:
            key, title = correction_key(f)
            worked = []
            for c in after:
                if c.name in READ_ONLY_TOOLS:
                    continue
                summ = call_summary(c)
                if summ not in worked:
                    worked.append(summ)
                if len(worked) >= 3:
                    break
            occ.append(Occurrence("correction", key, title, s.session_id, s.agent, str(f.ref), f.timestamp, f.text,
                                  worked, f.tool, f.subkind))
    ran = []
    for t in s.turns:
        for c in t.tool_calls:
            cmd = c.input.get("command") if isinstance(c.input, dict) else None
            if isinstance(cmd, str) and cmd.strip() and c.result is not None and not c.result.is_error:
                ran.append((" ".join(cmd.strip().splitlines()[0].split()), t.timestamp, s.session_id, str(c.ref)))
    return occ, ran


def timing_occurrences(s) -> list[Occurrence]:
    """Errors that came some time after a command that had run fine: for each error, the delay
    since the most recent successful command of the same session (timing regularities, such as
    "the alert fires about 60 s after the deploy", are the delays that repeat across sessions)."""
    calls = {c.id: c for t in s.turns for c in t.tool_calls}
    last_ok = None  # (time, command signature, summary)
    out, seen = [], set()
    for t in s.turns:
        if t.timestamp is None:
            continue
        for r in t.tool_results:
            call = calls.get(r.tool_use_id)
            if call is None:
                continue
            if not r.is_error:
                cmd = call.input.get("command") if isinstance(call.input, dict) else None
                if isinstance(cmd, str) and cmd.strip():
                    last_ok = (t.timestamp, signature(cmd), call_summary(call))
                continue
            sig = signature(r.content)
            if not sig or last_ok is None or t.timestamp - last_ok[0] < TIMING_MIN_DELAY:
                continue
            key = f"{last_ok[1]} -> {call.name}: {sig}"
            if key in seen:  # once per session: a regularity is about sessions agreeing
                continue
            seen.add(key)
            title = f"{call.name}: {sig} — about {{delay}} s after {last_ok[2]}"
            out.append(Occurrence("timing", key, title, s.session_id, s.agent, str(r.ref), t.timestamp,
                                  f"{t.timestamp - last_ok[0]:.0f}", [], call.name, None))
    return out


def correction_key(f) -> tuple[str, str]:
    if f.subkind == "hook":
        m = re.search(r"\[([^\]\n]+)\]", f.text or "")
        name = os.path.basename(m.group(1).strip()) if m else "hook"
        kind = re.match(r"\s*(\w+) hook", f.text or "", re.I)
        label = f"{kind.group(1).capitalize()} hook" if kind else "Hook"
        return f"hook:{name}", f"{label} `{name}` stopped the agent"
    if f.subkind == "user_rejection":
        return f"rejection:{f.tool}", f"The user rejected {f.tool or 'a tool'} calls"
    if f.subkind == "permission_denied":
        return f"denied:{f.tool}", f"Permission to use {f.tool or 'a tool'} was denied"
    if f.subkind == "interrupt":
        return "interrupt", "The user interrupted the agent"
    return f"correction:{f.subkind}", f"Correction ({f.subkind})"


def correction_items(text: str) -> dict[str, list[str]]:
    said, asked, files = [], [], []
    for ln in (text or "").splitlines():
        s = ln.strip()
        if not s:
            continue
        if re.match(r"^(cannot|can't|must|do not|don't|please|you must|not allowed|refus|blocked)\b", s, re.I):
            said.append(clean_item(s[:140]).rstrip("."))
        m = re.match(r"^\d+[.)]\s+(.*)$", s)
        if m:
            asked.append(clean_item(m.group(1)[:140]))
        if re.match(r"^\s{2,}\S+$", ln) and ("." in s or "/" in s) and " " not in s:
            if "__pycache__" in s:
                files.append("`__pycache__/`")
            elif s.endswith(".pyc"):
                files.append("`*.pyc`")
            else:
                files.append(f"`{clean_item(s)}`")
    if not said:
        fl = [x for x in first_lines(text) if not x.lower().startswith(("stop hook feedback", "#", "["))]
        if fl:
            said.append(clean_item(fl[0][:140]))
    return {"It said": said, "Files it named": files, "It asked": asked}


# ---------------------------------------------------------------------------- lesson notes


class Section:
    """One lesson in a lessons note; parsed from and rendered to markdown."""

    SEEN = re.compile(r"^- Seen (\d+) times? in (\d+) sessions?(?: \(agents: ([^)]*)\))?(?: from (\S+) to (\S+))?\.$")

    def __init__(self, sig, title):
        self.sig, self.title = sig, title
        self.n = self.m = 0
        self.agents: set = set()
        self.first = self.last = None
        self.fields: dict[str, list[str]] = {}
        self.evidence: set = set()
        self.raw: Optional[str] = None

    @classmethod
    def parse(cls, sig, block: str) -> "Section":
        lines = block.splitlines()
        sec = cls(sig, lines[0][4:].strip() if lines and lines[0].startswith("### ") else sig)
        sec.raw = block
        for ln in lines[1:]:
            m = cls.SEEN.match(ln.strip())
            if m:
                sec.n, sec.m = int(m.group(1)), int(m.group(2))
                sec.agents = {a.strip() for a in (m.group(3) or "").split(",") if a.strip() and a.strip() != "-"}
                sec.first, sec.last = m.group(4), m.group(5)
                continue
            m = re.match(r"^- ([A-Z][\w ]*?): (.*)$", ln.strip())
            if m:
                items = [x.strip() for x in m.group(2).split("; ") if x.strip()]
                if m.group(1) == "Evidence":
                    sec.evidence |= set(items)
                else:
                    sec.fields[m.group(1)] = items
        return sec

    def update(self, occ: list[Occurrence], field_items: dict[str, list[str]]):
        ev = self.evidence | {o.evidence() for o in occ}
        sessions = {e.split(" @ ")[0] for e in ev}
        self.n = max(self.n, len(ev))
        self.m = max(self.m, len(sessions))
        self.agents |= {o.agent for o in occ if o.agent}
        days = [d for d in [day(o.ts) for o in occ] + [self.first, self.last] if d]
        if days:
            self.first, self.last = min(days), max(days)
        self.evidence = set(sorted(ev)[:EVIDENCE_SHOWN])
        for label, items in field_items.items():
            merged = sorted(set(self.fields.get(label, [])) | {i for i in items if i})
            if merged:
                self.fields[label] = merged[:ITEMS_SHOWN]

    def render(self) -> str:
        agents = ", ".join(sorted(self.agents)[:10]) or "-"
        when = f" from {self.first} to {self.last}" if self.first else ""
        out = [f"### {self.title}", f"<!-- memfs-dream:lesson sig={self.sig} -->",
               f"- Seen {self.n} {'time' if self.n == 1 else 'times'} in {self.m} "
               f"{'session' if self.m == 1 else 'sessions'} (agents: {agents}){when}."]
        for label in ("Example", "It said", "Files it named", "It asked", "Delays seen", "What worked afterwards"):
            if self.fields.get(label):
                out.append(f"- {label}: {'; '.join(self.fields[label])}")
        out.append(f"- Evidence: {'; '.join(sorted(self.evidence))}")
        return "\n".join(out)


_SIG = re.compile(r"^<!-- memfs-dream:lesson sig=(\w+) -->$", re.M)


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(preamble, [(sig, block)]) of a lessons note; blocks start at their `### ` header."""
    lines = text.splitlines()
    starts = []
    for i, ln in enumerate(lines):
        m = _SIG.match(ln)
        if m and i > 0 and lines[i - 1].startswith("### "):
            starts.append((i - 1, m.group(1)))
    if not starts:
        return text.rstrip("\n"), []
    pre = "\n".join(lines[:starts[0][0]]).rstrip("\n")
    out = []
    for k, (i, sig) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        out.append((sig, "\n".join(lines[i:end]).rstrip("\n")))
    return pre, out


def sig_id(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


# ---------------------------------------------------------------------------- the engine
