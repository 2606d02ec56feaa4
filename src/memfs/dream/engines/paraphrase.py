"""Paraphrase finder: do two notes state the same fact in different words?

Pure functions, no model: two agents rarely write the same sentence, but the same fact shares its
rare tokens (paths, environment variables, hosts, URLs, versions, numbers, error signatures) while
the wording around them differs. So a text becomes a set of features:

- identifiers, pulled out first and kept whole (`bastion-eu-2`, `/etc/nginx/app.conf`,
  `DATABASE_URL`, `10.0.3.7`, `v18.19.0`, `ECONNREFUSED`, `--full`, numbers with their unit dropped);
- content words, lower-cased, stop words dropped, reduced to a crude stem and mapped through a
  small table of ops synonyms ("refused", "rejected", "denied" -> one stem).

Each feature weighs its inverse document frequency over the corpus (the notes being compared),
identifiers three times more than words. The score is the weighted Jaccard of the two feature
sets, blended with weighted containment so that a fact restated inside a longer note still counts.

Precision comes first, since merging two different facts loses one. A pair is never the same
fact when each side has an identifier of one kind the other lacks (bastion-eu-2 against
bastion-eu-3, 30 against 60, v18 against v20), when one side says the opposite (enabled /
disabled, primary / replica, ...), or when they share fewer than two features.

`Finder(texts).pairs()` compares only texts that share two of their eight heaviest features
(found through an inverted index, no all-pairs comparison), so it scales to the thousands of
paragraphs of a store.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import chain, combinations
from typing import Iterable, Optional

THRESHOLD = 0.45        # a pair at or above this score states the same fact
IDENT_WEIGHT = 3.0      # an identifier counts this many times a word of the same rarity
MIN_SHARED = 2          # features both sides must share
DF_CAP = 50             # features in more texts than this do not propose candidates
ANCHORS = 8             # a text's heaviest features, two of which a candidate pair shares

# identifiers, in the order they are taken out of the text (a span is taken once)
_IDENTS = [
    ("url", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s)\]>'\"`]+", re.I)),
    ("path", re.compile(r"(?<![\w.:/])(?:~|\.{1,2})?/[\w.@%+~*-]+(?:/[\w.@%+~*{}-]+)*/?")),
    ("ip", re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d+)?\b")),
    ("version", re.compile(r"(?<![\w.])v?\d+(?:\.\d+){1,3}(?:[-+][\w.]+)?\+?(?![\w.]*\w)", re.I)),
    ("env", re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")),
    ("host", re.compile(r"\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:[a-z]{2,12})\b(?![-/])", re.I)),
    ("pkg", re.compile(r"@[\w-]+/[\w.-]+")),
    ("flag", re.compile(r"(?<![\w-])--?[a-zA-Z][\w-]*(?:=[\w./:-]+)?")),
    ("name", re.compile(r"\b[a-z0-9]+(?:[-_:][a-z0-9]+)+\b", re.I)),
    ("camel", re.compile(r"\b(?:[a-z]+[A-Z][a-zA-Z0-9]*|[A-Z][a-z0-9]+[A-Z][a-zA-Z0-9]*)\b")),
    ("sig", re.compile(r"\b[A-Z][A-Z0-9]{3,}\b")),
    ("channel", re.compile(r"#[a-z][\w-]+")),
    ("num", re.compile(r"(?<![\w.])\d+(?:[.,:]\d+)*(?=\s?[a-zA-Z%]{0,7}\b|\b)")),
]
# a character every match of a kind contains ("0": a digit), to skip patterns that cannot match
_NEEDS = {"url": "://", "path": "/", "ip": "0", "version": "0", "env": "_", "host": ".", "pkg": "@", "flag": "-",
          "channel": "#", "num": "0"}
# for kinds most text holds the character of: what every match contains, as a quick search (a
# paragraph almost always has a "." or a "-"; a "." followed by a letter it rarely has)
_DIGIT_DOT = re.compile(r"\d\.\d")
_GATES = {"ip": _DIGIT_DOT, "version": _DIGIT_DOT, "host": re.compile(r"\.[a-z]", re.I),
          "flag": re.compile(r"(?<![\w-])-[-a-zA-Z]"), "name": re.compile(r"[a-z0-9][-_:][a-z0-9]", re.I),
          "camel": re.compile(r"[a-z0-9][A-Z]"), "sig": re.compile(r"[A-Z][A-Z0-9]{3}"), "num": re.compile(r"\d")}
# a dotted "host" that is really a file name keeps its kind apart from hosts
_FILE_EXT = re.compile(r"\.(?:py|js|ts|tsx|md|json|ya?ml|toml|txt|log|sh|go|rs|conf|cfg|ini|csv|sql|lock|xml|html)$")
_WORD = re.compile(r"[a-z][a-z']+")
_DIGIT = re.compile(r"\d")

NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20",
                "thirty": "30", "hundred": "100"}

STOP = set("""a about above after again against all also am an and any are as at be because been being
below between both but by can could did do does doing down during each either else etc ever every few for
from further get gets got had has have having he her here hers him his how i if in into is it its itself
just let lets may me might more most much my myself now of on once only onto or other our ours out over
own per please rather same she should so some such than that the their them then there these they this
those through thus to too under until up upon us use used uses using very via was we were what when where
whether which while who whom why will with within would yet you your yours one ones way also still
first here its it's that's there's you're we're instead otherwise anything everything something thing
things go goes going make makes made take takes need needs needed needing must has have""".split())
# kept apart from the stop list: they flip a fact
NEGATIONS = {"not", "no", "never", "don't", "doesn't", "isn't", "aren't", "can't", "cannot", "won't",
             "without", "nothing", "none", "nor", "avoid", "mustn't", "shouldn't"}

# after stemming: ops vocabulary that means the same
SYNONYMS = {
    "reject": "refus", "deni": "refus", "deny": "refus", "block": "refus", "blocked": "refus", "refus": "refus",
    "break": "fail", "broke": "fail", "broken": "fail", "crash": "fail", "error": "fail", "fail": "fail",
    "failur": "fail", "cut": "fail", "kill": "fail",
    "requir": "need", "necessari": "need",
    "reach": "connect", "access": "connect", "connect": "connect",
    "remov": "delet", "purg": "delet", "prune": "delet", "prun": "delet", "delet": "delet", "drop": "delet",
    "clear": "delet", "wip": "delet", "lost": "delet", "los": "delet",
    "disconnect": "disconnect", "drops": "disconnect",
    "start": "start", "launch": "start", "bring": "start", "boot": "start", "run": "run", "execut": "run",
    "keep": "keep", "kept": "keep", "retain": "keep", "retent": "keep", "stay": "keep", "pin": "keep",
    "prod": "production", "product": "production",
    "db": "databas", "databas": "databas",
    "repo": "repositori", "repositori": "repositori",
    "config": "configur", "configur": "configur",
    "doc": "document", "document": "document",
    "login": "log", "sign": "log", "signin": "log",
    "newer": "new", "later": "new", "latest": "new", "above": "new",
    "nightly": "night", "night": "night",
    "daili": "day", "day": "day",
    "hour": "hour", "minut": "minut", "min": "minut", "second": "second", "sec": "second",
    "upgrad": "upgrad", "bump": "upgrad", "updat": "upgrad", "rais": "upgrad",
    "big": "larg", "larg": "larg", "huge": "larg",
    "small": "small", "below": "small", "under": "small", "less": "small",
    "show": "display", "render": "display", "display": "display",
    "employe": "hire", "hire": "hire",
    "machin": "host", "server": "host", "host": "host", "box": "host",
    "setup": "set", "set": "set", "instal": "set",
    "notif": "alert", "alert": "alert", "page": "alert",
    "fix": "fix", "resolv": "fix",
}
# one side says the opposite of the other: never the same fact
OPPOSITES = [("enabl", "disabl"), ("primari", "replica"), ("allow", "refus"), ("always", "never"),
             ("minimum", "maximum"), ("increas", "decreas"), ("success", "fail"), ("public", "privat"),
             ("read", "writ"), ("start", "stop"), ("add", "delet"), ("old", "new"), ("on", "off")]
_OPP = {}
for _a, _b in OPPOSITES:
    _OPP[_a], _OPP[_b] = _b, _a


@functools.lru_cache(maxsize=200_000)
def stem(w: str) -> str:
    """A crude suffix stripper: enough that "connections", "connecting" and "connect" meet."""
    w = w.lower().replace("'", "")
    if len(w) <= 3:
        return w
    for suf, rep in (("ational", "ate"), ("ization", "ize"), ("ically", "ic"), ("iness", "y"), ("ments", ""),
                     ("ment", ""), ("ations", "ate"), ("ation", "ate"), ("ions", ""), ("ion", ""), ("ings", ""),
                     ("ing", ""), ("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ness", ""), ("ally", "al"),
                     ("edly", ""), ("ly", ""), ("ed", ""), ("es", "e"), ("s", ""), ("er", "")):
        if w.endswith(suf) and len(w) - len(suf) >= 3 and not (suf == "s" and w.endswith(("ss", "us", "is"))):
            w = w[: len(w) - len(suf)] + rep
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if w.endswith("y") and len(w) > 4:
        w = w[:-1] + "i"
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]
    return w


def _norm_ident(kind: str, s: str) -> tuple[str, str]:
    s = s.strip().rstrip(".,;:")
    if kind == "host" and _FILE_EXT.search(s.lower()):
        kind = "file"
    if kind in ("env", "sig", "camel"):
        return kind, s.upper() if kind != "camel" else s.lower()
    if kind == "version":
        return kind, s.lower().lstrip("v").rstrip("+")
    if kind == "num":
        return kind, s.replace(",", "")
    if kind == "path":
        return kind, s.rstrip("/").lower()
    return kind, s.lower()


@dataclass
class Features:
    idents: dict = field(default_factory=dict)   # kind -> set of values
    words: set = field(default_factory=set)      # stems after synonyms
    negated: bool = False

    def all(self) -> set:
        out = {f"w:{w}" for w in self.words}
        for kind, vals in self.idents.items():
            out |= {f"{kind}:{v}" for v in vals}
        return out


_PLAN = [(kind, rx, _NEEDS.get(kind), _GATES.get(kind)) for kind, rx in _IDENTS]
_WORD_FEATURES: dict[str, tuple] = {}


def _word_feature(w: str) -> tuple:
    """What a word says: ("neg", None), ("num", "3"), ("w", stem) or ("", None) for a stop word;
    remembered, since a store's paragraphs use the same few thousand words over and over."""
    got = _WORD_FEATURES.get(w)
    if got is None:
        if w in NEGATIONS or w.endswith("n't"):
            got = ("neg", None)
        elif w in NUMBER_WORDS:
            got = ("num", NUMBER_WORDS[w])
        elif w in STOP or len(w) < 2:
            got = ("", None)
        else:
            s = stem(w)
            s = SYNONYMS.get(s, SYNONYMS.get(w, s))
            got = ("w", s) if s and s not in STOP else ("", None)
        if len(_WORD_FEATURES) >= 200_000:
            _WORD_FEATURES.clear()
        _WORD_FEATURES[w] = got
    return got


