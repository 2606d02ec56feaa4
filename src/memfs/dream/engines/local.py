"""The `local` engine: deterministic, offline consolidation.

Steps, each over the store as the previous one left it:

1. near-duplicate notes (word 3-shingle Jaccard >= 0.6): merged into the oldest, the others
   deleted, with the provenance of all;
2. near-duplicate paragraphs and list items across and within notes: the oldest kept, later
   copies removed, the kept one noting who else wrote it;
3. stale entries: references to store paths that were renamed (rewritten) or deleted (marked),
   `key: value` facts superseded by a later revision (marked with the date), lines or notes with
   an explicit expiry date in the past (removed, with the reason);
4. lessons from transcripts: tool errors with the same normalised signature in several sessions
   (`/lessons/recurring-errors.md`) and corrections made more than once by hooks or users
   (`/lessons/corrections.md`), each with what worked afterwards and its evidence;
5. verification notes: a command a note gives that sessions ran without error;
6. a short report of cross-agent findings.

The same input gives byte-identical output (no wall clock in the text, no hash-order
iteration), and the output is a fixed point: dreaming again over it proposes nothing."""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections import defaultdict
from datetime import datetime, timezone
from itertools import combinations
from typing import Optional

from ..proposal import Annotation, Evidence, Proposal, build_changes
from . import facts

NAME = "local"
ERRORS_NOTE = "/lessons/recurring-errors.md"
CORRECTIONS_NOTE = "/lessons/corrections.md"
TIMING_NOTE = "/lessons/timing.md"
MANAGED = (ERRORS_NOTE, CORRECTIONS_NOTE, TIMING_NOTE)
TIMING_MIN_SESSIONS = 3   # a delay seen in this many sessions, and
TIMING_SPREAD = 1.5       # the longest at most this many times the shortest, is a regularity
TIMING_MIN_DELAY = 5.0    # shorter gaps are just the next step, not a delay worth a note
EVIDENCE_SHOWN = 12
ITEMS_SHOWN = 8

NOTE_JACCARD = 0.6
UNIT_JACCARD = 0.75
DF_CAP = 40

_MARKERS = re.compile(r"\s*_\((?:also noted|stale:|superseded)[^)]*\)_|<!--.*?-->")
_WORD = re.compile(r"[a-z0-9][a-z0-9_.\-/]*")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s")
_FENCE = re.compile(r"^\s*(```|~~~)")


def plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1] + 'ies' if word.endswith('y') else word + 's'}"


