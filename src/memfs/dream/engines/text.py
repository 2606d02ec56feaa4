"""The local engine's constants and text helpers: words, shingles and similar pairs, note
units (paragraphs, list items), signatures of errors, call summaries."""

from __future__ import annotations

import math
import os
import re
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timezone
from itertools import chain
from typing import Optional


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


def plural(n: int, word: str, many: Optional[str] = None, width: int = 0) -> str:
    """`1 file`, `2 files`, `3 entries`, `2 days` (the one rule for counts in the CLI and the
    reports); `many` for an irregular plural. With `width`, for a table: the number right-aligned
    in that many places and the word padded to its plural's length, so the columns after it line up."""
    if many is None:
        many = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    w = word if n == 1 else many
    return f"{n:>{width}} {w:<{len(many)}}" if width else f"{n} {w}"


def day(ts: Optional[float]) -> Optional[str]:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def words(text: str) -> list[str]:
    if "_(" in text or "<!--" in text:  # the markers' regex is slow on text that has none
        text = _MARKERS.sub("", text)
    return _WORD.findall(text.lower())


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
    """Pairs (i < j) of sets with Jaccard >= threshold, found through shared rare members: only
    members held by 2..`df_cap` sets count as shared (a common one says nothing), against the
    sets' full sizes.

    Prefix filtering (as in the AllPairs join): two sets that share n >= threshold * |A| rare
    members share one among the first |R(A)| - need + 1 of A's rare members R(A), ordered rarest
    first. So only those prefixes are indexed and only their pairs are counted exactly: the same
    pairs as counting every shared rare member of every pair, in a fraction of the time."""
    df = Counter(chain.from_iterable(sets))
    # the rare members' global order, rarest first (ties by value): one sort, then a lookup per set
    rank = {h: k for k, h in enumerate(sorted((h for h, c in df.items() if 1 < c <= df_cap),
                                              key=lambda h: (df[h], h)))}
    all_rare = set(rank)
    rare: list[set] = []
    index: dict[int, list[int]] = defaultdict(list)
    cands: set[tuple[int, int]] = set()
    for i, s in enumerate(sets):
        mine = s & all_rare
        rare.append(mine)
        need = max(1, math.ceil(threshold * len(s) - 1e-9))  # the fewest shared members that can reach it
        if len(mine) < need:
            continue
        r = sorted(mine, key=rank.__getitem__)
        for h in r[:len(r) - need + 1]:
            ids = index[h]
            cands.update((j, i) for j in ids)
            ids.append(i)
    out = []
    for a, b in cands:
        la, lb = len(sets[a]), len(sets[b])
        if min(la, lb) < threshold * max(la, lb) - 1e-9:
            continue  # sizes too far apart for the Jaccard to reach it
        n = len(rare[a] & rare[b])
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

_DATE = r"(\d{4}-\d{2}-\d{2})"
_EXPIRY = re.compile(r"\b(?:expires?(?: on)?|expiry|expiration|valid until|until)\b\s*[:=]?\s*" + _DATE, re.I)
_FILE_EXPIRY = re.compile(r"^\s*(?:[-*]\s+)?(?:\*\*)?(?:expires|expiry|expiration|valid until)(?:\*\*)?\s*:\s*" + _DATE +
                          r"\s*$", re.I)