def features(text: str) -> Features:
    f = Features()
    rest = text
    rest_values: list[str] = []
    has_digit = _DIGIT.search(text) is not None
    failed: set = set()  # gates that found nothing in `rest` as it is (ip and version share one)
    for kind, rx, need, gate in _PLAN:
        if need is not None and not (has_digit if need == "0" else need in rest):
            continue  # the pattern cannot match: skip the regex (most words are plain)
        if gate is not None and (gate in failed or not gate.search(rest)):
            failed.add(gate)
            continue

        def take(m, kind=kind):
            raw = m.group(0)
            if kind == "url":  # the host of a URL is the host written bare elsewhere
                host = re.match(r"[a-z][a-z0-9+.-]*://([^/:?#]+)", raw, re.I)
                if host:
                    f.idents.setdefault("host", set()).add(host.group(1).lower())
            elif kind == "flag" and "=" in raw:  # --replicas=12: the flag, and 12 as a value
                raw, value = raw.split("=", 1)
                rest_values.append(value)
            k, v = _norm_ident(kind, raw)
            if v:
                f.idents.setdefault(k, set()).add(v)
            if kind == "flag":  # --replicas says "replicas" too
                rest_values.append(raw.lstrip("-").replace("-", " "))
            return " "
        new = rx.sub(take, rest)
        if new is not rest:
            rest = new
            failed.clear()
        if rest_values:
            rest += " " + " ".join(rest_values)
            rest_values.clear()
    memo = _WORD_FEATURES
    said = [memo.get(w) or _word_feature(w) for w in set(_WORD.findall(rest.lower()))]
    f.words = {v for kind, v in said if kind == "w"}
    for kind, v in said:
        if kind == "neg":
            f.negated = True
        elif kind == "num":
            f.idents.setdefault("num", set()).add(v)
    # "disabled" is itself a negation of "enabled", which may be said as "do not enable"
    if f.negated and "enabl" in f.words:
        f.words.discard("enabl"), f.words.add("disabl")
        f.negated = False
    if "off" in f.words:
        f.words.discard("off"), f.words.add("disabl")
    return f


