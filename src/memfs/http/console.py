"""The web console (`/`; its files, memfs/http/static/, under `/console/`) and the JSON it reads
that Anthropic's API has no place for, under `/v1/memfs/`: who the key is, stores with their size
and activity, a store's tree, a file's history, a diff of two versions, blame, the audit log with
filters, conflicts, writes per hour per agent, and search (memfs grep).

Each route is a few lines over one `Memfs` call, with the scope check of every other route
(`Ctx.store`: 404 outside the key's scope). Everything here reads; the console's writes (redact,
dream apply, reject, revert) go to the routes that already exist for them, so a read-only key is
refused there (403) whatever the page shows (dream reject and revert live in dreams.py). The page
itself holds no data and needs no key: it asks for one and sends it as `x-api-key` on every call."""

from __future__ import annotations

import time
from collections import Counter
from importlib import resources
from typing import Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, Response

from .. import errors
from ..store import DIR, VERSION_OPS, Revision
from . import ids, render

Op = Literal["create", "write", "rename", "delete", "mkdir", "rmdir", "chmod", "symlink"]
MAX_LOG = 1000
MAX_REV = 2**63 - 1  # revision ids are SQLite integers
MAX_ACTIVITY_ROWS = 50_000  # an activity chart of a busier store counts only its newest writes
ASSETS = {"app.js": "text/javascript", "console.css": "text/css", "index.html": "text/html"}
# the page loads nothing but its own files, and no other site may frame it
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _single(request: Request) -> None:
    """Every parameter here takes one value: a repeated one is refused, not silently cut to one."""
    for k in request.query_params:
        if len(request.query_params.getlist(k)) > 1:
            raise errors.InvalidInput(f"{k}: give it once")


