"""The local engine, step 4: lessons from transcripts (recurring errors, corrections, timings)."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from ..proposal import Evidence
from .text import (CORRECTIONS_NOTE, ERRORS_NOTE, EVIDENCE_SHOWN, TIMING_MIN_SESSIONS, TIMING_NOTE,
                   TIMING_SPREAD, UnionFind, example_line, jaccard, plural)
from .occurrences import (Occurrence, Section, correction_items, digest_session, sig_id, split_sections,
                          timing_occurrences)


class LessonsMixin:
    """Step 4 of LocalEngine (the state it works on is set up in LocalEngine.run)."""

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
                    self.note(path, f"{'updated' if sig in old else 'new'} lesson: {sec.title} — seen {plural(sec.n, 'time')} "
                              f"in {plural(sec.m, 'session')}" + (f" by {', '.join(agents)}" if agents else ""),
                              "correction" if kind == "correction" else "lesson", ev, block.splitlines()[:1] +
                              [ln for ln in block.splitlines() if ln.startswith("- Seen")])
                    self.findings["lessons"].append({"note": path, "title": sec.title, "sig": sig, "times": sec.n,
                                                     "sessions": sec.m, "agents": agents})
                blocks_out.append(block)
            else:
                blocks_out.append(old[sig])
        self.work[path] = pre.rstrip("\n") + "\n\n" + "\n\n".join(blocks_out) + "\n"
