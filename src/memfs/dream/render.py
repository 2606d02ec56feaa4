"""`memfs dream show`: a job as a coloured unified diff, each hunk preceded by its reasons and
evidence (sessions, transcript line references, revisions)."""

from __future__ import annotations

import difflib
import io
from typing import Optional

from rich.console import Console
from rich.text import Text

from .. import errors, paths as pathrules
from ..config import fmt_time
from . import explain
from .engines.text import plural
from .proposal import Annotation, Change, Proposal

EVIDENCE_SHOWN = 6


def hunks(a: list[str], b: list[str], n: int = 3):
    """Unified-diff hunks: (header, [(tag, line)]), tag in ' ', '-', '+'."""
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in sm.get_grouped_opcodes(n):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        header = f"@@ -{i1 + 1 if i2 > i1 else i1},{i2 - i1} +{j1 + 1 if j2 > j1 else j1},{j2 - j1} @@"
        lines = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [(" ", x) for x in a[a1:a2]]
                continue
            if tag in ("replace", "delete"):
                lines += [("-", x) for x in a[a1:a2]]
            if tag in ("replace", "insert"):
                lines += [("+", x) for x in b[b1:b2]]
        yield header, lines


def place(annotations: list[Annotation], hs: list) -> list[list[Annotation]]:
    """Give each annotation to the hunks whose changed lines it names (the first hunk otherwise)."""
    out = [[] for _ in hs]
    for a in annotations:
        want = {x.rstrip() for x in a.lines}
        hit = False
        for k, (_, lines) in enumerate(hs):
            if want & {x.rstrip() for t, x in lines if t != " "}:
                out[k].append(a)
                hit = True
                break
        if not hit and out:
            out[0].append(a)
    return out


def render_change(con: Console, ch: Change, base: Optional[str], state: Optional[str] = None) -> None:
    a = (base or "").splitlines()
    b = (ch.content or "").splitlines()
    label = {"create": "new file", "delete": "deleted", "modify": "modified"}[ch.action]
    extra = f"  [{state}]" if state else ""
    con.print(Text(f"{label}: {ch.path}{extra}", style="bold"))
    con.print(Text(f"--- {'a' + ch.path if ch.action != 'create' else '/dev/null'}"
                   f"{'  (base ' + ch.base_sha256[:12] + ')' if ch.base_sha256 else ''}", style="bold red"))
    con.print(Text(f"+++ {'b' + ch.path if ch.action != 'delete' else '/dev/null'}", style="bold green"))
    hs = list(hunks(a, b))
    placed = place(ch.annotations, hs)
    for (header, lines), notes in zip(hs, placed):
        for note in notes:
            con.print(Text(f"# why: {note.reason} [{note.kind}]", style="yellow"))
            ev = sorted(set(note.evidence))
            for e in ev[:EVIDENCE_SHOWN]:
                con.print(Text(f"#   evidence: {e}", style="dim yellow"))
            if len(ev) > EVIDENCE_SHOWN:
                con.print(Text(f"#   ... and {len(ev) - EVIDENCE_SHOWN} more", style="dim yellow"))
        con.print(Text(header, style="cyan"))
        for tag, line in lines:
            con.print(Text(tag + line, style={"-": "red", "+": "green", " ": ""}[tag]))
    con.print()


def job_header(job) -> list[str]:
    ins = job.inputs
    usage = job.usage or {}
    lines = [f"dream {job.id}  store {job.store_name}  engine {job.engine}"
             f"{'  model ' + job.model if job.model else ''}",
             f"status {job.status}  review {job.review}  base revision {job.base_rev}  "
             f"created {fmt_time(job.created_at)}  ended {fmt_time(job.ended_at)}",
             f"sessions {len(ins.sessions or [])}  transcripts {len(ins.transcripts)}"
             + (f"  since {fmt_time(ins.since)}" if ins.since else "")]
    if usage.get("input_tokens") or usage.get("output_tokens"):
        lines.append("usage " + "  ".join(f"{k} {v}" for k, v in sorted(usage.items())))
    if job.error:
        lines.append(f"error {job.error.get('type')}: {job.error.get('message')}")
    if job.instructions:
        lines.append(f"instructions: {job.instructions}")
    return lines + explain.lines(ins.explain, job.store_name)


def render_job(m, job, *, color: bool = False, width: int = 120, paths: Optional[list] = None) -> str:
    buf = io.StringIO()
    con = Console(file=buf, force_terminal=color, no_color=not color, color_system="standard" if color else None,
                  width=width, highlight=False, soft_wrap=True, emoji=False, markup=False)
    for ln in job_header(job):
        con.print(Text(ln, style="bold"))
    proposal = Proposal.from_dict(job.proposal) if job.proposal else None
    if paths:  # as `dream apply JOB PATH` takes them: a path the proposal does not change is an error
        paths = {pathrules.normalize(p) for p in paths}
        unknown = paths - {c.path for c in (proposal.changes if proposal else [])}
        if unknown:
            raise errors.NotFound(f"the proposal of {job.id} does not change {', '.join(sorted(unknown))}")
    if proposal is None:
        return buf.getvalue()
    con.print()
    for ln in proposal.report.splitlines():
        con.print(Text(ln, style="magenta"))
    con.print()
    files = (job.applied or {}).get("files", {})
    conflicts = (job.applied or {}).get("conflicts", {})
    for ch in proposal.changes:
        if paths and ch.path not in paths:
            continue
        base = m.blob(ch.base_sha256).decode("utf-8", "replace") if ch.base_sha256 else None
        state = files.get(ch.path, {}).get("status") or ("conflict" if ch.path in conflicts else None)
        render_change(con, ch, base, state)
    counts = {k: sum(1 for c in proposal.changes if c.action == k) for k in ("modify", "create", "delete")}
    con.print(Text(f"{plural(len(proposal.changes), 'file')}: {counts['modify']} modified, {counts['create']} created, "
                   f"{counts['delete']} deleted", style="bold"))
    return buf.getvalue()
