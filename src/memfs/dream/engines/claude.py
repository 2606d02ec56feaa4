"""The `claude` engine: the anthropic SDK.

1. Map: the sessions are rendered compactly (every line keeps its transcript reference) and cut
   into batches; sub-agents extract candidate learnings from each batch as structured output (a
   forced `record_learnings` tool call), with bounded parallelism.
2. Integrate: an integrator agent edits a scratch copy of the store with file tools (view,
   create, str_replace, insert, delete, rename; paths under /memories) until it calls `finish`.
   The store snapshot sits in a cached system block (prompt caching).
3. The proposal is the difference between the scratch copy and the base, annotated with the
   reasons and evidence the agent gave for each edit.

Every call goes through `_call`: retries with exponential backoff on overload, rate limits,
server and connection errors; a hard token budget checked before each call (and used to cap
`max_tokens`); cancellation checked between calls; each call logged on the job."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Optional

from ... import errors, paths as pathrules, settings
from ..context import BudgetExceeded, Canceled
from ..proposal import Annotation, Evidence, Proposal, build_changes

NAME = "claude"
DEFAULT_MODEL = "claude-sonnet-5-5"
ROOT = "/memories"

MAP_SYSTEM = """You read transcripts of AI agents' working sessions and extract what is worth
remembering for future sessions that share a memory store: errors that recur and how they were
resolved, corrections made by hooks or users, strategies that ended in success, facts about the
environment, timing regularities, and contradictions between agents. Every learning cites its
evidence: the session id and the [reference] shown before the transcript line. Record nothing
that is not supported by the transcripts. Call record_learnings exactly once."""

INTEGRATOR_SYSTEM = """You maintain a shared memory store of notes used by AI agents. You get the
store's current files and candidate learnings extracted from recent sessions. Improve the store
with the memory tool: merge duplicate notes (keep the provenance of all), mark or replace stale
and contradicted entries (newest supported value wins; delete only with a reason), add lessons
that recur across sessions, add verification notes ("verified on DATE in session S"). Every line
you add must cite its evidence (session ids and transcript references). Give a short `reason`
and the `evidence` with every edit. Paths are under /memories. When done, call finish with a
short report of cross-agent findings."""

RECORD_TOOL = {
    "name": "record_learnings",
    "description": "Record the learnings found in this batch of transcripts.",
    "input_schema": {
        "type": "object",
        "properties": {
            "learnings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["error_pattern", "correction", "strategy", "fact",
                                                            "timing", "contradiction", "other"]},
                        "title": {"type": "string"},
                        "text": {"type": "string"},
                        "evidence": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"session": {"type": "string"}, "ref": {"type": "string"}},
                            "required": ["session"]}},
                    },
                    "required": ["kind", "title", "text", "evidence"],
                },
            }
        },
        "required": ["learnings"],
    },
}

_EVIDENCE = {"type": "array", "items": {"type": "object", "properties": {
    "session": {"type": "string"}, "ref": {"type": "string"}}}}

MEMORY_TOOL = {
    "name": "memory",
    "description": "View and edit the scratch copy of the memory store (paths under /memories).",
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "delete", "rename"]},
            "path": {"type": "string"},
            "view_range": {"type": "array", "items": {"type": "integer"}},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
            "insert_text": {"type": "string"},
            "old_path": {"type": "string"},
            "new_path": {"type": "string"},
            "reason": {"type": "string", "description": "Why this edit (shown to the reviewer)."},
            "evidence": _EVIDENCE,
        },
        "required": ["command"],
    },
}

FINISH_TOOL = {
    "name": "finish",
    "description": "End the consolidation with a short report of cross-agent findings.",
    "input_schema": {"type": "object", "properties": {"report": {"type": "string"}}, "required": ["report"]},
}

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}


def render_session(s, limit: int) -> str:
    """A session as compact lines, each with its transcript reference."""
    out = [f"## session {s.session_id} (agent {s.agent or '-'}, {s.format}, {len(s.turns)} turns)"]
    size = len(out[0])
    calls = {c.id: c for c in s.tool_calls()}

    def add(line):
        nonlocal size
        if size + len(line) < limit:
            out.append(line)
            size += len(line) + 1

    for t in s.turns:
        ref = f"[{t.ref}]"
        if t.correction:
            add(f"{ref} CORRECTION ({t.correction}): {t.text[:800]}")
        elif t.error:
            add(f"{ref} SESSION ERROR: {t.error[:500]}")
        elif t.text and not t.is_meta:
            add(f"{ref} {t.role}: {t.text[:400]}")
        for c in t.tool_calls:
            add(f"[{c.ref}] tool_call {c.name} {json.dumps(c.input, ensure_ascii=False)[:300]}")
        for r in t.tool_results:
            tool = r.tool or (calls[r.tool_use_id].name if r.tool_use_id in calls else "?")
            add(f"[{r.ref}] tool_result {tool}{' ERROR' if r.is_error else ''}: {r.content[:500 if r.is_error else 160]}")
    return "\n".join(out)


class Scratch:
    """The scratch copy of the store the integrator edits; every path confined to the root."""

    def __init__(self, files: dict):
        self.files: dict[str, Optional[str]] = dict(files)
        self.notes: dict[str, list[Annotation]] = {}

    @staticmethod
    def path(p) -> str:
        if not isinstance(p, str) or not p:
            raise ValueError("a path is required")
        if p == ROOT or p.startswith(ROOT + "/"):
            p = p[len(ROOT):] or "/"
        if any(seg == ".." for seg in p.split("/")):
            raise ValueError(f"{p}: '..' is not allowed")
        try:
            return pathrules.normalize(p)
        except errors.MemfsError as e:
            raise ValueError(e.message)

    def live(self):
        return sorted(p for p, t in self.files.items() if t is not None)

    def annotate(self, path, inp, lines):
        reason = inp.get("reason")
        if not reason:
            return
        ev = []
        for e in inp.get("evidence") or []:
            if isinstance(e, dict):
                ev.append(Evidence(session=str(e.get("session") or "") or None, ref=str(e.get("ref") or "") or None))
        self.notes.setdefault(path, []).append(Annotation(str(reason)[:500], "integrated", ev,
                                                          [ln for ln in lines if ln.strip()][:20]))

    def run(self, inp: dict) -> str:
        cmd = inp.get("command")
        if cmd == "view":
            p = self.path(inp.get("path") or ROOT)
            if self.files.get(p) is not None:
                lines = self.files[p].splitlines()
                a, b = 1, len(lines)
                vr = inp.get("view_range")
                if isinstance(vr, list) and len(vr) == 2:
                    a, b = max(1, int(vr[0])), (len(lines) if int(vr[1]) == -1 else int(vr[1]))
                return "\n".join(f"{i:6d}\t{lines[i - 1]}" for i in range(a, min(b, len(lines)) + 1)) or "(empty)"
            prefix = "/" if p == "/" else p + "/"
            under = [f"{len(self.files[x].encode()):>8}  {ROOT}{x}" for x in self.live() if x.startswith(prefix)]
            if not under:
                raise ValueError(f"{ROOT}{p}: no such file or directory")
            return "\n".join(under)
        if cmd == "create":
            p = self.path(inp.get("path"))
            text = inp.get("file_text")
            if not isinstance(text, str):
                raise ValueError("file_text is required")
            self.files[p] = text
            self.annotate(p, inp, text.splitlines())
            return f"created {ROOT}{p}"
        if cmd == "str_replace":
            p = self.path(inp.get("path"))
            cur = self.files.get(p)
            if cur is None:
                raise ValueError(f"{ROOT}{p}: no such file")
            old, new = inp.get("old_str"), inp.get("new_str", "")
            if not isinstance(old, str) or not old:
                raise ValueError("old_str is required")
            n = cur.count(old)
            if n != 1:
                raise ValueError(f"old_str occurs {n} times in {ROOT}{p}; it must occur exactly once")
            self.files[p] = cur.replace(old, new or "")
            self.annotate(p, inp, (new or "").splitlines() or old.splitlines())
            return f"edited {ROOT}{p}"
        if cmd == "insert":
            p = self.path(inp.get("path"))
            cur = self.files.get(p)
            if cur is None:
                raise ValueError(f"{ROOT}{p}: no such file")
            lines = cur.splitlines(True)
            at = inp.get("insert_line")
            if not isinstance(at, int) or not 0 <= at <= len(lines):
                raise ValueError(f"insert_line must be between 0 and {len(lines)}")
            text = inp.get("insert_text") or ""
            if lines and not lines[-1].endswith("\n") and at == len(lines):
                lines[-1] += "\n"
            lines.insert(at, text if text.endswith("\n") else text + "\n")
            self.files[p] = "".join(lines)
            self.annotate(p, inp, text.splitlines())
            return f"inserted into {ROOT}{p} after line {at}"
        if cmd == "delete":
            p = self.path(inp.get("path"))
            gone = [x for x in self.live() if x == p or x.startswith(p.rstrip("/") + "/")]
            if not gone:
                raise ValueError(f"{ROOT}{p}: no such file or directory")
            for x in gone:
                old = self.files[x]
                self.files[x] = None
                self.annotate(x, inp, old.splitlines()[:3])
            return f"deleted {len(gone)} file(s)"
        if cmd == "rename":
            src, dst = self.path(inp.get("old_path")), self.path(inp.get("new_path"))
            if self.files.get(src) is None:
                raise ValueError(f"{ROOT}{src}: no such file")
            if self.files.get(dst) is not None:
                raise ValueError(f"{ROOT}{dst} already exists")
            self.files[dst], self.files[src] = self.files[src], None
            self.annotate(dst, inp, self.files[dst].splitlines()[:3])
            self.annotate(src, inp, [])
            return f"renamed {ROOT}{src} to {ROOT}{dst}"
        raise ValueError(f"unknown command {cmd!r}")


class ClaudeEngine:
    name = NAME

    def __init__(self, model: Optional[str] = None, concurrency: Optional[int] = None,
                 batch_chars: Optional[int] = None, max_retries: Optional[int] = None,
                 retry_base: Optional[float] = None, max_turns: int = 40, client=None):
        env = settings.get
        self.model = model or os.environ.get("MEMFS_DREAM_MODEL") or DEFAULT_MODEL
        self.concurrency = concurrency or env("MEMFS_DREAM_CONCURRENCY")
        self.batch_chars = batch_chars or env("MEMFS_DREAM_BATCH_CHARS")
        self.max_retries = max_retries if max_retries is not None else env("MEMFS_DREAM_MAX_RETRIES")
        self.retry_base = retry_base if retry_base is not None else env("MEMFS_DREAM_RETRY_BASE")
        self.max_turns = max_turns
        self.client = client
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    # -------------------------------------------------------------- calls

    def _client(self):
        if self.client is None:
            import anthropic

            if not os.environ.get("ANTHROPIC_API_KEY"):
                raise errors.InvalidInput("the claude engine needs ANTHROPIC_API_KEY (or use --engine local)")
            self.client = anthropic.Anthropic(max_retries=0)
        return self.client

    def _used(self) -> int:
        u = self.ctx.usage
        return u["input_tokens"] + u["output_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]

    def _call(self, phase: str, **kw):
        """One messages.create with retries and the budget; returns (message, log record)."""
        import anthropic

        budget = self.ctx.budget_tokens
        last = None
        for attempt in range(self.max_retries + 1):
            if self._cancel.is_set():
                raise Canceled("the dream job was canceled")
            with self._lock:
                used = self._used()
            if budget is not None:
                if used >= budget:
                    raise BudgetExceeded(f"the token budget of {budget} is used up ({used} tokens)")
                kw["max_tokens"] = max(1, min(kw.get("max_tokens", 4096), budget - used))
            t0 = time.monotonic()
            try:
                msg = self._client().messages.create(model=self.model, **kw)
            except anthropic.APIStatusError as e:
                last = e
                if e.status_code not in RETRY_STATUSES or attempt == self.max_retries:
                    raise errors.MemfsError(f"the Messages API answered {e.status_code}: {_api_message(e)}")
                wait_s = _retry_after(e) or self.retry_base * (2 ** attempt)
            except anthropic.APIConnectionError as e:
                last = e
                if attempt == self.max_retries:
                    raise errors.MemfsError(f"cannot reach the Messages API: {e}")
                wait_s = self.retry_base * (2 ** attempt)
            else:
                u = msg.usage
                add = {"input_tokens": u.input_tokens or 0, "output_tokens": u.output_tokens or 0,
                       "cache_creation_input_tokens": getattr(u, "cache_creation_input_tokens", 0) or 0,
                       "cache_read_input_tokens": getattr(u, "cache_read_input_tokens", 0) or 0}
                with self._lock:
                    for k, v in add.items():
                        self.ctx.usage[k] += v
                    self.ctx.usage["calls"] = self.ctx.usage.get("calls", 0) + 1
                rec = {"phase": phase, "request": kw, "response": msg.model_dump(mode="json"), "usage": add,
                       "duration": time.monotonic() - t0}
                return msg, rec
            with self._lock:
                self.ctx.usage["retries"] = self.ctx.usage.get("retries", 0) + 1
            if self._cancel.wait(min(wait_s, 60.0)):
                raise Canceled("the dream job was canceled")
        raise errors.MemfsError(f"the Messages API kept failing: {last}")

    def _log(self, rec):
        if self.ctx.job_id:
            self.ctx.m.log_dream_call(self.ctx.job_id, phase=rec["phase"], model=self.model, request=rec["request"],
                                      response=rec["response"], usage=rec["usage"], duration=rec["duration"])

    def _check(self):
        try:
            self.ctx.check_cancel()
        except Canceled:
            self._cancel.set()
            raise

    # -------------------------------------------------------------- the run

    def run(self, ctx) -> Proposal:
        self.ctx = ctx
        if ctx.model:
            self.model = ctx.model
        self._client()
        batches = self.batches(ctx)
        learnings = self.map(batches)
        scratch, report = self.integrate(learnings)
        changes = build_changes(ctx.files, ctx.shas, scratch.files, scratch.notes)
        p = Proposal(NAME, changes, report=(report or "").strip() + "\n",
                     findings={"learnings": learnings},
                     stats={"files": len(ctx.files), "sessions": len(ctx.session_ids), "batches": len(batches),
                            "changes": len(changes), "learnings": len(learnings)})
        return p

    def batches(self, ctx) -> list[str]:
        out, cur = [], []
        size = 0
        for s in ctx.sessions():
            text = render_session(s, self.batch_chars)
            if cur and size + len(text) > self.batch_chars:
                out.append("\n\n".join(cur))
                cur, size = [], 0
            cur.append(text)
            size += len(text)
        if cur:
            out.append("\n\n".join(cur))
        return out

    def map(self, batches: list[str]) -> list[dict]:
        learnings, done = [], 0
        if not batches:
            return []
        instr = f"\n\nThe store owner asks: {self.ctx.instructions}" if self.ctx.instructions else ""

        def extract(i, text):
            msg, rec = self._call("map", max_tokens=4096, system=MAP_SYSTEM + instr, tools=[RECORD_TOOL],
                                  tool_choice={"type": "tool", "name": "record_learnings"},
                                  messages=[{"role": "user", "content": f"Transcripts (batch {i + 1} of "
                                                                        f"{len(batches)}):\n\n{text}"}])
            found = []
            for b in msg.content:
                if b.type == "tool_use" and b.name == "record_learnings" and isinstance(b.input, dict):
                    for x in b.input.get("learnings") or []:
                        if isinstance(x, dict) and x.get("title"):
                            found.append({"kind": str(x.get("kind") or "other"), "title": str(x["title"]),
                                          "text": str(x.get("text") or ""),
                                          "evidence": [e for e in x.get("evidence") or [] if isinstance(e, dict)],
                                          "batch": i})
            return found, rec

        self.ctx.step("extracting learnings", 0, len(batches))
        results: dict[int, list] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            pending = {pool.submit(extract, i, t): i for i, t in enumerate(batches)}
            try:
                while pending:
                    finished, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
                    self._check()
                    for f in finished:
                        i = pending.pop(f)
                        found, rec = f.result()
                        self._log(rec)
                        results[i] = found
                        done += 1
                        self.ctx.step("extracting learnings", done, len(batches))
            except BaseException:
                self._cancel.set()
                for f in pending:
                    f.cancel()
                raise
        for i in sorted(results):
            learnings += results[i]
        return learnings

    def integrate(self, learnings: list[dict]):
        ctx = self.ctx
        scratch = Scratch(ctx.files)
        listing = "\n\n".join(f"=== {ROOT}{p} ===\n{t}" for p, t in sorted(ctx.files.items())) or "(the store is empty)"
        system = [{"type": "text", "text": INTEGRATOR_SYSTEM},
                  {"type": "text", "text": f"The store {ctx.store.name} at revision {ctx.base_rev}:\n\n{listing}",
                   "cache_control": {"type": "ephemeral"}}]
        user = "Candidate learnings from the sessions:\n" + json.dumps(learnings, indent=1, ensure_ascii=False)
        if ctx.instructions:
            user += f"\n\nThe store owner asks: {ctx.instructions}"
        messages = [{"role": "user", "content": user}]
        report = None
        self.ctx.step("integrating", 0, self.max_turns)
        for turn in range(self.max_turns):
            self._check()
            msg, rec = self._call("integrate", max_tokens=8192, system=system, tools=[MEMORY_TOOL, FINISH_TOOL],
                                  messages=messages)
            self._log(rec)
            self.ctx.step("integrating", turn + 1, self.max_turns)
            content = [b.model_dump(mode="json", exclude_none=True) for b in msg.content]
            messages.append({"role": "assistant", "content": content})
            uses = [b for b in msg.content if b.type == "tool_use"]
            texts = [b.text for b in msg.content if b.type == "text"]
            if msg.stop_reason != "tool_use" or not uses:
                report = report or "\n".join(texts)
                break
            results = []
            finished = False
            for b in uses:
                inp = b.input if isinstance(b.input, dict) else {}
                if b.name == "finish":
                    report = str(inp.get("report") or "")
                    finished = True
                    results.append({"type": "tool_result", "tool_use_id": b.id, "content": "done"})
                    continue
                if b.name != "memory":
                    results.append({"type": "tool_result", "tool_use_id": b.id, "content": f"unknown tool {b.name}",
                                    "is_error": True})
                    continue
                try:
                    out = scratch.run(inp)
                    results.append({"type": "tool_result", "tool_use_id": b.id, "content": out})
                except (ValueError, TypeError) as e:
                    results.append({"type": "tool_result", "tool_use_id": b.id, "content": f"Error: {e}",
                                    "is_error": True})
            messages.append({"role": "user", "content": results})
            if finished:
                break
        else:
            report = (report or "") + f"\n(the integrator stopped after {self.max_turns} turns)"
        return scratch, report


def _retry_after(e) -> Optional[float]:
    try:
        v = e.response.headers.get("retry-after")
        return min(float(v), 60.0) if v else None
    except Exception:
        return None


def _api_message(e) -> str:
    try:
        body = e.response.json()
        return f"{body['error']['type']}: {body['error']['message']}"
    except Exception:
        return str(e)[:300]
