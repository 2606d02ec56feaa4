"""The local engine, step 3: stale entries (renamed or deleted paths, superseded facts, expired lines)."""

from __future__ import annotations

import re
from collections import defaultdict

from ..proposal import Evidence
from .text import _EXPIRY, _FILE_EXPIRY, _HEADER, _MARKERS, clean_item, day, join_lines, only_headers


class StaleMixin:
    """Step 3 of LocalEngine (the state it works on is set up in LocalEngine.run)."""

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