def conflict(a: Features, b: Features) -> Optional[str]:
    """Why two texts cannot state the same fact, or None."""
    for kind in set(a.idents) & set(b.idents):
        only_a, only_b = a.idents[kind] - b.idents[kind], b.idents[kind] - a.idents[kind]
        if only_a and only_b:
            return f"different {kind}: {sorted(only_a)[0]} / {sorted(only_b)[0]}"
    for w in a.words - b.words:
        o = _OPP.get(w)
        if o is not None and o in b.words and o not in a.words:
            return f"opposites: {w} / {o}"
    return None


class Finder:
    """Paraphrase pairs among `texts`; document frequencies (rarity) come from `corpus`, by
    default the texts themselves."""

    def __init__(self, texts: list[str], corpus: Optional[Iterable[str]] = None, threshold: float = THRESHOLD):
        self.threshold = threshold
        memo: dict[str, tuple] = {}  # a paragraph repeated word for word is read once
        for t in texts:
            if t not in memo:
                f = features(t)
                memo[t] = (f, f.all())
        self.feats = [memo[t][0] for t in texts]
        self.sets = [memo[t][1] for t in texts]
        sets = self.sets if corpus is None else [features(t).all() for t in corpus]
        self.df, self.n = Counter(chain.from_iterable(sets)), max(len(sets), 1)
        self._w: dict[str, float] = {}
        self._tot: dict[int, float] = {}
        self._rank: Optional[dict] = None

    def weight(self, feat: str) -> float:
        w = self._w.get(feat)
        if w is None:
            idf = math.log((self.n + 1) / (self.df.get(feat, 0) + 1)) + 1.0
            w = self._w[feat] = idf * (1.0 if feat.startswith("w:") else IDENT_WEIGHT)
        return w

    def score(self, i: int, j: int) -> float:
        for k in (i, j):
            if k not in self._tot:
                self._tot[k] = self._total(self.sets[k])
        return self._score(self.feats[i], self.feats[j], self.sets[i], self.sets[j], self._tot[i], self._tot[j])

    def _total(self, s: set) -> float:
        return sum(self.weight(x) for x in s)

    def _score(self, fa: Features, fb: Features, a: set, b: set, w_a=None, w_b=None) -> float:
        shared = a & b
        if len(shared) < MIN_SHARED or conflict(fa, fb):
            return 0.0
        w_shared = self._total(shared)
        w_a = self._total(a) if w_a is None else w_a
        w_b = self._total(b) if w_b is None else w_b
        jac = w_shared / (w_a + w_b - w_shared)
        cont = w_shared / min(w_a, w_b)
        s = 0.5 * jac + 0.5 * cont * jac ** 0.5
        if fa.negated != fb.negated:
            s *= 0.8
        return round(s, 3)

    def compare(self, a: str, b: str) -> float:
        fa, fb = features(a), features(b)
        return self._score(fa, fb, fa.all(), fb.all())

    def anchors(self, i: int) -> list[str]:
        """A text's heaviest features. The same fact shares its rarest tokens, so two texts are
        compared only when they share two of their anchors (no all-pairs comparison; on the
        labelled fixture this loses no pair the full comparison finds)."""
        if self._rank is None:  # every feature's place, heaviest first: one sort, not one per text
            w = self.weight
            self._rank = {x: k for k, x in enumerate(sorted(set().union(*self.sets), key=lambda x: (-w(x), x)))}
        return sorted(self.sets[i], key=self._rank.__getitem__)[:ANCHORS]

    def pairs(self, df_cap: int = DF_CAP) -> list[tuple[int, int, float]]:
        """(i < j, score) for every pair at or above the threshold, among texts that share two
        anchors (one held by more than `df_cap` texts proposes nothing: it is not rare)."""
        index: dict[str, list[int]] = defaultdict(list)
        for i in range(len(self.sets)):
            for x in self.anchors(i):
                index[x].append(i)
        # how many anchors each pair shares, counted in C (a store has hundreds of thousands of pairs)
        shared = Counter(chain.from_iterable(combinations(ids, 2) for ids in index.values() if 1 < len(ids) <= df_cap))
        out = []
        for i, j in sorted(pair for pair, n in shared.items() if n >= MIN_SHARED):
            sc = self.score(i, j)
            if sc >= self.threshold:
                out.append((i, j, sc))
        return out


