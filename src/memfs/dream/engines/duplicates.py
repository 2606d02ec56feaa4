"""The local engine, steps 1 and 2: near-duplicate notes merged, duplicate paragraphs removed."""

from __future__ import annotations

from collections import defaultdict

from ..proposal import Evidence
from .text import (NOTE_JACCARD, UNIT_JACCARD, UnionFind, jaccard, join_lines, only_headers, shingles,
                   similar_pairs, units, words)


class DuplicatesMixin:
    """Steps 1 and 2 of LocalEngine (the state it works on is set up in LocalEngine.run)."""

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
