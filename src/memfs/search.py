"""memfs grep without the database: compiling a pattern, the literal runs every match must contain
(which narrow the candidates through the full-text index), and the line-by-line match. The
queries live in store/search.py (`Memfs.grep`), the one door to the tables."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Optional

from . import errors

try:  # characters that match more than their simple case pair under re.IGNORECASE (k and the Kelvin sign)
    from re._casefix import _EXTRA_CASES as _EXTRA
except ImportError:  # pragma: no cover
    _EXTRA = {}

try:
    from re import _constants as _C, _parser as _P
except ImportError:  # pragma: no cover (Python < 3.11)
    import sre_constants as _C  # type: ignore
    import sre_parse as _P  # type: ignore

MIN_TERM = 3  # the trigram index can only look up runs of three characters or more
_EXTRA_CHARS = {chr(c) for c in _EXTRA} | {chr(c) for cs in _EXTRA.values() for c in cs}


@dataclass
class GrepMatch:
    store: str
    path: str
    line: int
    text: str
    rev: int  # the revision that wrote this content (the file's head for a search of current content)
    sha256: str
    agent: Optional[str] = None
    session: Optional[str] = None
    created_at: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Search:
    """A compiled search: the line regex, a whole-text prefilter (or None) and the index terms."""

    rx: re.Pattern
    prefilter: Optional[re.Pattern]
    terms: list[str]


def compile_search(pattern: str, *, ignore_case: bool = False, fixed: bool = False) -> Search:
    if not isinstance(pattern, str) or pattern == "":
        raise errors.InvalidInput("the search pattern is empty")
    flags = re.IGNORECASE if ignore_case else 0
    source = re.escape(pattern) if fixed else pattern
    try:
        rx = re.compile(source, flags)
    except re.error as e:
        raise errors.InvalidInput(f"not a valid regular expression: {pattern!r} ({e}); use -F for a fixed string")
    folded = ignore_case or bool(rx.flags & re.IGNORECASE)
    terms = [pattern] if fixed else required_literals(source)
    # the index folds case on its own terms; where Python's IGNORECASE folds differently (k and
    # the Kelvin sign, s and the long s), a term could miss a match, so it is not used
    terms = [t for t in terms if len(t) >= MIN_TERM and "\n" not in t
             and not (folded and any(ch in _EXTRA_CHARS for ch in t))]
    # a search of the whole text first skips most files at C speed; lookarounds and \A \Z mean
    # something else across lines, so those patterns go line by line only
    prefilter = None
    if fixed or not re.search(r"\(\?<?[=!]|\\[AZ]", pattern):
        prefilter = re.compile(source, flags | re.MULTILINE)
    return Search(rx, prefilter, terms)


def required_literals(pattern: str) -> list[str]:
    """Runs of literal characters that every match of `pattern` contains (a sound subset: branches
    and optional parts contribute nothing)."""
    try:
        parsed = _P.parse(pattern)
    except Exception:
        return []
    out: list[str] = []
    _walk(list(parsed), out)
    return out


def _walk(items, out):
    run = []

    def flush():
        if run:
            out.append("".join(run))
            run.clear()

    for op, av in items:
        if op is _C.LITERAL:
            run.append(chr(av))
            continue
        flush()
        if op is _C.SUBPATTERN:
            _walk(list(av[-1]), out)
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", None)) and av[0] >= 1:
            _walk(list(av[2]), out)
        elif op is getattr(_C, "ATOMIC_GROUP", None):
            _walk(list(av), out)
    flush()


def fts_query(terms: list[str]) -> str:
    """An FTS5 query that every text containing all `terms` matches (trigram phrases, ANDed)."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


def match_lines(search: Search, text: str) -> list[tuple[int, str]]:
    if search.prefilter is not None and not search.prefilter.search(text):
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [(i, line) for i, line in enumerate(lines, 1) if search.rx.search(line)]