def same_fact(a: str, b: str, corpus: Optional[Iterable[str]] = None, threshold: float = THRESHOLD) -> bool:
    return Finder([a, b], corpus=corpus, threshold=threshold).score(0, 1) >= threshold


# ---------------------------------------------------------------------------- the labelled fixture


def load_groups(path: str) -> list[tuple[list[str], list[str]]]:
    groups, same, related = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in list(fh) + [""]:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if same:
                    groups.append((same, related))
                same, related = [], []
            elif line.startswith("= "):
                same.append(line[2:].strip())
            elif line.startswith("~ "):
                related.append(line[2:].strip())
            else:
                raise ValueError(f"{path}: a line must start with '= ', '~ ' or '#': {line!r}")
    return groups


def load_pairs(path: str, unrelated_per_group: int = 3) -> list[tuple[str, str, str]]:
    """(a, b, label) with label "same", "related" or "unrelated"."""
    groups = load_groups(path)
    out = []
    for gi, (same, related) in enumerate(groups):
        out += [(a, b, "same") for a, b in combinations(same, 2)]
        out += [(a, r, "related") for a in same for r in related]
        for k in range(1, unrelated_per_group + 1):
            other = groups[(gi + k * 7) % len(groups)][0]
            out.append((same[0], other[k % len(other)], "unrelated"))
    return out


def evaluate(pairs: list[tuple[str, str, str]], threshold: float = THRESHOLD) -> dict:
    """Precision and recall of "same fact" over labelled pairs; rarity from all their texts."""
    corpus = sorted({t for a, b, _ in pairs for t in (a, b)})
    fd = Finder(corpus, threshold=threshold)
    pos = {t: i for i, t in enumerate(corpus)}
    tp = fp = fn = tn = 0
    wrong = []
    by_label: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b, label in pairs:
        sc = fd.score(pos[a], pos[b])
        said = sc >= threshold
        by_label[label][0 if said else 1] += 1
        if said and label == "same":
            tp += 1
        elif said:
            fp += 1
            wrong.append(("false merge", label, sc, a, b))
        elif label == "same":
            fn += 1
            wrong.append(("missed", label, sc, a, b))
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"pairs": len(pairs), "same": tp + fn, "related": sum(by_label["related"]),
            "unrelated": sum(by_label["unrelated"]), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 4), "recall": round(recall, 4), "threshold": threshold,
            "merged_by_label": {k: v[0] for k, v in sorted(by_label.items())}, "wrong": wrong}
