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


import re
from collections import defaultdict
from typing import Optional

from ..proposal import Annotation, Evidence, Proposal, build_changes
from . import facts
from .text import MANAGED, NAME, day, join_lines, only_headers, plural, units
from .duplicates import DuplicatesMixin
from .lessons import LessonsMixin
from .stale import StaleMixin


class LocalEngine(DuplicatesMixin, StaleMixin, LessonsMixin):
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
        p.stats = {"files": len(self.base), "sessions": len(self.ctx.session_ids), "changes": len(changes),
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
        # every session the dream selected, as `dream run` and `dream show` count them; one that
        # only held the store (a mount that read) has nothing to mine, and says so
        quiet = len(set(self.ctx.session_ids) - self.session_ids)
        out = [f"Dream over {self.store.name} at revision {self.ctx.base_rev}: "
               f"{plural(len(self.ctx.session_ids), 'session')} ({plural(len(self.agents), 'agent')}"
               f"{f'; {quiet} with no transcript or file change' if quiet else ''}), "
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
