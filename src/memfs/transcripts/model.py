"""The one internal model every transcript reader produces.

A `Session` is a list of `Turn`s in conversation order (threaded, not file order). A turn holds
the text, the tool calls made in it and the tool results it carries. Errors (failed tool
results, session errors) and corrections (hook feedback, user rejections and interrupts,
denied permissions) are flagged where they happen, each with a `Ref` back to its source:
`file:line` for line-based formats, `file#/json/pointer` for whole-JSON files, and
`memfs:revision/N` or `memfs:conflict/N` for the mount's own record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True, order=True)
class Ref:
    """Where something came from: a file and a line (or a JSON pointer)."""

    file: str
    line: int = 0
    pointer: str = ""

    def __str__(self) -> str:
        if self.pointer:
            return f"{self.file}#{self.pointer}"
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class ToolResult:
    tool_use_id: str
    content: str
    is_error: bool
    ref: Ref
    tool: Optional[str] = None  # the name of the tool whose call this answers, when known


@dataclass
class ToolCall:
    id: str
    name: str
    input: dict
    ref: Ref
    result: Optional[ToolResult] = None

    @property
    def failed(self) -> bool:
        return self.result is not None and self.result.is_error


@dataclass
class Turn:
    role: str  # user | assistant | system
    text: str
    ref: Ref
    timestamp: Optional[float] = None
    uuid: Optional[str] = None
    parent: Optional[str] = None
    message_id: Optional[str] = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)  # every source line merged into this turn
    is_meta: bool = False
    correction: Optional[str] = None  # hook | user_rejection | interrupt | permission_denied | user
    error: Optional[str] = None  # a session-level error carried by this turn (not a tool result)
    sidechain: bool = False
    agent_id: Optional[str] = None  # a sub-agent's id


@dataclass
class Finding:
    """An error or a correction, flattened for mining."""

    kind: str  # error | correction
    session: str
    agent: Optional[str]
    text: str
    ref: Ref
    tool: Optional[str] = None
    timestamp: Optional[float] = None
    subkind: Optional[str] = None  # for corrections: hook, user_rejection, ...
    turn_index: int = 0
    call_input: Optional[dict] = None


@dataclass
class Problem:
    """A line that could not be read (`unparseable`) or a record that made no sense (`malformed`)."""

    ref: Ref
    kind: str  # unparseable | malformed
    reason: str


@dataclass
class Session:
    session_id: str
    format: str
    source: str
    agent: Optional[str] = None
    turns: list[Turn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0
    started_at: Optional[float] = None
    ended_at: Optional[float] = None
    cwd: Optional[str] = None
    model: Optional[str] = None
    summary: Optional[str] = None
    stores: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # every file merged into this session

    @property
    def unparseable(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "unparseable"]

    @property
    def malformed(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "malformed"]

    def tool_calls(self) -> list[ToolCall]:
        return [c for t in self.turns for c in t.tool_calls]

    def findings(self) -> list[Finding]:
        """Every error and correction, in conversation order."""
        out = []
        calls = {c.id: c for c in self.tool_calls()}
        for i, t in enumerate(self.turns):
            if t.error:
                out.append(Finding("error", self.session_id, self.agent, t.error, t.ref, None, t.timestamp,
                                   turn_index=i))
            for r in t.tool_results:
                call = calls.get(r.tool_use_id)
                tool = r.tool or (call.name if call else None)
                inp = call.input if call else None
                kind = correction_of_result(r.content)
                if kind:
                    out.append(Finding("correction", self.session_id, self.agent, r.content, r.ref, tool,
                                       t.timestamp, kind, i, inp))
                if r.is_error:
                    out.append(Finding("error", self.session_id, self.agent, r.content, r.ref, tool, t.timestamp,
                                       None, i, inp))
            if t.correction and not t.tool_results:
                out.append(Finding("correction", self.session_id, self.agent, t.text, t.ref, None, t.timestamp,
                                   t.correction, i))
        return out

    def errors(self) -> list[Finding]:
        return [f for f in self.findings() if f.kind == "error"]

    def corrections(self) -> list[Finding]:
        return [f for f in self.findings() if f.kind == "correction"]

    def stats(self) -> dict:
        f = self.findings()
        return {"turns": len(self.turns), "tool_calls": len(self.tool_calls()),
                "errors": sum(1 for x in f if x.kind == "error"),
                "corrections": sum(1 for x in f if x.kind == "correction"),
                "unparseable": len(self.unparseable), "malformed": len(self.malformed), "lines": self.lines}

    def merge(self, other: "Session") -> None:
        """Fold another file of the same session (a sub-agent's) into this one."""
        self.turns.extend(other.turns)
        self.problems.extend(other.problems)
        self.lines += other.lines
        self.sources.extend(s for s in other.sources if s not in self.sources)
        for a in ("started_at",):
            if other.started_at is not None and (self.started_at is None or other.started_at < self.started_at):
                self.started_at = other.started_at
        if other.ended_at is not None and (self.ended_at is None or other.ended_at > self.ended_at):
            self.ended_at = other.ended_at
        self.agent = self.agent or other.agent
        self.stores = sorted(set(self.stores) | set(other.stores))


HOOK_MARKERS = ("hook feedback", "hook blocking error", "hook error", "blocked by hook", "hook returned")
REJECTION_MARKERS = ("the user doesn't want to proceed with this tool use", "user rejected", "tool use was rejected")
DENIED_MARKERS = ("permission to use", "has been denied")
INTERRUPT_MARKERS = ("[request interrupted by user",)


def correction_of_text(text: str, is_meta: bool) -> Optional[str]:
    """What kind of correction a user turn's text is, if any."""
    low = (text or "").lower()
    if any(m in low for m in HOOK_MARKERS) and (is_meta or low.lstrip().startswith(("stop hook", "pretooluse",
                                                                                      "posttooluse", "hook"))):
        return "hook"
    if any(m in low[:200] for m in INTERRUPT_MARKERS):
        return "interrupt"
    return None


def correction_of_result(content: str) -> Optional[str]:
    """A tool result that says the user (or a permission rule, or a hook) stopped the call."""
    low = (content or "").lower()[:600]
    if any(m in low for m in REJECTION_MARKERS):
        return "user_rejection"
    if all(m in low for m in DENIED_MARKERS):
        return "permission_denied"
    if any(m in low for m in HOOK_MARKERS):
        return "hook"
    return None