def day(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def words(text: str) -> list[str]:
    return _WORD.findall(_MARKERS.sub("", text).lower())


def shingles(ws: list[str], k: int) -> set[int]:
    if len(ws) < k:
        return {zlib.crc32(" ".join(ws).encode())} if ws else set()
    return {zlib.crc32(" ".join(ws[i:i + k]).encode()) for i in range(len(ws) - k + 1)}


def jaccard(a: set, b: set) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def similar_pairs(sets: list[set], threshold: float, df_cap: int = DF_CAP) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of sets with Jaccard >= threshold, found through shared rare members."""
    index: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            index[h].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for ids in index.values():
        if 1 < len(ids) <= df_cap:
            for a, b in combinations(ids, 2):
                shared[(a, b)] += 1
    out = []
    for (a, b), n in shared.items():
        la, lb = len(sets[a]), len(sets[b])
        j = n / (la + lb - n)
        if j >= threshold:
            out.append((a, b, round(j, 3)))
    out.sort()
    return out


class UnionFind:
    def __init__(self):
        self.p = {}

    def find(self, x):
        self.p.setdefault(x, x)
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[max(ra, rb)] = min(ra, rb)

    def groups(self):
        g = defaultdict(list)
        for x in sorted(self.p):
            g[self.find(x)].append(x)
        return [sorted(v) for k, v in sorted(g.items()) if len(v) > 1]


# ---------------------------------------------------------------------------- paragraphs


def units(lines: list[str]) -> list[tuple[int, int]]:
    """Paragraphs and list items as (first line, last line + 1); headers and code are not units."""
    out, i, n = [], 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or _HEADER.match(line):
            i += 1
            continue
        if _FENCE.match(line):
            j = i + 1
            while j < n and not _FENCE.match(lines[j]):
                j += 1
            i = j + 1
            continue
        if _LIST.match(line):
            j = i + 1
            while j < n and lines[j].strip() and not _LIST.match(lines[j]) and not _HEADER.match(lines[j]) \
                    and lines[j][:1] in (" ", "\t"):
                j += 1
            out.append((i, j))
            i = j
            continue
        j = i + 1
        while j < n and lines[j].strip() and not _LIST.match(lines[j]) and not _HEADER.match(lines[j]) \
                and not _FENCE.match(lines[j]):
            j += 1
        out.append((i, j))
        i = j
    return out


def only_headers(text: str) -> bool:
    return all(not ln.strip() or _HEADER.match(ln) or _MARKERS.fullmatch(ln.strip() or "x") for ln in text.splitlines())


def join_lines(lines: list[str], had_newline: bool) -> str:
    # collapse runs of blank lines a removal left behind, and blank lines at the end
    out = []
    for ln in lines:
        if not ln.strip() and out and not out[-1].strip():
            continue
        out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out) + ("\n" if out and had_newline else "")


# ---------------------------------------------------------------------------- error signatures

_TAG = re.compile(r"</?[a-zA-Z_][\w-]*>")
_QUOTED = re.compile(r"'[^'\n]{1,200}'|\"[^\"\n]{1,200}\"|`[^`\n]{1,200}`")
_PATH = re.compile(r"(?:~|\.{1,2})?/[\w.@%+~-]+(?:/[\w.@%+~-]+)*/?|\b[\w.-]+\.(?:py|js|ts|md|json|ya?ml|toml|txt|log|sh|go|rs)\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,}\b", re.I)
_NUM = re.compile(r"\b\d+(?:\.\d+)?\b")


def first_lines(text: str) -> list[str]:
    t = _TAG.sub(" ", text or "")
    return [ln.strip() for ln in t.splitlines() if ln.strip()]


def signature(text: str) -> str:
    """An error message with its particulars (paths, numbers, ids, quoted values) abstracted."""
    lines = first_lines(text)
    if not lines:
        return ""
    first = re.sub(r"^(?:error:\s*)+", "", lines[0], flags=re.I)
    if re.fullmatch(r"exit code \d+", first, re.I) and len(lines) > 1:
        first = f"{first}: {lines[1]}"
    s = first.lower()
    s = _UUID.sub("<id>", s)
    s = _QUOTED.sub("<str>", s)
    s = _PATH.sub("<path>", s)
    s = _HEX.sub("<id>", s)
    s = _NUM.sub("<n>", s)
    return re.sub(r"\s+", " ", s).strip()[:160]


def example_line(text: str) -> str:
    lines = first_lines(text)
    if not lines:
        return ""
    first = lines[0]
    if re.fullmatch(r"exit code \d+", first, re.I) and len(lines) > 1:
        first = f"{first}: {lines[1]}"
    return clean_item(first[:160])


def clean_item(s: str) -> str:
    return re.sub(r"\s+", " ", s.replace(";", ",").replace("`", "'")).strip()


def call_summary(call) -> str:
    inp = call.input or {}
    if isinstance(inp.get("command"), str):
        cmd = inp["command"].strip().splitlines()[0] if inp["command"].strip() else ""
        cmd = re.split(r"\$\(|<<|\|\|", cmd)[0].strip().rstrip("&|;").strip()
        return f"{call.name} `{clean_item(cmd[:80])}`"
    for k in ("file_path", "path", "notebook_path"):
        if isinstance(inp.get(k), str):
            return f"{call.name} {clean_item(os.path.basename(inp[k].rstrip('/')) or inp[k])}"
    for k in ("pattern", "url", "query"):
        if isinstance(inp.get(k), str):
            return f"{call.name} {clean_item(inp[k][:60])}"
    return call.name


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


class LocalEngine:
    name = NAME

    def __init__(self, min_error_sessions: int = 2, min_corrections: int = 2, unread_days: Optional[float] = 30,
                 kept_by_sessions: int = 3):
        self.min_error_sessions = min_error_sessions
        self.min_corrections = min_corrections
        self.unread_days, self.kept_by_sessions = unread_days, kept_by_sessions  # see facts.unread_review

    def run(self, ctx) -> Proposal:
        self.ctx = ctx
        self.m, self.store = ctx.m, ctx.store
        self.base = dict(ctx.files)
        self.work: dict[str, Optional[str]] = dict(ctx.files)
        self.notes: dict[str, list[Annotation]] = defaultdict(list)
        self.findings: dict[str, list] = defaultdict(list)
        self.moved: dict[str, str] = {}  # paths this proposal removes in favour of another
        self._blame: dict[str, list] = {}
        self._revs: dict[int, object] = {}
        self.today = day(ctx.now)
        self.reads = ctx.m.file_reads(ctx.store) if hasattr(ctx.m, "file_reads") else {}
        steps = [("merging duplicate notes", self.merge_duplicate_notes),
                 ("removing duplicate paragraphs", self.dedupe_paragraphs),
                 ("merging paraphrased facts", lambda: facts.merge_paraphrases(self, units, join_lines, only_headers)),
                 ("listing unread notes", lambda: facts.unread_review(self, self.unread_days, self.kept_by_sessions)),
                 ("checking references", self.stale_references),
                 ("checking facts", self.superseded_facts),
                 ("checking expiry dates", self.expired),
                 ("mining transcripts", self.mine_sessions),
                 ("writing lessons", self.write_lessons),
                 ("verifying notes", self.verify)]
        for i, (what, fn) in enumerate(steps):
            ctx.check_cancel()
            ctx.step(what, i, len(steps))
            fn()
        ctx.step("done", len(steps), len(steps))
        changes = build_changes(self.base, ctx.shas, self.work, self.notes)
        p = Proposal(NAME, changes, findings={k: v for k, v in sorted(self.findings.items())})
        p.stats = {"files": len(self.base), "sessions": len(self.session_ids), "changes": len(changes),
                   "errors_seen": self.n_errors, "corrections_seen": self.n_corrections}
        p.report = self.report(p)
        return p

    # -------------------------------------------------------------- helpers

    def editable(self) -> list[str]:
        return sorted(p for p, t in self.work.items() if t is not None and p not in MANAGED)

    def read_sessions(self, path) -> int:
        r = self.reads.get(path)
        return r.sessions if r is not None else 0

    def created(self, path) -> int:
        e = self.ctx.entries.get(path)
        return e.node_id if e else 1 << 62

    def revision(self, rev_id):
        if rev_id not in self._revs:
            try:
                self._revs[rev_id] = self.m.revision(rev_id)
            except Exception:
                self._revs[rev_id] = None
        return self._revs[rev_id]

    def line_revisions(self, path) -> list:
        """The revision that introduced each line of the file at the base (blame), or its head."""
        if path not in self._blame:
            text = self.base.get(path) or ""
            lines = text.splitlines()
            revs = None
            try:
                b = self.m.blame(self.store, path)
                if [ln for _, ln in b] == lines:
                    revs = [r for r, _ in b]
            except Exception:
                revs = None
            if revs is None:
                e = self.ctx.entries.get(path)
                head = self.revision(e.rev) if e else None
                revs = [head] * len(lines)
            self._blame[path] = revs
        return self._blame[path]

    def writer(self, path, line_no=None) -> Evidence:
        revs = self.line_revisions(path)
        r = None
        if line_no is not None and 0 <= line_no < len(revs):
            r = revs[line_no]
        elif revs:
            r = max((x for x in revs if x is not None), key=lambda x: x.id, default=None)
        if r is None:
            e = self.ctx.entries.get(path)
            r = self.revision(e.rev) if e else None
        if r is None:
            return Evidence(note=path)
        return Evidence(session=r.session, agent=r.agent, revision=r.id, note=path)

    def note(self, path, reason, kind, evidence, lines):
        self.notes[path].append(Annotation(reason, kind, list(evidence), [ln for ln in lines if ln is not None]))

    # -------------------------------------------------------------- 1. duplicate notes

    def merge_duplicate_notes(self):
        paths = [p for p in self.editable() if len(words(self.work[p])) >= 8]
        sets = [shingles(words(self.work[p]), 3) for p in paths]
        uf = UnionFind()
        sims = {}
        for a, b, j in similar_pairs(sets, NOTE_JACCARD):
            uf.union(a, b)
            sims[(a, b)] = j
        for group in uf.groups():
            members = sorted((paths[i] for i in group), key=lambda p: (-self.read_sessions(p), self.created(p), p))
            keep, others = members[0], members[1:]
            text = self.work[keep]
            lines = text.splitlines()
            have = [shingles(words("\n".join(lines[s:e])), 2) for s, e in units(lines)]
            added = []
            for o in others:
                olines = self.work[o].splitlines()
                for s, e in units(olines):
                    block = olines[s:e]
                    sh = shingles(words("\n".join(block)), 2)
                    if not sh or any(jaccard(sh, h) >= UNIT_JACCARD for h in have):
                        continue
                    have.append(sh)
                    added.extend(block)
            prov = [self.writer(p) for p in members]
            who = ", ".join(f"{p} ({self._who(ev)})" for p, ev in zip(members, prov))
            new_lines = list(lines)
            if added:
                new_lines += [""] + added
            stamp = f"_Merged by memfs dream from {who}._"
            new_lines += ["", stamp]
            self.work[keep] = join_lines(new_lines, True)
            sim_txt = max([v for (x, y), v in sims.items() if x in group and y in group] or [0.0])
            self.note(keep, f"near-duplicate notes {', '.join(members)} (similarity {sim_txt:.2f}) merged into {keep}",
                      "merge_duplicates", prov, added + [stamp])
            for o in others:
                self.work[o] = None
                self.moved[o] = keep
                self.note(o, f"merged into {keep}: a near-duplicate note (provenance kept there)", "merge_duplicates",
                          [self.writer(o)], self.base[o].splitlines()[:3])
            self.findings["duplicates"].append({"kept": keep, "merged": others, "similarity": sim_txt,
                                                "agents": sorted({e.agent for e in prov if e.agent})})

    @staticmethod
    def _who(ev: Evidence) -> str:
        parts = []
        if ev.agent:
            parts.append(ev.agent)
        if ev.session:
            parts.append(f"session {ev.session}")
        if ev.revision is not None:
            parts.append(f"revision {ev.revision}")
        return ", ".join(parts) or "unknown writer"

    # -------------------------------------------------------------- 2. duplicate paragraphs

    def dedupe_paragraphs(self):
        items = []  # (created, path, start, end, words)
        for p in sorted(self.editable(), key=lambda p: (self.created(p), p)):
            lines = self.work[p].splitlines()
            for s, e in units(lines):
                if lines[s].startswith(("_Merged by memfs dream", "_Verified by memfs dream")):
                    continue
                ws = words("\n".join(lines[s:e]))
                if len(ws) >= 4:
                    items.append((p, s, e, ws))
        sets = [shingles(ws, 2) for _, _, _, ws in items]
        exact: dict[str, list[int]] = defaultdict(list)
        for i, (_, _, _, ws) in enumerate(items):
            exact[" ".join(ws)].append(i)
        uf = UnionFind()
        for ids in exact.values():
            for i in ids[1:]:
                uf.union(ids[0], i)
        for a, b, j in similar_pairs(sets, UNIT_JACCARD):
            uf.union(a, b)
        removals: dict[str, list[tuple[int, int]]] = defaultdict(list)
        suffix: dict[tuple[str, int], list[str]] = defaultdict(list)
        for group in uf.groups():
            keep = group[0]  # items are in (oldest note, position) order
            kp, ks, ke, _ = items[keep]
            for i in group[1:]:
                p, s, e, _ = items[i]
                removals[p].append((s, e))
                ev = self.writer(p, s)
                who = f"{ev.agent} in session {ev.session}" if ev.agent and ev.session else (ev.agent or p)
                tag = f"_(also noted by {who})_"
                key = (kp, ke - 1)
                if tag not in suffix[key] and tag not in self.work[kp].splitlines()[ke - 1]:
                    suffix[key].append(tag)
                lines = self.work[p].splitlines()
                self.note(p, f"duplicate of a paragraph kept in {kp}" + ("" if p != kp else " (earlier in this note)"),
                          "duplicate_paragraph", [ev, self.writer(kp, ks)], lines[s:e])
                self.findings["duplicate_paragraphs"].append(
                    {"kept": f"{kp}:{ks + 1}", "removed": f"{p}:{s + 1}", "writers": sorted(
                        {x for x in (ev.agent, self.writer(kp, ks).agent) if x})})
        for (kp, ln), tags in sorted(suffix.items()):
            lines = self.work[kp].splitlines()
            old = lines[ln]
            lines[ln] = old + " " + " ".join(tags)
            self.work[kp] = join_lines(lines, True)
            self.note(kp, "kept this paragraph; later copies elsewhere were removed", "duplicate_paragraph",
                      [self.writer(kp, ln)], [lines[ln]])
        for p, spans in sorted(removals.items()):
            lines = self.work[p].splitlines()
            drop = set()
            for s, e in spans:
                drop.update(range(s, e))
            kept = [ln for i, ln in enumerate(lines) if i not in drop]
            new = join_lines(kept, True)
            if only_headers(new):
                self.work[p] = None
                self.note(p, "every paragraph of this note is a duplicate of one kept elsewhere", "duplicate_paragraph",
                          [self.writer(p)], lines[:1])
            else:
                self.work[p] = new

    # -------------------------------------------------------------- 3. stale entries

    _REF = re.compile(r"(?<![\w.~:/-])(/(?:[\w@%+.-]+/)*[\w@%+.-]+)")

    def history_moves(self):
        renamed, deleted = {}, {}
        for r in self.m.log(self.store, ops=("rename", "delete", "rmdir"), newest_first=False):
            if r.id > self.ctx.base_rev:
                break
            if r.op == "rename" and r.old_path:
                renamed[r.old_path] = r
            else:
                deleted[r.path] = r
        return renamed, deleted

    def resolve(self, path, renamed, deleted, depth=0):
        """('moved', new path, revision) / ('deleted', path, revision) / None (alive or unknown)."""
        if depth > 20:
            return None
        if path in self.moved:
            return ("moved", self.moved[path], None)
        if self.work.get(path) is not None or path in self.live_dirs:
            return None
        if path in renamed:
            r = renamed[path]
            nxt = self.resolve(r.path, renamed, deleted, depth + 1)
            if nxt is None:
                return ("moved", r.path, r)
            return nxt if nxt[0] == "moved" else ("deleted", path, nxt[2])
        # a file under a renamed directory
        parts = path.split("/")
        for k in range(len(parts) - 1, 1, -1):
            d = "/".join(parts[:k])
            if d in renamed:
                return self.resolve(renamed[d].path + path[len(d):], renamed, deleted, depth + 1) or \
                    ("moved", renamed[d].path + path[len(d):], renamed[d])
        if path in deleted:
            return ("deleted", path, deleted[path])
        return None

    def stale_references(self):
        renamed, deleted = self.history_moves()
        if not renamed and not deleted and not self.moved:
            return
        self.live_dirs = {p.rsplit("/", k)[0] or "/" for p in self.ctx.entries for k in range(1, p.count("/") + 1)}
        for p in self.editable():
            lines = self.work[p].splitlines()
            changed = False
            for i, ln in enumerate(lines):
                if "memfs dream" in ln and ln.startswith("_"):
                    continue
                new = ln
                for ref in sorted(set(self._REF.findall(ln))):
                    if ref == p:
                        continue
                    res = self.resolve(ref, renamed, deleted)
                    if res is None:
                        continue
                    kind, target, rev = res
                    ev = [Evidence(session=rev.session, agent=rev.agent, revision=rev.id)] if rev else []
                    if kind == "moved" and self.work.get(target) is not None:
                        new = re.sub(r"(?<![\w.~:/-])" + re.escape(ref) + r"(?![\w@%+.-]|/[\w])", target, new)
                        self.note(p, f"{ref} is now {target}" + (f" (renamed in revision {rev.id})" if rev else
                                                                  " (merged by this dream)"),
                                  "stale_reference", ev, [new])
                        self.findings["stale"].append({"path": p, "line": i + 1, "ref": ref, "now": target})
                    elif kind == "deleted" and f"_(stale: {ref}" not in new:
                        when = day(rev.created_at) if rev else "?"
                        new = f"{new} _(stale: {ref} was deleted on {when}, revision {rev.id if rev else '?'})_"
                        self.note(p, f"refers to {ref}, which was deleted on {when}" +
                                  (f" by {rev.agent}" if rev and rev.agent else ""), "stale_reference", ev, [new])
                        self.findings["stale"].append({"path": p, "line": i + 1, "ref": ref, "deleted": when})
                if new != ln:
                    lines[i] = new
                    changed = True
            if changed:
                self.work[p] = join_lines(lines, True)

    _FACT = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*)?([A-Za-z][\w ./-]{0,40}?)(?:\*\*)?\s*[:=]\s+(\S.{0,200})$")
    _NOT_KEYS = {"note", "notes", "example", "evidence", "seen", "see", "tip", "warning", "lesson", "it said",
                 "files it named", "it asked", "what worked afterwards", "expires", "expiry", "valid until", "todo",
                 "why", "how", "cause", "fix", "step", "steps", "http", "https", "q", "a", "update", "edit"}

    def superseded_facts(self):
        facts = defaultdict(list)  # scope -> [(path, line, key, value)]
        for p in self.editable():
            for i, ln in enumerate(self.work[p].splitlines()):
                if "_(superseded" in ln or "://" in ln.split(":", 1)[0]:
                    continue
                m = self._FACT.match(_MARKERS.sub("", ln))
                if not m:
                    continue
                key = " ".join(m.group(1).lower().split())
                if key in self._NOT_KEYS or len(key.split()) > 4 or _EXPIRY.search(ln):
                    continue
                value = m.group(2).strip().rstrip(".").strip()
                scope = ("*", key) if len(key.split()) >= 2 else (p, key)
                facts[scope].append((p, i, m.group(1).strip(), value))
        for scope, fs in sorted(facts.items()):
            if len({v.lower() for _, _, _, v in fs}) < 2:
                continue
            dated = []
            for p, i, k, v in fs:
                if self.base.get(p) != self.work.get(p):
                    # lines moved by earlier steps: date them by the whole note
                    ev = self.writer(p)
                else:
                    ev = self.writer(p, i)
                dated.append((ev.revision or 0, p, i, k, v, ev))
            dated.sort(key=lambda x: (x[0], x[1], x[2]))
            newest = dated[-1]
            nrev = self.revision(newest[0]) if newest[0] else None
            when = day(nrev.created_at) if nrev else "?"
            for rev, p, i, k, v, ev in dated[:-1]:
                if v.lower() == newest[4].lower():
                    continue
                lines = self.work[p].splitlines()
                where = "" if newest[1] == p else f" in {newest[1]}"
                mark = f" _(superseded on {when} by \"{clean_item(newest[4][:80])}\"{where}, revision {newest[0]})_"
                lines[i] = lines[i] + mark
                self.work[p] = join_lines(lines, True)
                self.note(p, f"\"{k}\" was set to \"{newest[4]}\" later (revision {newest[0]}" +
                          (f" by {newest[5].agent}" if newest[5].agent else "") + ")",
                          "superseded", [ev, newest[5]], [lines[i]])
                self.findings["superseded"].append({"key": k, "old": v, "new": newest[4], "path": p,
                                                    "newer_path": newest[1], "revision": newest[0]})
                if ev.agent and newest[5].agent and ev.agent != newest[5].agent:
                    self.findings["contradictions"].append(
                        {"key": k, "values": {ev.agent: v, newest[5].agent: newest[4]},
                         "paths": sorted({p, newest[1]}), "kept": newest[4]})

    def expired(self):
        for p in self.editable():
            lines = self.work[p].splitlines()
            head = [ln for ln in lines[:6]]
            whole = None
            for ln in head:
                m = _FILE_EXPIRY.match(ln)
                if m and m.group(1) < self.today:
                    whole = m.group(1)
            if whole:
                self.work[p] = None
                self.note(p, f"the note says it expires on {whole}; that date has passed", "expired",
                          [self.writer(p)], lines[:3])
                self.findings["expired"].append({"path": p, "expired": whole})
                continue
            keep, gone = [], []
            for i, ln in enumerate(lines):
                m = _EXPIRY.search(ln)
                if m and m.group(1) < self.today and not _HEADER.match(ln):
                    gone.append((i, ln, m.group(1)))
                else:
                    keep.append(ln)
            if gone:
                self.work[p] = join_lines(keep, True) if not only_headers("\n".join(keep)) else None
                for i, ln, d in gone:
                    self.note(p, f"expired on {d} (the entry says so)", "expired", [self.writer(p, i)], [ln])
                    self.findings["expired"].append({"path": p, "line": i + 1, "expired": d})

    # -------------------------------------------------------------- 4. lessons from transcripts

    def mine_sessions(self):
        self.occ: list[Occurrence] = []
        self.ran: list[tuple] = []
        self.session_ids, self.agents = set(), set()
        n = 0
        for s in self.ctx.sessions():
            n += 1
            if n % 50 == 0:
                self.ctx.check_cancel()
            self.session_ids.add(s.session_id)
            if s.agent:
                self.agents.add(s.agent)
            occ, ran = digest_session(s)
            occ += timing_occurrences(s)
            self.occ += occ
            self.ran += ran
            if len(s.problems):
                self.findings["unreadable_lines"].append({"source": s.source, "unparseable": len(s.unparseable),
                                                          "malformed": len(s.malformed)})
        self.n_errors = sum(1 for o in self.occ if o.kind == "error")
        self.n_corrections = sum(1 for o in self.occ if o.kind == "correction")

    def clusters(self, kind):
        groups: dict[str, list[Occurrence]] = defaultdict(list)
        for o in self.occ:
            if o.kind == kind:
                groups[o.key].append(o)
        keys = sorted(groups)
        if kind == "error":
            toks = [set(k.split()) for k in keys]
            uf = UnionFind()
            for i in range(len(keys)):
                uf.find(i)
            by_tool = defaultdict(list)
            for i, k in enumerate(keys):
                by_tool[k.split(":", 1)[0]].append(i)
            for ids in by_tool.values():
                if len(ids) > 400:  # too many distinct signatures to compare pairwise: exact ones only
                    continue
                for a, b in combinations(ids, 2):
                    if jaccard(toks[a], toks[b]) >= 0.8:
                        uf.union(a, b)
            merged = defaultdict(list)
            for i, k in enumerate(keys):
                merged[keys[uf.find(i)]].extend(groups[k])
            groups = merged
        return {k: sorted(v, key=Occurrence.sort_key) for k, v in sorted(groups.items())}

    def timing_clusters(self):
        """Delays between a command and an error that agree across enough sessions."""
        out = {}
        for key, occ in self.clusters("timing").items():
            delays = [float(o.text) for o in occ]
            if len({o.session for o in occ}) < TIMING_MIN_SESSIONS or max(delays) > TIMING_SPREAD * min(delays):
                continue
            median = sorted(delays)[len(delays) // 2]
            for o in occ:
                o.title = o.title.replace("{delay}", f"{median:.0f}")
            out[key] = occ
        return out

    def write_lessons(self):
        err = self.clusters("error")
        cor = self.clusters("correction")
        self._lessons(TIMING_NOTE, self.timing_clusters(), "timing", "# Timing regularities\n\nMaintained by "
                      "`memfs dream`: errors that came about the same time after the same command in several "
                      "sessions, with the delays seen.")
        self._lessons(ERRORS_NOTE, err, "error", "# Recurring errors\n\nMaintained by `memfs dream`: tool errors that "
                      "recurred across sessions, with what worked afterwards and where each was seen.")
        self._lessons(CORRECTIONS_NOTE, cor, "correction", "# Corrections agents received\n\nMaintained by "
                      "`memfs dream`: feedback from hooks and users that stopped agents more than once.")

    def _lessons(self, path, clusters, kind, preamble):
        existing = self.work.get(path)
        pre, blocks = split_sections(existing) if existing else (preamble, [])
        old = dict(blocks)
        order = [s for s, _ in blocks]
        new_secs = {}
        for key, occ in clusters.items():
            sig = sig_id(key)
            sessions = {o.session for o in occ}
            if sig not in old:
                if kind == "error" and len(sessions) < self.min_error_sessions:
                    continue
                if kind == "correction" and len(occ) < self.min_corrections:
                    continue
            sec = Section.parse(sig, old[sig]) if sig in old else Section(sig, occ[0].title)
            last = {}
            for o in occ:  # what the agent did after the last correction of each session ended them
                last[o.session] = o
            items = {"What worked afterwards": sorted({w for o in last.values() for w in o.worked})}
            if kind == "error":
                items["Example"] = [example_line(occ[0].text)] if "Example" not in sec.fields else []
            elif kind == "timing":
                items = {"Delays seen": sorted({f"{o.text} s" for o in occ}, key=lambda d: float(d[:-2]))}
            else:
                agg = defaultdict(list)
                for o in occ:
                    for label, xs in correction_items(o.text).items():
                        agg[label] += xs
                items.update(agg)
            sec.update(occ, items)
            new_secs[sig] = (sec, occ)
        if not new_secs and existing is None:
            return
        blocks_out = []
        for sig in order + sorted(s for s in new_secs if s not in old):
            if sig in new_secs:
                sec, occ = new_secs[sig]
                block = sec.render()
                if old.get(sig) != block:
                    ev = [Evidence(session=o.session, ref=o.ref, agent=o.agent) for o in occ[:EVIDENCE_SHOWN]]
                    agents = sorted({o.agent for o in occ if o.agent})
                    self.note(path, f"{'updated' if sig in old else 'new'} lesson: {sec.title} — seen {sec.n} times "
                              f"in {sec.m} sessions" + (f" by {', '.join(agents)}" if agents else ""),
                              "correction" if kind == "correction" else "lesson", ev, block.splitlines()[:1] +
                              [ln for ln in block.splitlines() if ln.startswith("- Seen")])
                    self.findings["lessons"].append({"note": path, "title": sec.title, "sig": sig, "times": sec.n,
                                                     "sessions": sec.m, "agents": agents})
                blocks_out.append(block)
            else:
                blocks_out.append(old[sig])
        self.work[path] = pre.rstrip("\n") + "\n\n" + "\n\n".join(blocks_out) + "\n"

    # -------------------------------------------------------------- 5. verification notes

    _VLINE = re.compile(r"^_Verified by memfs dream: (.*)_$")
    _VITEM = re.compile(r"^`([^`]+)` ran without error on (\d{4}-\d{2}-\d{2}) \(session (\S+?), (.+)\)$")

    def verify(self):
        if not self.ran:
            return
        latest: dict[str, tuple] = {}
        for cmd, ts, sid, ref in self.ran:
            if ts is None:
                continue
            k = (ts, sid, ref)
            if cmd not in latest or k > latest[cmd]:
                latest[cmd] = k
        if not latest:
            return
        by_first: dict[str, list[str]] = defaultdict(list)
        for cmd in latest:
            by_first[cmd.split(" ", 1)[0]].append(cmd)
        for p in self.editable():
            text = self.work[p]
            lines = text.splitlines()
            spans = []
            for ln in lines:
                if self._VLINE.match(ln):
                    continue
                for sp in re.findall(r"`([^`\n]{4,80})`", ln):
                    sp = " ".join(sp.split())
                    if sp not in spans:
                        spans.append(sp)
            found = {}
            for sp in spans:
                best = None
                for cmd in by_first.get(sp.split(" ", 1)[0], []):
                    if cmd == sp or cmd.startswith(sp + " "):
                        if best is None or latest[cmd] > best:
                            best = latest[cmd]
                if best:
                    found[sp] = (day(best[0]), best[1], best[2])
            if not found:
                continue
            vi = next((i for i, ln in enumerate(lines) if self._VLINE.match(ln)), None)
            items = {}
            if vi is not None:
                for part in self._VLINE.match(lines[vi]).group(1).split("; "):
                    m = self._VITEM.match(part.strip())
                    if m:
                        items[m.group(1)] = (m.group(2), m.group(3), m.group(4))
            for sp, v in found.items():
                if sp not in items or (v[0], v[1]) > (items[sp][0], items[sp][1]):
                    items[sp] = v
            shown = sorted(items.items())[:3]
            vline = "_Verified by memfs dream: " + "; ".join(
                f"`{sp}` ran without error on {d} (session {sid}, {ref})" for sp, (d, sid, ref) in shown) + "_"
            if vi is not None:
                if lines[vi] == vline:
                    continue
                lines[vi] = vline
            else:
                lines += ["", vline]
            self.work[p] = join_lines(lines, True)
            self.note(p, "commands this note gives ran without error in recent sessions", "verification",
                      [Evidence(session=sid, ref=ref, note=f"`{sp}` on {d}") for sp, (d, sid, ref) in shown], [vline])
            self.findings["verified"].append({"path": p, "commands": [sp for sp, _ in shown]})

    # -------------------------------------------------------------- 6. report

    def report(self, p: Proposal) -> str:
        f = self.findings
        out = [f"Dream over {self.store.name} at revision {self.ctx.base_rev}: "
               f"{plural(len(self.session_ids), 'session')} ({plural(len(self.agents), 'agent')}), "
               f"{plural(len(self.base), 'note')}; {plural(len(p.changes), 'file')} to change."]
        if f.get("duplicates"):
            out.append(f"- Merged {plural(len(f['duplicates']), 'group')} of near-duplicate notes: " +
                       "; ".join(f"{d['kept']} + {', '.join(d['merged'])}" for d in f["duplicates"][:5]))
        if f.get("duplicate_paragraphs"):
            out.append(f"- Removed {plural(len(f['duplicate_paragraphs']), 'duplicate paragraph')}.")
        out += facts.report_lines(f, plural, self.unread_days)
        if f.get("lessons"):
            out.append(f"- {plural(len(f['lessons']), 'lesson')} from transcripts: " +
                       "; ".join(f"{x['title']} ({x['times']}x in {plural(x['sessions'], 'session')})"
                                 for x in f["lessons"][:5]))
        for k, label in (("stale", "stale reference"), ("superseded", "superseded fact"),
                         ("expired", "expired entry"), ("verified", "verified note")):
            if f.get(k):
                out.append(f"- {plural(len(f[k]), label)}.")
        cross = []
        for c in f.get("contradictions", []):
            vals = ", ".join(f"{a} says \"{v}\"" for a, v in sorted(c["values"].items()))
            cross.append(f"- Agents disagree on \"{c['key']}\" ({', '.join(c['paths'])}): {vals}; kept \"{c['kept']}\".")
        for d in f.get("duplicates", []):
            if len(d["agents"]) > 1:
                cross.append(f"- {' and '.join(d['agents'])} wrote the same note ({d['kept']}, {', '.join(d['merged'])}).")
        dup_writers = {tuple(x["writers"]) for x in f.get("duplicate_paragraphs", []) if len(x["writers"]) > 1}
        for w in sorted(dup_writers):
            cross.append(f"- {' and '.join(w)} recorded the same paragraph separately.")
        for w in sorted({tuple(x["writers"]) for x in f.get("paraphrases", []) if len(x["writers"]) > 1}):
            cross.append(f"- {' and '.join(w)} recorded the same fact in other words.")
        for x in f.get("lessons", []):
            if len(x["agents"]) > 1:
                cross.append(f"- {', '.join(x['agents'])} each ran into: {x['title']}.")
        if cross:
            out.append("Cross-agent findings:")
            out += cross
        if self.ctx.instructions:
            out.append("Instructions were recorded; the local engine does not interpret them (use --engine claude).")
        return "\n".join(out) + "\n"


_DATE = r"(\d{4}-\d{2}-\d{2})"
_EXPIRY = re.compile(r"\b(?:expires?(?: on)?|expiry|expiration|valid until|until)\b\s*[:=]?\s*" + _DATE, re.I)
_FILE_EXPIRY = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?(?:expires|expiry|expiration|valid until)(?:\*\*)?\s*:\s*" + _DATE +
                          r"\s*$", re.I)
