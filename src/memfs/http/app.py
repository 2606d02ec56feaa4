"""`memfs serve`: Anthropic's memory stores API over the store API.

Each route is a few lines: authenticate, resolve the store within the key's scope, one call to
`Memfs`, render. Every error leaves as Anthropic's envelope
`{"type": "error", "error": {"type", "message"}, "request_id"}` with the status the error class
carries (errors.py); anything unexpected is a 500 `api_error` (and a bug).

Access: with API keys configured, every request needs a live key (`x-api-key` or
`Authorization: Bearer`), else 401. A store outside the key's scope answers 404 exactly as a store
that does not exist; a write with a read-only key answers 403. With no keys configured the server
is open, and `serve` refuses to bind anything but loopback in that state.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import secrets
import threading
import time
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Callable, Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors, paths
from ..store import ApiKey, Identity, Memfs, Store
from ..worker import Worker
from . import branches, console, dreams, events, ids, render, schemas
from . import replication

log = logging.getLogger("memfs.http")

MAX_BODY = 8 * 1024 * 1024  # request bodies; a memory's content limit is the store's (102,400 bytes)
MAX_SEGMENTS = 20
View = Literal["basic", "full"]


# ---------------------------------------------------------------------------- plumbing


class _Local(threading.local):
    m: Optional[Memfs] = None


class Guard:
    """Pure ASGI: gives each request an id (`request-id` header, `request_id` in errors) and
    reads the body up front, refusing one over MAX_BODY with 413 before any parsing."""

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_id(msg):
            if msg["type"] == "http.response.start":
                msg["headers"] = [*msg.get("headers", []), (b"request-id", rid.encode())]
            await send(msg)

        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            more = msg.get("more_body", False)
            if size > self.max_body:
                body = json.dumps(_envelope(rid, "request_too_large",
                                            f"request body is larger than {self.max_body} bytes")).encode()
                await send_id({"type": "http.response.start", "status": 413,
                               "headers": [(b"content-type", b"application/json"),
                                           (b"content-length", str(len(body)).encode())]})
                await send_id({"type": "http.response.body", "body": body})
                return
        body, done = b"".join(chunks), False

        async def replay():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_id)


def _envelope(rid, etype, message, **extra):
    return {"type": "error", "error": {"type": etype, "message": message, **extra}, "request_id": rid}


def _text(value, name):
    """Strings from the request must be encodable (JSON allows lone surrogates; SQLite does not)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise errors.InvalidInput(f"{name}: not valid Unicode text (lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _text(k, name), _text(v, name)
    return value


def _conflict(e: errors.AlreadyExists) -> errors.MemfsError:
    """A taken path, naming the memory in the way (conflicting_memory_id)."""
    nid = e.details.get("node_id")
    return errors.AlreadyExists(e.message, **({"conflicting_memory_id": ids.memory_id(nid)} if nid else {}))


def _store_conflict(e: errors.AlreadyExists) -> errors.MemfsError:
    err = errors.InvalidInput(f"{e.message} (memfs store names are unique)")
    err.http_status = 409
    return err


@dataclass
class Ctx:
    """One request: its database connection (one per server thread) and who is asking."""

    m: Memfs
    key: Optional[ApiKey]  # None: anonymous, on a server with no keys configured
    identity: Identity
    # writers of this server queue here rather than in SQLite's busy handler, whose sleeps
    # (up to 100 ms) would make the slowest writes wait far longer than the queue does
    writing: threading.Lock
    committer: Optional[Worker] = None

    def commit(self, fn):
        """fn(store connection) as one of the server's grouped memory writes (see memfs/worker.py)."""
        if self.committer is None:
            with self.writing:
                return fn(self.m)
        return self.committer.run_sync(fn)

    def access(self, s: Store) -> Optional[str]:
        if self.key is None:
            return "rw"
        return self.key.access(self.m.branch_parent(s) or s)  # a branch: the access to its store

    def store(self, store_id: str, write: bool = False) -> Store:
        """The store, if this key may see it: otherwise 404, exactly as for a store that does not
        exist; 403 for a write with read-only access."""
        missing = errors.StoreNotFound(f"memory store {store_id!r} not found")
        if not ids.is_store_id(store_id):
            raise missing
        try:
            s = self.m.get_store(store_id)
        except errors.StoreNotFound:
            raise missing from None
        self.allow(s, write, missing, f"memory store {store_id}")
        return s

    def allow(self, s: Store, write: bool, missing: errors.MemfsError, what: str) -> None:
        """The scope check of every route: `missing` (a 404 worded like a thing that does not
        exist) where the key cannot see the store; 403 for a write with read-only access."""
        acc = self.access(s)
        if acc is None:
            raise missing
        if write and acc != "rw":
            raise errors.NotPermitted(f"this API key may only read {what}")

    def memory(self, s: Store, memory_id: str):
        nid = ids.parse_memory_id(memory_id)
        try:
            if nid is None:
                raise errors.PathNotFound("")
            return self.m.file(s, nid)
        except errors.PathNotFound:
            raise errors.PathNotFound(f"memory {memory_id!r} not found in memory store {s.uid}") from None

    def version(self, s: Store, version_id: str):
        rid = ids.parse_version_id(version_id)
        try:
            if rid is None:
                raise errors.RevisionNotFound("")
            return self.m.version(s, rid)
        except errors.RevisionNotFound:
            raise errors.RevisionNotFound(f"memory version {version_id!r} not found in memory store {s.uid}") from None


def _header_value(request: Request, name: str) -> Optional[str]:
    v = request.headers.get(name)
    if v is None:
        return None
    v = v.strip()
    if not v or len(v) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise errors.InvalidInput(f"header {name}: 1-255 printable characters")
    return v


def ctx(request: Request) -> Ctx:
    st = request.app.state
    m = st.local.m
    if m is None:
        m = st.local.m = Memfs(st.db_path)
        with st.lock:
            st.connections.add(m)
    secret = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # refused even beside a good x-api-key: a client sending this is misconfigured
            raise errors.Unauthenticated("malformed Authorization header: expected 'Bearer <API key>'")
        secret = secret or token.strip()
    key = m.authenticate(secret) if secret else None
    # optional attribution headers: which agent and session a pipeline acts for
    agent, session = _header_value(request, "x-memfs-agent"), _header_value(request, "x-memfs-session")
    if key is not None:
        return Ctx(m, key, Identity(agent=agent or key.name, session=session, actor="api", api_key_id=key.id),
                   st.write_lock, st.committer)
    if st.open_without_keys and not m.has_api_keys():
        # without keys only loopback clients are served; a page in a browser that rebinds its own
        # host name to 127.0.0.1 still sends that name, and is refused
        if (request.url.hostname or "").strip("[]") not in ("127.0.0.1", "localhost", "::1"):
            raise errors.Unauthenticated("without API keys this server answers only requests to localhost")
        return Ctx(m, None, Identity(agent=agent or "anonymous", session=session, actor="api"), st.write_lock,
                   st.committer)
    gone = m.revoked_api_key(secret) if secret else None
    if gone is not None:
        raise errors.Unauthenticated(f"API key {gone.id} ({gone.name}) was revoked at "
                                     f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(gone.revoked_at))}: "
                                     "ask for a new one (memfs keys create)")
    raise errors.Unauthenticated("invalid API key" if secret else
                                 "an API key is required: send it as x-api-key or Authorization: Bearer")