def _arg(value: Optional[str], name: str) -> Optional[str]:
    """Query strings may carry lone surrogates and NULs; SQLite and the path rules want text."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidInput(f"{name}: not valid Unicode text (lone surrogate)") from None
    if "\x00" in value:
        raise errors.InvalidInput(f"{name}: contains a NUL character")
    return value


def _path(value: str) -> str:
    value = _arg(value, "path")
    if not value.startswith("/"):
        raise errors.InvalidInput(f"path must start with '/': {value!r}")
    return value


def revision(r: Revision) -> dict:
    """A revision as the console shows it: every attribution field, times in RFC 3339, and the
    memory version id where it is one (what redact takes)."""
    is_version = r.kind == "file" and r.op in VERSION_OPS
    return {"id": r.id, "version_id": ids.version_id(r.id) if is_version else None,
            "memory_id": ids.memory_id(r.node_id), "op": r.op, "kind": r.kind, "path": r.path,
            "old_path": r.old_path, "sha256": r.sha256, "prev_sha256": r.prev_sha256, "size": r.size,
            "agent": r.agent, "session": r.session, "actor": r.actor, "dream_job": r.dream_job,
            "api_key_id": r.api_key_id, "message": r.message, "created_at": render.ts(r.created_at),
            "redacted_at": render.ts(r.redacted_at)}


def add_routes(app: FastAPI, ctx) -> None:
    P = "/v1/memfs"
    S = P + "/stores/{memory_store_id}"
    tags = ["memfs console"]

    def single_ctx(request: Request):
        _single(request)
        return ctx(request)

    # ------------------------------------------------------------ the page

    here = resources.files("memfs.http") / "static"

    def asset(name: str) -> Response:
        resp = FileResponse(str(here / name), media_type=ASSETS[name])
        resp.headers["content-security-policy"] = CSP
        resp.headers["x-content-type-options"] = "nosniff"
        resp.headers["cache-control"] = "no-cache"
        return resp

    @app.get("/", include_in_schema=False)
    def console_page():
        return asset("index.html")

    @app.get("/console/{name}", include_in_schema=False)
    def console_asset(name: str):
        if name not in ASSETS:
            raise errors.NotFound(f"no console file {name!r}")
        return asset(name)

    # ------------------------------------------------------------ who is asking

    @app.get(P + "/whoami", response_model=None, tags=tags)
    def whoami(request: Request):
        """The key's id, name and scopes (store id -> ro|rw), so that the console shows only the
        controls the key may use; `key` is null on a server with no keys (loopback, open)."""
        c = single_ctx(request)
        k = c.key
        access = {s.uid: c.access(s) for s in c.m.list_stores()}
        stores = {uid: acc for uid, acc in access.items() if acc}
        return {"type": "whoami", "key": None if k is None else {"id": k.id, "name": k.name},
                "all_stores": "rw" if k is None else k.all_stores,
                "can_create_stores": k is None or k.all_stores == "rw", "stores": stores}

    # ------------------------------------------------------------ stores

    @app.get(P + "/stores", response_model=None, tags=tags)
    def stores(request: Request, include_archived: bool = False):
        """Every store the key can see, with its access, size, file count and last write."""
        c = single_ctx(request)
        out = []
        for s in c.m.list_stores(include_archived=include_archived):
            acc = c.access(s)
            if not acc:
                continue
            last = c.m.log(s, limit=1)
            out.append({**render.store(s), "access": acc, "usage": c.m.usage(s),
                        "last_activity_at": render.ts(last[0].created_at) if last else None,
                        "last_agent": last[0].agent if last else None, "head": last[0].id if last else 0})
        return {"data": out}

    @app.get(S + "/tree", response_model=None, tags=tags)
    def tree(request: Request, memory_store_id: str, rev: Optional[int] = Query(None, ge=1, le=MAX_REV)):
        """Every file and directory of the store, now or at a revision, in path order."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        entries = c.m.tree(s, rev)
        return {"data": [{"path": e.path, "kind": e.kind, "size": e.size, "sha256": e.sha256, "rev": e.rev,
                          "memory_id": ids.memory_id(e.node_id)}
                         for p, e in sorted(entries.items()) if p != "/"]}

    @app.get(S + "/file", response_model=None, tags=tags)
    def file(request: Request, memory_store_id: str, path: str, rev: Optional[int] = Query(None, ge=1, le=MAX_REV)):
        """A file's content (null when it is not UTF-8 text), now or at a revision."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        e = c.m.stat(s, _path(path), rev=rev)
        if e.kind == DIR:
            raise errors.IsADirectory(f"{path} is a directory")
        text = render.text_of(c.m.blob(e.sha256))
        return {"path": e.path, "kind": e.kind, "sha256": e.sha256, "size": e.size, "rev": e.rev,
                "memory_id": ids.memory_id(e.node_id), "content": text, "binary": text is None}

    @app.get(S + "/history", response_model=None, tags=tags)
    def history(request: Request, memory_store_id: str, path: str):
        """Every revision of the file at `path`, newest first, across renames."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        return {"data": [revision(r) for r in c.m.history(s, _path(path))]}

    @app.get(S + "/diff", response_model=None, tags=tags)
    def diff(request: Request, memory_store_id: str, path: str, a: Optional[int] = Query(None, ge=0, le=MAX_REV),
             b: Optional[int] = Query(None, ge=0, le=MAX_REV), context: int = Query(3, ge=0, le=1000)):
        """Unified diff of a file between revisions `a` and `b` (0: before it existed; no `b`:
        now; neither: its last change)."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        return {"path": path, "a": a, "b": b, "diff": c.m.diff(s, _path(path), a, b, context=context)}

    @app.get(S + "/blame", response_model=None, tags=tags)
    def blame(request: Request, memory_store_id: str, path: str):
        """Each current line with the revision that last introduced it."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        return {"path": path, "lines": [{"n": n, "text": text, "rev": r.id, "agent": r.agent, "session": r.session,
                                         "created_at": render.ts(r.created_at)}
                                        for n, (r, text) in enumerate(c.m.blame(s, _path(path)), 1)]}

    @app.get(S + "/log", response_model=None, tags=tags)
    def audit_log(request: Request, memory_store_id: str, path: Optional[str] = None, agent: Optional[str] = None,
                  session: Optional[str] = None, op: Optional[Op] = None, since: Optional[str] = None,
                  until: Optional[str] = None, limit: int = Query(200, ge=1, le=MAX_LOG)):
        """The store's revisions, newest first, filtered by path (and below), agent, session,
        operation and time (RFC 3339). `more` says the limit cut the list."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        revs = c.m.log(s, _path(path) if path else None, agent=_arg(agent, "agent"), session=_arg(session, "session"),
                       ops=[op] if op else None,
                       since=render.parse_ts(since, "since", -1) if since else None,
                       until=render.parse_ts(until, "until", 1) if until else None, limit=limit + 1)
        return {"data": [revision(r) for r in revs[:limit]], "more": len(revs) > limit}

    @app.get(S + "/conflicts", response_model=None, tags=tags)
    def conflicts(request: Request, memory_store_id: str, session: Optional[str] = None):
        """Writes the store refused: a stale base (with the refused content), or a write hook (hook_id;
        its content is never kept)."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        out = []
        for x in c.m.conflicts(s, session=_arg(session, "session")):
            out.append({"id": x.id, "path": x.path, "memory_id": ids.memory_id(x.node_id) if x.node_id else None,
                        "agent": x.agent, "session": x.session, "created_at": render.ts(x.created_at),
                        "reason": x.reason, "base_sha256": x.base_sha256, "current_sha256": x.current_sha256,
                        "current_rev": x.current_rev, "sha256": x.sha256, "hook_id": x.hook_id,
                        "content": render.text_of(c.m.blob(x.sha256)) if x.sha256 else None})
        return {"data": out}

    @app.get(S + "/activity", response_model=None, tags=tags)
    def activity(request: Request, memory_store_id: str, hours: int = Query(48, ge=1, le=24 * 31)):
        """Revisions per hour per agent over the last `hours` hours: what the store's chart draws."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        now = time.time()
        start = (int(now) // 3600 - hours + 1) * 3600
        counts = Counter((int(r.created_at) // 3600 * 3600, r.agent or r.actor)
                         for r in c.m.log(s, since=start, limit=MAX_ACTIVITY_ROWS))
        agents = sorted({a for _, a in counts})
        return {"hours": hours, "start": render.ts(start), "agents": agents,
                "buckets": [{"hour": render.ts(start + i * 3600),
                             "counts": {a: counts[(start + i * 3600, a)] for a in agents
                                        if counts[(start + i * 3600, a)]}}
                            for i in range(hours)]}

    @app.get(S + "/stats", response_model=None, tags=tags)
    def stats(request: Request, memory_store_id: str, days: int = Query(30, ge=1, le=3650), duplicates: bool = True):
        """The store's health over the last `days` days, the figures of `memfs stats`: files,
        bytes, revisions per day, active agents and sessions, files nearest the size limit,
        duplicated text (`duplicates=false` skips it), idle files, conflicts, hook refusals,
        dream history."""
        c = single_ctx(request)
        d = c.m.stats(c.store(memory_store_id), days=days, duplicates=duplicates)
        d["generated_at"] = render.ts(d["generated_at"])
        for j in d["dreams"]:
            j["created_at"] = render.ts(j["created_at"])
        return {"type": "memory_store_stats", **d}

    @app.get(S + "/search", response_model=None, tags=tags)
    def search(request: Request, memory_store_id: str, q: str = Query(..., min_length=1, max_length=1000),
               history: bool = False, ignore_case: bool = False, fixed: bool = False, path: str = "/",
               limit: int = Query(200, ge=1, le=MAX_LOG)):
        """memfs grep: lines matching a regular expression (`fixed`: a plain string) in the current
        files, or with `history` in every version any file ever had. `more`: the limit cut it."""
        c = single_ctx(request)
        s = c.store(memory_store_id)
        hits = c.m.grep(s, _arg(q, "q"), history=history, ignore_case=ignore_case, fixed=fixed, prefix=_path(path),
                        limit=limit + 1)
        return {"data": [{"path": h.path, "line": h.line, "text": h.text, "rev": h.rev, "sha256": h.sha256,
                          "agent": h.agent, "session": h.session, "created_at": render.ts(h.created_at)}
                         for h in hits[:limit]], "more": len(hits) > limit}
