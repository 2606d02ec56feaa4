"""Applying a proposal without clobbering anyone, and undoing it.

Each changed file is committed as its own revision attributed to the job (actor `dream`), with
the file's hash at the job's base revision as the precondition. A file an agent changed since
the base is never overwritten: it is reported as a conflict, and where the agent's edits and the
dream's do not overlap a three-way merge (merge3) is offered, applied with `merge=True` (its
precondition then is the agent's current content)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

import merge3

from .. import errors, paths as pathrules
from ..store import FILE, Identity
from .proposal import Annotation, Change, Proposal


def dream_identity(job) -> Identity:
    return Identity(agent="memfs-dream", session=job.id, actor="dream", dream_job=job.id)


@dataclass
class Outcome:
    path: str
    action: str
    status: str  # applied | merged | already | conflict | skipped
    revision: Optional[int] = None
    reason: str = ""
    merge_available: bool = False
    merged: Optional[str] = None  # the clean three-way merge, when there is one
    hook_refused: bool = False  # a write hook refused the content: it is not kept in the job either

    def to_dict(self) -> dict:
        d = {"path": self.path, "action": self.action, "status": self.status, "revision": self.revision,
             "reason": self.reason, "merge_available": self.merge_available}
        return d


@dataclass
class ApplyReport:
    job_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def conflicts(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "conflict"]

    @property
    def applied(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("applied", "merged", "already")]


def three_way(base: str, ours: str, theirs: str) -> Optional[str]:
    """The merge of two edits of `base`, or None where they overlap."""
    m3 = merge3.Merge3(base.splitlines(True), ours.splitlines(True), theirs.splitlines(True))
    if any(r[0] == "conflict" for r in m3.merge_regions()):
        return None
    return "".join(m3.merge_lines())


def _text(data: bytes) -> Optional[str]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def screen(m, store, job, proposal: Proposal) -> Proposal:
    """Run the store's write hooks over every proposed file before the proposal is stored, as
    `apply` would: content a hook refuses is not kept anywhere (the proposal drops the file and
    keeps only the refusal: path, hook, reason); a hook's redaction replaces the content. The
    report and the findings quote what the engine read, so the hooks see them too (as the files
    /.memfs/dreams/JOB/report.md and findings.json): refused, they are left out."""
    if not m.hooks(store):
        return proposal
    ident = dream_identity(job)

    def screened(name: str, text: str) -> Optional[str]:
        try:
            data, _ = m.run_write_hooks(store, f"/.memfs/dreams/{job.id}/{name}", text.encode("utf-8"),
                                        identity=ident)
        except errors.HookRefused:
            return None
        return _text(data)

    kept, refused = [], []
    for ch in proposal.changes:
        if ch.content is None:
            kept.append(ch)
            continue
        try:
            data, note = m.run_write_hooks(store, ch.path, ch.content.encode("utf-8"), identity=ident,
                                           operation="create" if ch.base_sha256 is None else "write")
        except errors.HookRefused as e:
            refused.append({"path": ch.path, "hook_id": e.hook_id, "reason": e.reason})
            continue
        if note:
            text = _text(data)
            if text is None:  # a proposal holds text: a binary redaction cannot stand in for it
                refused.append({"path": ch.path, "hook_id": None, "reason": f"{note} (to content that is not text)"})
                continue
            ch.content = text
            ch.annotations.append(Annotation(note, "other"))
        kept.append(ch)
    proposal.changes = kept
    report = screened("report.md", proposal.report) if proposal.report else ""
    proposal.report = report if report is not None else "(the report was refused by a write hook: not kept)"
    findings = screened("findings.json", json.dumps(proposal.findings, sort_keys=True)) if proposal.findings else "{}"
    try:
        proposal.findings = json.loads(findings) if findings is not None else {}
    except ValueError:  # a redaction that is no longer JSON
        proposal.findings = {}
    if refused:
        # the report and findings about a refused file quote it (a lesson's title, say), in forms
        # the hook may not recognise: they go with it
        gone = {r["path"] for r in refused}
        proposal.findings = {k: [x for x in v if not _mentions(x, gone)] if isinstance(v, list) else v
                             for k, v in proposal.findings.items()}
        proposal.findings["refused_by_hooks"] = refused
        proposal.report = (f"{len(kept)} {'file' if len(kept) == 1 else 'files'} to change. The engine's report "
                           "is not kept: it may quote what the store's write hooks refused.")
        proposal.report += "".join(f"\nRefused by the store's write hooks, not kept: {r['path']} ({r['reason']})"
                                   for r in refused)
    return proposal


def _mentions(item, paths: set) -> bool:
    """Whether a finding names one of `paths` (as a path, or PATH:LINE)."""
    text = json.dumps(item)
    return any(f'"{p}"' in text or f'"{p}:' in text for p in paths)


def plan_change(m, store, ch: Change) -> Outcome:
    """What applying one change would do now, without writing."""
    node = m.lookup(store, ch.path)
    cur_sha = node.sha256 if node is not None and node.kind == FILE else None
    if node is not None and node.kind != FILE:
        return Outcome(ch.path, ch.action, "conflict", reason=f"{ch.path} is a {node.kind} now")
    if cur_sha == ch.sha256:
        return Outcome(ch.path, ch.action, "already", reason="the store already has this content")
    if cur_sha == ch.base_sha256:
        return Outcome(ch.path, ch.action, "applied")
    # changed since the base revision by someone else
    if ch.action == "modify" and cur_sha is not None and ch.base_sha256 is not None:
        base = _text(m.blob(ch.base_sha256))
        cur = _text(m.blob(cur_sha))
        if base is not None and cur is not None:
            merged = three_way(base, cur, ch.content)
            if merged is not None:
                return Outcome(ch.path, ch.action, "conflict", merge_available=True, merged=merged,
                               reason="changed since the dream's base; the edits do not overlap: a three-way merge "
                                      "is available (apply --merge)")
            return Outcome(ch.path, ch.action, "conflict",
                           reason="changed since the dream's base and the edits overlap: not applied")
    if cur_sha is None:
        return Outcome(ch.path, ch.action, "conflict", reason="deleted since the dream's base: not applied")
    return Outcome(ch.path, ch.action, "conflict", reason="changed since the dream's base: not applied")


def apply_proposal(m, store, job, proposal: Proposal, paths: Optional[Iterable[str]] = None, *,
                   merge: bool = False, dry_run: bool = False) -> ApplyReport:
    want = None
    if paths:
        want = {pathrules.normalize(p) for p in paths}
        unknown = want - {c.path for c in proposal.changes}
        if unknown:
            raise errors.NotFound(f"the proposal of {job.id} does not change {', '.join(sorted(unknown))}")
    ident = dream_identity(job)
    rep = ApplyReport(job.id, dry_run=dry_run)
    for ch in sorted(proposal.changes, key=lambda c: c.path):
        if want is not None and ch.path not in want:
            continue
        o = plan_change(m, store, ch)
        if o.status == "conflict" and o.merge_available and merge:
            o.status = "merged"
        if dry_run or o.status not in ("applied", "merged"):
            rep.outcomes.append(o)
            continue
        msg = f"dream {job.id}: " + "; ".join(a.reason for a in ch.annotations[:3])[:500]
        try:
            if o.status == "merged":
                cur = m.lookup(store, ch.path)
                r = m.write(store, ch.path, o.merged.encode("utf-8"), if_match=cur.sha256, identity=ident,
                            message=msg + " (three-way merge)")
                o.revision = r.revision.id if r.revision else None
            elif ch.action == "delete":
                o.revision = m.delete(store, ch.path, if_match=ch.base_sha256, identity=ident, message=msg).id
            elif ch.base_sha256 is None:
                r = m.write(store, ch.path, ch.content.encode("utf-8"), if_absent=True, identity=ident, message=msg)
                o.revision = r.revision.id if r.revision else None
            else:
                r = m.write(store, ch.path, ch.content.encode("utf-8"), if_match=ch.base_sha256, identity=ident,
                            message=msg)
                o.revision = r.revision.id if r.revision else None
        except errors.PreconditionFailed:
            # an agent wrote between the check and the commit: report it like any other conflict
            o = plan_change(m, store, ch)
            if o.status != "conflict":
                o = Outcome(ch.path, ch.action, "conflict", reason="changed while applying: not applied")
        except errors.HookRefused as e:
            # the store's write hook said no to this file: the others go on
            o = Outcome(ch.path, ch.action, "conflict", hook_refused=True,
                        reason=f"refused by write hook {e.hook_id}: {e.reason or e.message}")
        rep.outcomes.append(o)
    return rep


def record(m, job, rep: ApplyReport, proposal: Proposal):
    """Remember what was applied on the job (per path: revision, hashes), and its review state."""
    applied = dict(job.applied or {})
    files = dict(applied.get("files", {}))
    for o in rep.outcomes:
        if o.status in ("applied", "merged", "already"):
            ch = proposal.change(o.path)
            prev = files.get(o.path, {})
            files[o.path] = {"status": o.status, "revision": o.revision or prev.get("revision"),
                             "sha256": (m.lookup(job.store_id, o.path).sha256 if m.lookup(job.store_id, o.path) else None),
                             "base_sha256": ch.base_sha256, "action": ch.action}
    conflicts = {o.path: o.reason for o in rep.conflicts if o.path not in files}
    applied["files"] = files
    applied["conflicts"] = conflicts
    done = set(files)
    review = "applied" if done >= {c.path for c in proposal.changes} else ("partially_applied" if done else job.review)
    kw = {}
    refused = {o.path for o in rep.outcomes if o.hook_refused}
    if refused:  # a hook refused that content to keep it out of the store: the proposal drops it too
        proposal.changes = [c for c in proposal.changes if c.path not in refused]
        kw["proposal"] = proposal.to_dict()
    return m.update_dream_job(job.id, applied=applied, review=review, applied_at=time.time(), **kw)


def revert_job(m, store, job, *, dry_run: bool = False) -> ApplyReport:
    """Undo what a job applied, as new revisions (actor dream). A file changed since the dream
    wrote it is left alone and reported as a conflict."""
    ident = Identity(agent="memfs-dream", session=job.id, actor="dream", dream_job=job.id)
    rep = ApplyReport(job.id, dry_run=dry_run)
    files = (job.applied or {}).get("files", {})
    for path in sorted(files, reverse=True):
        info = files[path]
        if info.get("status") == "reverted" or not info.get("revision"):
            continue
        rev = m.revision(info["revision"])
        node = m.lookup(store, path)
        cur = node.sha256 if node is not None else None
        if cur != rev.sha256:
            rep.outcomes.append(Outcome(path, info["action"], "conflict",
                                        reason="changed since the dream applied it: not reverted"))
            continue
        if dry_run:
            rep.outcomes.append(Outcome(path, info["action"], "applied", reason="would be reverted"))
            continue
        msg = f"revert dream {job.id}"
        try:
            if rev.prev_sha256 is None and rev.op != "delete":
                r = m.delete(store, path, if_match=rev.sha256, identity=ident, message=msg)
                rid = r.id
            elif rev.op == "delete":
                r = m.write(store, path, m.blob(rev.prev_sha256), if_absent=True, identity=ident, message=msg)
                rid = r.revision.id if r.revision else None
            else:
                r = m.write(store, path, m.blob(rev.prev_sha256), if_match=rev.sha256, identity=ident, message=msg)
                rid = r.revision.id if r.revision else None
        except errors.PreconditionFailed:
            rep.outcomes.append(Outcome(path, info["action"], "conflict", reason="changed while reverting"))
            continue
        except errors.HookRefused as e:
            rep.outcomes.append(Outcome(path, info["action"], "conflict", reason=f"refused by a write hook: {e.reason}"))
            continue
        rep.outcomes.append(Outcome(path, info["action"], "applied", revision=rid, reason="reverted"))
    if not dry_run:
        applied = dict(job.applied or {})
        files = {p: dict(v) for p, v in files.items()}
        for o in rep.outcomes:
            if o.status == "applied":
                files[o.path]["status"] = "reverted"
                files[o.path]["reverted_by"] = o.revision
        applied["files"] = files
        left = [p for p, v in files.items() if v.get("status") != "reverted" and v.get("revision")]
        m.update_dream_job(job.id, applied=applied, review="reverted" if not left else job.review)
    return rep