def check_path(path: str, name: str = "path") -> str:
    """A memory path by Anthropic's rules: starts with '/', 1-20 segments, none empty, '.' or
    '..', no control or format characters nor U+2028/U+2029, NFC, at most 1,024 bytes."""
    _text(path, name)
    if not path.startswith("/") or path.endswith("/"):
        raise errors.InvalidName(f"{name} must start with '/' and not end with '/': {path!r}")
    if "\u2028" in path or "\u2029" in path:
        raise errors.InvalidName(f"{name} must not contain line or paragraph separators")
    norm = paths.normalize(path)
    if norm != path:
        raise errors.InvalidName(f"{name} must be in Unicode normalization form C")
    if len(paths.components(norm)) > MAX_SEGMENTS:
        raise errors.InvalidName(f"{name} has more than {MAX_SEGMENTS} segments")
    return norm


def check_prefix(prefix: Optional[str]) -> str:
    if prefix is None or prefix == "/":
        return "/"
    if not prefix.endswith("/"):
        raise errors.InvalidInput("path_prefix must end with '/'")
    return check_path(prefix[:-1], "path_prefix")


def _content(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else _text(text, "content").encode("utf-8")


PAGE = Query(None, description="next_page of the previous response")
TIME = {"format": "date-time"}


def _page(items, limit, key):
    more = len(items) > limit
    items = items[:limit]
    return items, (key(items[-1]) if more and items else None)


# ---------------------------------------------------------------------------- the app


ERRORS = {code: {"model": schemas.ErrorEnvelope, "description": d} for code, d in (
    (400, "Invalid request"), (401, "No valid API key"), (403, "The key may not do this"),
    (404, "Not found (or outside the key's scope)"), (409, "Conflict"), (413, "Too large"),
    (503, "Database busy"))}


def create_app(db_path: str, *, open_without_keys: bool = True) -> FastAPI:
    """The ASGI app over the database at `db_path`. `open_without_keys`: with no keys
    configured, serve anonymous requests (only ever true on loopback)."""
    # one connection per server thread, dropped (and closed) with its thread: the thread pool
    # retires idle threads, so only a weak set is kept, to close what is left at shutdown
    connections: "weakref.WeakSet[Memfs]" = weakref.WeakSet()

    @asynccontextmanager
    async def lifespan(app):
        yield
        app.state.committer.stop()
        dreams.shutdown(app)
        for m in list(connections):
            m.close()

    app = FastAPI(title="memfs", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Anthropic's memory stores API, served by memfs over its versioned stores.",
                  responses=ERRORS)
    st = app.state
    st.db_path, st.open_without_keys = str(db_path), open_without_keys
    st.local, st.lock, st.connections, st.write_lock = _Local(), threading.Lock(), connections, threading.Lock()
    # memory writes queue for one committer thread, which commits those that arrive together in
    # one transaction (one fsync), each with its own precondition and outcome (memfs/worker.py)
    st.committer = Worker(lambda: Memfs(st.db_path), name="memfs-api-writer", lock=st.write_lock)

    def fail(request: Request, status: int, etype: str, message: str, **extra):
        rid = request.scope.get("state", {}).get("request_id") or "req_" + secrets.token_hex(12)
        # the SDK retries 409s (lock timeouts elsewhere); a memfs 409 is final, a 503 (busy) is not
        retry = "true" if status in (408, 429, 503) else "false"
        return JSONResponse(_envelope(rid, etype, message, **extra), status_code=status,
                            headers={"x-should-retry": retry})

    @app.exception_handler(errors.MemfsError)
    def _memfs_error(request: Request, e: errors.MemfsError):
        if e.http_status >= 500 and e.error_type == "api_error":
            log.error("%s %s: %s", request.method, request.url.path, e.message)
        extra = {k: v for k, v in e.details.items() if k == "conflicting_memory_id"}
        return fail(request, e.http_status, e.error_type, e.message, **extra)

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, e: RequestValidationError):
        errs = e.errors()
        first = errs[0] if errs else {}
        if first.get("type") == "json_invalid":
            return fail(request, 400, "invalid_request_error", "the request body is not valid JSON")
        loc = ".".join(str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path", "header"))
        msg = first.get("msg", "invalid request")
        return fail(request, 400, "invalid_request_error", f"{loc}: {msg}" if loc else msg)

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, e: StarletteHTTPException):
        etype = "not_found_error" if e.status_code == 404 else "invalid_request_error"
        resp = fail(request, e.status_code, etype, str(e.detail))
        if e.status_code == 405:  # every method some route takes at this path, not just one route's
            allowed = set()
            for route in app.routes:
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
                    allowed |= route.methods
            resp.headers["allow"] = ", ".join(sorted(allowed))
        return resp

    @app.exception_handler(Exception)
    def _bug(request: Request, e: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return fail(request, 500, "api_error", "internal server error (a memfs bug: see the server log)")

    def openapi():
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for item in doc.get("paths", {}).values():
                for op in item.values():
                    op.get("responses", {}).pop("422", None)
                    if op.get("operationId", "").startswith(("create_memory", "update_memory")):
                        op["responses"]["422"] = {  # a store's write hook refused the content
                            "description": "Refused by a write hook (hook_refused_error)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
            for name in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(name, None)
            doc.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer"}}
            doc["security"] = [{"ApiKey": []}, {"Bearer": []}]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi
    _routes(app)
    events.add_routes(app, ctx)
    replication.add_routes(app, ctx)  # memfs replicate --to http(s)://…
    dreams.add_routes(app, ctx)
    branches.add_routes(app, ctx)  # /v1/memfs/stores/{id}/branches…
    console.add_routes(app, ctx)  # the web console at / and the JSON it reads (/v1/memfs/…)
    app.add_middleware(Guard)
    return app


# ---------------------------------------------------------------------------- routes


def _routes(app: FastAPI):
    S = "/v1/memory_stores"

    # ------------------------------------------------------------ stores

    @app.post(S, response_model=None, responses={200: {"model": schemas.MemoryStore}}, tags=["memory stores"])
    def create_store(request: Request, body: schemas.StoreCreate):
        c = ctx(request)
        if c.key is not None and c.key.all_stores != "rw":
            raise errors.NotPermitted("this API key may not create memory stores (it needs --all-stores=rw)")
        try:
            with c.writing:
                s = c.m.create_store(_text(body.name, "name"), _text(body.description, "description") or "",
                                     _text(body.metadata, "metadata"), identity=c.identity)
        except errors.AlreadyExists as e:
            raise _store_conflict(e) from None
        return render.store(s)

    @app.get(S, response_model=None, responses={200: {"model": schemas.MemoryStoreList}}, tags=["memory stores"])
    def list_stores(request: Request, include_archived: bool = False,
                    created_at_gte: Optional[str] = Query(None, alias="created_at[gte]", json_schema_extra=TIME),
                    created_at_lte: Optional[str] = Query(None, alias="created_at[lte]", json_schema_extra=TIME),
                    limit: int = Query(20, ge=1, le=100), page: Optional[str] = PAGE):
        c = ctx(request)
        after = ids.decode_cursor(page or None, "memory_stores", "")
        if after is not None and not isinstance(after, int):
            raise errors.InvalidInput("page: not a cursor that this listing returned")
        gte = render.parse_ts(created_at_gte, "created_at[gte]", -1) if created_at_gte is not None else None
        lte = render.parse_ts(created_at_lte, "created_at[lte]", 1) if created_at_lte is not None else None
        out = sorted((s for s in c.m.list_stores(include_archived=include_archived)
                      if c.access(s) and (gte is None or s.created_at >= gte) and (lte is None or s.created_at <= lte)
                      and (after is None or s.id < after)), key=lambda s: -s.id)
        items, nxt = _page(out, limit, lambda s: ids.encode_cursor("memory_stores", "", s.id))
        return {"data": [render.store(s) for s in items], "next_page": nxt}

    @app.get(S + "/{memory_store_id}", response_model=None, responses={200: {"model": schemas.MemoryStore}},
             tags=["memory stores"])
    def get_store(request: Request, memory_store_id: str):
        return render.store(ctx(request).store(memory_store_id))

    @app.post(S + "/{memory_store_id}", response_model=None, responses={200: {"model": schemas.MemoryStore}},
              tags=["memory stores"])
    def update_store(request: Request, memory_store_id: str, body: schemas.StoreUpdate):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        try:
            with c.writing:
                s = c.m.update_store(s, name=_text(body.name, "name"),
                                     description=_text(body.description, "description"),
                                     metadata=_text(body.metadata, "metadata"))
        except errors.AlreadyExists as e:
            raise _store_conflict(e) from None
        return render.store(s)

    @app.delete(S + "/{memory_store_id}", response_model=None,
                responses={200: {"model": schemas.DeletedMemoryStore}}, tags=["memory stores"])
    def delete_store(request: Request, memory_store_id: str):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        with c.writing:
            c.m.delete_store(s)
        return {"type": "memory_store_deleted", "id": s.uid}

    @app.post(S + "/{memory_store_id}/archive", response_model=None, responses={200: {"model": schemas.MemoryStore}},
              tags=["memory stores"])
    def archive_store(request: Request, memory_store_id: str):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        with c.writing:
            return render.store(c.m.archive_store(s))

    # ------------------------------------------------------------ memories

    M = S + "/{memory_store_id}/memories"

    @app.get(M, response_model=None, responses={200: {"model": schemas.MemoryList}}, tags=["memories"])
    def list_memories(request: Request, memory_store_id: str,
                      path_prefix: Optional[str] = Query(None, description="Ends with '/'", pattern="^/(.*/)?$"),
                      depth: int = Query(0, ge=0, le=MAX_SEGMENTS), view: View = "basic",
                      limit: int = Query(20, ge=1, le=100), page: Optional[str] = PAGE):
        c = ctx(request)
        s = c.store(memory_store_id)
        prefix = check_prefix(path_prefix)
        if view == "full":
            limit = min(limit, 20)
        scope = f"{s.uid}|{prefix}|{depth}"
        after = ids.decode_cursor(page or None, "memories", scope)
        if after is not None and not isinstance(after, str):
            raise errors.InvalidInput("page: not a cursor that this listing returned")
        items, nxt = _page(c.m.files(s, prefix, depth=depth, after=after, limit=limit + 1), limit,
                           lambda i: ids.encode_cursor("memories", scope, i if isinstance(i, str) else i.path))
        data = [render.prefix(i) if isinstance(i, str) else
                render.memory(i, s, c.m.blob(i.sha256) if view == "full" else None) for i in items]
        return {"data": data, "next_page": nxt}

    @app.post(M, response_model=None, responses={200: {"model": schemas.Memory}}, tags=["memories"])
    def create_memory(request: Request, memory_store_id: str, body: schemas.MemoryCreate, view: View = "basic"):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        path = check_path(body.path)
        data = _content(body.content)
        # the store's write hooks run before this request queues for the database (a slow hook
        # holds up no other writer); they may refuse (422) or redact
        data, note = c.m.run_write_hooks(s, path, data, operation="create", identity=c.identity)
        try:
            r = c.commit(lambda m: m.create_file(s, path, data, identity=c.identity, message=note, hooks=False))
        except errors.AlreadyExists as e:
            raise _conflict(e) from None
        return render.memory(c.m.file(s, r.node.id), s, data if view == "full" else None)

    @app.get(M + "/{memory_id}", response_model=None, responses={200: {"model": schemas.Memory}}, tags=["memories"])
    def get_memory(request: Request, memory_store_id: str, memory_id: str, view: View = "full"):
        c = ctx(request)
        s = c.store(memory_store_id)
        f = c.memory(s, memory_id)
        return render.memory(f, s, c.m.blob(f.sha256) if view == "full" else None)

    def update_memory(request: Request, memory_store_id: str, memory_id: str, body: schemas.MemoryUpdate,
                      view: View = "basic"):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        f = c.memory(s, memory_id)
        path = check_path(body.path) if body.path is not None else None
        if_match = body.precondition.content_sha256 if body.precondition else None
        data, note = _content(body.content), None
        if data is not None and hashlib.sha256(data).hexdigest() != f.sha256:  # write hooks: as in create
            data, note = c.m.run_write_hooks(s, path or f.path, data, operation="write", identity=c.identity)
        try:
            c.commit(lambda m: m.update_file(s, f.node_id, content=data, path=path, if_match=if_match,
                                             identity=c.identity, message=note, hooks=False))
        except errors.AlreadyExists as e:
            raise _conflict(e) from None
        except errors.PathNotFound:
            raise errors.PathNotFound(f"memory {memory_id!r} not found in memory store {s.uid}") from None
        f = c.m.file(s, f.node_id)
        return render.memory(f, s, c.m.blob(f.sha256) if view == "full" else None)

    for method in ("POST", "PATCH"):
        app.add_api_route(M + "/{memory_id}", update_memory, methods=[method], response_model=None,
                          responses={200: {"model": schemas.Memory}}, tags=["memories"],
                          name=f"update_memory_{method.lower()}")

    @app.delete(M + "/{memory_id}", response_model=None, responses={200: {"model": schemas.DeletedMemory}},
                tags=["memories"])
    def delete_memory(request: Request, memory_store_id: str, memory_id: str,
                      expected_content_sha256: Optional[str] = None):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        f = c.memory(s, memory_id)
        try:
            c.commit(lambda m: m.delete_file(s, f.node_id, if_match=expected_content_sha256, identity=c.identity))
        except errors.PathNotFound:
            raise errors.PathNotFound(f"memory {memory_id!r} not found in memory store {s.uid}") from None
        return {"type": "memory_deleted", "id": memory_id}

    # ------------------------------------------------------------ memory versions

    V = S + "/{memory_store_id}/memory_versions"

    @app.get(V, response_model=None, responses={200: {"model": schemas.MemoryVersionList}}, tags=["memory versions"])
    def list_versions(request: Request, memory_store_id: str,
                      memory_id: Optional[str] = Query(None, pattern="^mem_[1-9][0-9]{0,17}$"),
                      operation: Optional[Literal["created", "modified", "deleted"]] = None,
                      session_id: Optional[str] = None, api_key_id: Optional[str] = None,
                      service_account_id: Optional[str] = None,
                      created_at_gte: Optional[str] = Query(None, alias="created_at[gte]", json_schema_extra=TIME),
                      created_at_lte: Optional[str] = Query(None, alias="created_at[lte]", json_schema_extra=TIME),
                      view: View = "basic", limit: int = Query(20, ge=1, le=100), page: Optional[str] = PAGE):
        c = ctx(request)
        s = c.store(memory_store_id)
        if view == "full":
            limit = min(limit, 20)
        node = None
        if memory_id is not None:
            node = ids.parse_memory_id(memory_id)
            if node is None:
                raise errors.InvalidInput(f"memory_id: not a memory id: {memory_id!r}")
        before = ids.decode_cursor(page or None, "memory_versions", s.uid)
        if before is not None and not isinstance(before, int):
            raise errors.InvalidInput("page: not a cursor that this listing returned")
        revs = c.m.versions(
            s, node_id=node, ops=render.OPS_FOR[operation] if operation else None, session=session_id,
            api_key_id=api_key_id, dream_job=service_account_id,
            since=render.parse_ts(created_at_gte, "created_at[gte]", -1) if created_at_gte is not None else None,
            until=render.parse_ts(created_at_lte, "created_at[lte]", 1) if created_at_lte is not None else None,
            before=before, limit=limit + 1)
        items, nxt = _page(revs, limit, lambda r: ids.encode_cursor("memory_versions", s.uid, r.id))
        full = view == "full"
        return {"data": [render.version(r, s, c.m.blob(r.sha256) if full and r.sha256 else None) for r in items],
                "next_page": nxt}

    @app.get(V + "/{memory_version_id}", response_model=None, responses={200: {"model": schemas.MemoryVersion}},
             tags=["memory versions"])
    def get_version(request: Request, memory_store_id: str, memory_version_id: str, view: View = "full"):
        c = ctx(request)
        s = c.store(memory_store_id)
        r = c.version(s, memory_version_id)
        return render.version(r, s, c.m.blob(r.sha256) if view == "full" and r.sha256 else None)

    @app.post(V + "/{memory_version_id}/redact", response_model=None,
              responses={200: {"model": schemas.MemoryVersion}}, tags=["memory versions"])
    def redact_version(request: Request, memory_store_id: str, memory_version_id: str):
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        r = c.version(s, memory_version_id)
        with c.writing:
            copies = c.m.redaction_copies(r.id)  # what the redaction blanks in the store's branches
            r = c.m.redact(r.id, ref=s, identity=c.identity)
        return {**render.version(r, s), "redacted_copies": [
            {"memory_store_id": c.m.get_store(x.store_id).uid, "memory_version_id": ids.version_id(x.id)}
            for x in copies]}


# ---------------------------------------------------------------------------- serving


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(m: Memfs, host: str) -> None:
    """Refuse to serve a non-loopback address with no API keys: the server would be open."""
    if not is_loopback(host) and not m.has_api_keys():
        raise errors.NotPermitted(
            f"refusing to serve on {host} without API keys: anyone who can reach it could read and write "
            "every store; create a key first (memfs keys create --store NAME=rw) or bind 127.0.0.1")


def listen(host: str, port: int):
    """A listening socket on host:port, or one line saying why not (a port in use, say)."""
    import errno
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise errors.InvalidInput(f"cannot listen on {host}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart at once
    try:
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise errors.MemfsError(f"port {port} is in use on {host} (another server? try --port)") from None
        raise errors.MemfsError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def serve(db_path: str, host: str = "127.0.0.1", port: int = 8787, *, log_level: str = "info",
          ready: Optional[Callable[[], None]] = None) -> None:
    """Serve until interrupted. `ready` is called once the port is bound and listening."""
    import uvicorn

    with Memfs(db_path) as m:
        check_bind(m, host)
    app = create_app(db_path, open_without_keys=is_loopback(host))
    sock = listen(host, port)
    if ready is not None:
        ready()
    # an event stream never ends by itself: give open ones 3 s after Ctrl-C, then close them
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False,
                            timeout_graceful_shutdown=3)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down
        pass
    finally:
        sock.close()
