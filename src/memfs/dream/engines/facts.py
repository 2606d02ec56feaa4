"""Two steps of the local engine kept out of local.py: the same fact worded differently (merged
through the paraphrase finder) and memories no one reads (proposed for review).

Both take the running `LocalEngine` (its working tree `work`, `writer`, `note`, `findings`)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Optional

from .paraphrase import Finder, features

_MARKERS = re.compile(r"\s*_\((?:also noted|stale:|superseded|possibly stale)[^)]*\)_|<!--.*?-->")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# a sentence ends at . ! ? followed by a space and what starts a sentence (not "e.g. foo", "v1.2")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(/~#@])")
MIN_WORDS = 4
STAMPS = ("_Merged by memfs dream", "_Verified by memfs dream")


def sentences(body: str) -> list[str]:
    return [s.strip() for s in _SENT.split(body) if s.strip()]


class _Unit:
    __slots__ = ("path", "start", "end", "marker", "sents")

    def __init__(self, path, start, end, marker, sents):
        self.path, self.start, self.end, self.marker, self.sents = path, start, end, marker, sents


def _units_of(eng, units_fn) -> list[_Unit]:
    out = []
    for p in sorted(eng.editable(), key=lambda p: (eng.created(p), p)):
        lines = eng.work[p].splitlines()
        for s, e in units_fn(lines):
            if lines[s].lstrip().startswith(STAMPS) or any("```" in ln for ln in lines[s:e]):
                continue
            m = _LIST.match(lines[s])
            marker = m.group(0) if m else ""
            body = " ".join([lines[s][len(marker):].strip()] + [ln.strip() for ln in lines[s + 1:e]])
            out.append(_Unit(p, s, e, marker, sentences(body)))
    return out


def _who(ev) -> str:
    if ev.agent and ev.session:
        return f"{ev.agent} in session {ev.session}"
    return ev.agent or ev.note or "another writer"


def merge_paraphrases(eng, units_fn, join_lines, only_headers) -> None:
    """Sentences that state the same fact in different words, in different paragraphs (of one note
    or of several): the fact is kept once, where it is best placed (the note read by the most
    sessions, then the one naming more identifiers, then the oldest note), tagged with who else noted it; the
    other wording is removed only when every identifier it names is in the kept paragraph, so no
    detail is lost; the rest of either paragraph stays."""
    units = _units_of(eng, units_fn)
    texts, owner = [], []
    for ui, u in enumerate(units):
        for si, s in enumerate(u.sents):
            clean = _MARKERS.sub("", s)
            if len(re.findall(r"\w+", clean)) >= MIN_WORDS:
                texts.append(clean)
                owner.append((ui, si))
    if len(texts) < 2:
        return
    fd = Finder(texts)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    scores = {}
    for i, j, sc in fd.pairs():
        if owner[i][0] == owner[j][0]:
            continue  # two sentences of one paragraph are its own business
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
        scores[(i, j)] = sc
    groups = defaultdict(list)
    for k in range(len(texts)):
        groups[find(k)].append(k)
    reads = getattr(eng, "read_sessions", lambda p: 0)

    def rank(k):
        u = units[owner[k][0]]
        n_ident = sum(len(v) for v in fd.feats[k].idents.values())
        return (-reads(u.path), -n_ident, eng.created(u.path), u.path, u.start)

    drop: dict[int, set] = defaultdict(set)      # unit -> sentence indexes removed
    tags: dict[int, list] = defaultdict(list)    # unit -> who else noted its fact
    dropped_units = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=rank)
        # a wording whose features another one holds all of (and more) is never the one kept
        keep = next(k for k in members if not any(fd.sets[k] < fd.sets[o] for o in members))
        ku = owner[keep][0]
        if ku in dropped_units:
            continue
        kept_unit_feats = features(" ".join(units[ku].sents))
        kept_idents = {(kind, v) for kind, vals in kept_unit_feats.idents.items() for v in vals}
        for k in members[1:]:
            ui, si = owner[k]
            if ui == ku or ui in tags:  # a paragraph that keeps a fact does not also give one away
                continue
            mine = {(kind, v) for kind, vals in fd.feats[k].idents.items() for v in vals}
            if not mine <= kept_idents:
                continue  # it names something the kept paragraph does not: merging would lose it
            u, kuu = units[ui], units[ku]
            drop[ui].add(si)
            dropped_units.add(ui)
            ev, kev = eng.writer(u.path, u.start), eng.writer(kuu.path, kuu.start)
            tag = f"_(also noted by {_who(ev)})_"
            if tag not in tags[ku] and tag not in kuu.sents[-1]:
                tags[ku].append(tag)
            sc = max(scores.get((min(k, keep), max(k, keep)), 0.0), 0.0)
            eng.note(u.path, f"states a fact kept in {kuu.path} in other words (paraphrase"
                     f"{f', score {sc:.2f}' if sc else ''}); removed here, the rest of the paragraph kept",
                     "paraphrase", [ev, kev], [eng.work[u.path].splitlines()[u.start]])
            eng.findings["paraphrases"].append({
                "kept": f"{kuu.path}:{kuu.start + 1}", "removed": f"{u.path}:{u.start + 1}",
                "kept_text": kuu.sents[owner[keep][1]], "removed_text": u.sents[si],
                "writers": sorted({x for x in (ev.agent, kev.agent) if x})})
    if not drop and not tags:
        return
    edits: dict[str, list] = defaultdict(list)  # path -> (start, end, new lines)
    for ui in set(drop) | set(tags):
        u = units[ui]
        rest = [s for i, s in enumerate(u.sents) if i not in drop.get(ui, ())]
        lines = eng.work[u.path].splitlines()
        if not rest:
            edits[u.path].append((u.start, u.end, []))
            continue
        if ui in tags and ui not in drop:
            new = list(lines[u.start:u.end])
            new[-1] = new[-1] + " " + " ".join(tags[ui])
        else:
            new = [u.marker + " ".join(rest + tags.get(ui, []))]
        edits[u.path].append((u.start, u.end, new))
    for path, spans in edits.items():
        lines = eng.work[path].splitlines()
        for s, e, new in sorted(spans, reverse=True):
            lines[s:e] = new
        text = join_lines(lines, True)
        if only_headers(text):
            eng.work[path] = None
            eng.note(path, "every fact of this note is kept elsewhere in other words", "paraphrase",
                     [eng.writer(path)], eng.base[path].splitlines()[:1])
        else:
            eng.work[path] = text
    for ui, ts in tags.items():
        u = units[ui]
        eng.note(u.path, "kept this fact; other wordings of it elsewhere were removed", "paraphrase",
                 [eng.writer(u.path, u.start)], [eng.work[u.path].splitlines()[u.start]] if eng.work[u.path] else [])


def unread_review(eng, days: Optional[float], many: int) -> None:
    """Memories no session has read or written for `days`: listed for review as possibly stale
    (findings and report; the text is not changed). A memory read by `many` sessions or more is
    never listed. Nothing is listed while the store has no read counts at all (no mount has
    recorded reads yet, so unread means unknown)."""
    if not days:
        return
    info = getattr(eng, "reads", None) or {}
    if not info:
        return
    cutoff = eng.ctx.now - days * 86400
    for p in eng.editable():
        r = info.get(p)
        e = eng.ctx.entries.get(p)
        written = eng.revision(e.rev).created_at if e is not None and eng.revision(e.rev) is not None else None
        if r is not None and r.sessions >= many:
            eng.findings["kept_by_readers"].append({"path": p, "sessions": r.sessions})
            continue
        last_read = r.last_read if r is not None else None
        if (last_read is None or last_read < cutoff) and (written is None or written < cutoff):
            eng.findings["unread"].append({"path": p, "last_read": last_read, "last_written": written,
                                           "sessions": r.sessions if r is not None else 0})


def report_lines(f: dict, plural, days) -> list[str]:
    out = []
    if f.get("paraphrases"):
        out.append(f"- Merged {plural(len(f['paraphrases']), 'fact')} stated twice in other words: " +
                   "; ".join(f"{x['removed']} -> {x['kept']}" for x in f["paraphrases"][:5]))
    if f.get("unread"):
        span = f"{days:g} days" if days >= 0.01 else f"{days * 86400:.3g} seconds"  # not "1e-05 days"
        out.append(f"- Possibly stale, for review: {plural(len(f['unread']), 'note')} no session read or wrote in "
                   f"{span}: " + ", ".join(x["path"] for x in f["unread"][:8]) +
                   (f" and {len(f['unread']) - 8} more" if len(f["unread"]) > 8 else ""))
    if f.get("kept_by_readers"):
        out.append("- Kept as read by many sessions: " +
                   ", ".join(f"{x['path']} ({x['sessions']})" for x in f["kept_by_readers"][:8]))
    return out


def duplicate_share(files: dict) -> dict:
    """How much of a store's text the local engine would merge: paragraphs and list items that
    repeat another (the same words, nearly, or the same fact in other words), over all of them.
    `files`: path -> text."""
    from .text import UNIT_JACCARD, similar_pairs, units, words

    items, item_words = [], []
    for p in sorted(files):
        lines = files[p].splitlines()
        for s, e in units(lines):
            if lines[s].lstrip().startswith(STAMPS):
                continue
            text = "\n".join(lines[s:e])
            if "_(" in text or "<!--" in text:
                text = _MARKERS.sub("", text)
            ws = words(text)
            if len(ws) >= MIN_WORDS:
                items.append(text)
                item_words.append(ws)
    dup = set()
    exact: dict[str, int] = {}
    for i, ws in enumerate(item_words):
        key = " ".join(ws)
        if key in exact:
            dup.add(i)
        else:
            exact[key] = i
    # word pairs hashed in C (the engine's crc32 of the joined pair: the same sets but for a collision)
    for a, b, _ in similar_pairs([set(map(hash, zip(ws, ws[1:]))) if len(ws) > 1 else {hash(tuple(ws))}
                                  for ws in item_words], UNIT_JACCARD):
        dup.add(b)
    for a, b, _ in Finder(items).pairs():
        dup.add(b)
    n = len(items)
    return {"paragraphs": n, "duplicated": len(dup), "share": round(len(dup) / n, 4) if n else 0.0}
