"""A dream's proposal: structured data, not just text.

Per file: the action (create, modify, delete), the content hash it was based on (the apply
precondition), the proposed content, and annotations: why (`reason`), what kind of change
(`kind`), the evidence (sessions, transcript line references, revisions), and which lines of the
diff the annotation is about. Plus a short report of cross-agent findings and the structured
findings themselves. `to_dict()` is canonical: the same proposal serialises to the same bytes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional

KINDS = ("merge_duplicates", "duplicate_paragraph", "lesson", "correction", "stale_reference", "superseded",
         "expired", "verification", "integrated", "paraphrase", "other")


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != ""}


@dataclass(frozen=True)
class Evidence:
    session: Optional[str] = None
    ref: Optional[str] = None  # transcript file:line, file#/pointer, memfs#/revisions/N
    agent: Optional[str] = None
    revision: Optional[int] = None
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return _clean(self.__dict__.copy())

    def _key(self) -> tuple:
        # a field left unset (an operator's write has no session) sorts first, never against a str
        return tuple((v is not None, v if v is not None else "") for v in
                     (self.session, self.ref, self.agent, self.revision, self.note))

    def __lt__(self, other: "Evidence") -> bool:
        return self._key() < other._key()

    @classmethod
    def from_dict(cls, d: dict) -> "Evidence":
        return cls(**{k: d.get(k) for k in ("session", "ref", "agent", "revision", "note")})

    def __str__(self) -> str:
        parts = []
        if self.session:
            parts.append(f"session {self.session}")
        if self.agent:
            parts.append(f"agent {self.agent}")
        if self.ref:
            parts.append(self.ref)
        if self.revision is not None:
            parts.append(f"revision {self.revision}")
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)


@dataclass
class Annotation:
    reason: str
    kind: str = "other"
    evidence: list[Evidence] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # diff lines (added or removed) this is about

    def to_dict(self) -> dict:
        return {"reason": self.reason, "kind": self.kind,
                "evidence": [e.to_dict() for e in sorted(set(self.evidence))],
                "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, d: dict) -> "Annotation":
        return cls(d.get("reason", ""), d.get("kind", "other"), [Evidence.from_dict(e) for e in d.get("evidence", [])],
                   list(d.get("lines", [])))


@dataclass
class Change:
    path: str
    action: str  # create | modify | delete
    base_sha256: Optional[str]  # None: the file did not exist at the base revision
    content: Optional[str]  # None for a deletion
    annotations: list[Annotation] = field(default_factory=list)

    @property
    def sha256(self) -> Optional[str]:
        return None if self.content is None else hashlib.sha256(self.content.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict:
        return {"path": self.path, "action": self.action, "base_sha256": self.base_sha256,
                "sha256": self.sha256, "content": self.content,
                "annotations": [a.to_dict() for a in self.annotations]}

    @classmethod
    def from_dict(cls, d: dict) -> "Change":
        return cls(d["path"], d["action"], d.get("base_sha256"), d.get("content"),
                   [Annotation.from_dict(a) for a in d.get("annotations", [])])


@dataclass
class Proposal:
    engine: str
    changes: list[Change] = field(default_factory=list)
    report: str = ""
    findings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def change(self, path: str) -> Optional[Change]:
        return next((c for c in self.changes if c.path == path), None)

    def to_dict(self) -> dict:
        return {"engine": self.engine, "changes": [c.to_dict() for c in sorted(self.changes, key=lambda c: c.path)],
                "report": self.report, "findings": self.findings, "stats": self.stats}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "Proposal":
        d = d or {}
        return cls(d.get("engine", "?"), [Change.from_dict(c) for c in d.get("changes", [])], d.get("report", ""),
                   d.get("findings", {}), d.get("stats", {}))


def build_changes(base: dict[str, str], base_sha: dict[str, str], work: dict[str, Optional[str]],
                  notes: dict[str, list[Annotation]]) -> list[Change]:
    """Changes from a base tree and a worked-on copy (None content: deleted)."""
    out = []
    for path in sorted(set(base) | set(work)):
        old = base.get(path)
        new = work.get(path, old)
        if new == old:
            continue
        if new is None:
            action = "delete"
        elif old is None:
            action = "create"
        else:
            action = "modify"
        out.append(Change(path, action, base_sha.get(path) if old is not None else None, new, notes.get(path, [])))
    return out
