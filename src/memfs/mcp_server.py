"""`memfs mcp`: stores served to MCP clients over stdio (the official `mcp` SDK, MCPServer).

A thin front end: each tool is a few lines over one store-API call. The server opens one
session row for the connection (kind "mcp"); every write carries its agent and session id. A
store the client was given read-only refuses writes; a store it was not given does not exist for
it. Library errors become tool errors (is_error results) with memfs's own message."""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Optional

from . import config, errors
from .prompt import PINNED_BUDGET, pinned, pinned_section
from .store import DIR, Identity, Memfs

TOOLS = ("list", "read", "write", "history", "search")


def parse_scopes(specs) -> dict[str, str]:
    """['team=rw', 'org=ro'] -> {'team': 'rw', 'org': 'ro'}"""
    out = {}
    for spec in specs:
        name, sep, scope = spec.rpartition("=")
        if not sep or not name or scope not in ("rw", "ro"):
            raise errors.InvalidInput(f"expected --store NAME=rw or NAME=ro, got {spec!r}")
        out[name] = scope
    return out


class MemoryTools:
    """The tools, without the protocol: what each returns is JSON-ready."""

    def __init__(self, m: Memfs, scopes: dict[str, str], identity: Identity):
        self.m, self.scopes, self.identity = m, scopes, identity
        self.lock = threading.Lock()  # the SDK runs sync tools in worker threads; Memfs is one connection

    def _store(self, name: str, write: bool = False):
        scope = self.scopes.get(name)
        if scope is None:
            raise errors.StoreNotFound(f"no store {name!r} in this session (stores: {', '.join(sorted(self.scopes))})")
        if write and scope != "rw":
            raise errors.ReadOnly(f"store {name!r} is read-only in this session: writes are refused")
        return self.m.get_store(name)

    def list(self, store: Optional[str] = None, path: str = "/") -> dict:
        if store is None:
            out = []
            for name, scope in sorted(self.scopes.items()):
                s = self.m.get_store(name)
                out.append({"store": s.name, "access": scope, "description": s.description, **self.m.usage(s)})
            return {"stores": out}
        s = self._store(store)
        return {"store": s.name, "entries": [
            {"path": e.path, "kind": e.kind, "size": e.size, "sha256": e.sha256, "rev": e.rev}
            for e in self.m.walk(s, path) if e.path != "/"]}

    def read(self, store: str, path: str, rev: Optional[int] = None) -> dict:
        s = self._store(store)
        e = self.m.stat(s, path, rev=rev)
        if e.kind == DIR:
            raise errors.IsADirectory(f"{store}:{path} is a directory: use the list tool")
        data = self.m.blob(e.sha256)
        return {"store": s.name, "path": e.path, "sha256": e.sha256, "rev": e.rev, "size": e.size,
                "content": data.decode("utf-8", "replace")}

    def write(self, store: str, path: str, content: str, expected_sha256: Optional[str] = None,
              message: Optional[str] = None) -> dict:
        s = self._store(store, write=True)
        try:
            r = self.m.write(s, path, content.encode("utf-8"), if_match=expected_sha256, message=message,
                             identity=self.identity)
        except errors.PreconditionFailed as e:
            cur = e.current_sha256 or "none (the file does not exist)"
            raise errors.PreconditionFailed(f"{e.message}. Nothing was written. The current sha256 is {cur}: read the "
                                            "file again, merge your change and write with that hash",
                                            current_sha256=e.current_sha256) from None
        return {"store": s.name, "path": r.node.path, "sha256": r.node.sha256, "changed": r.changed,
                "rev": r.revision.id if r.revision else r.node.head_rev}

    def history(self, store: str, path: str) -> dict:
        s = self._store(store)
        return {"store": s.name, "path": path, "versions": [
            {"rev": r.id, "op": r.op, "path": r.path, "sha256": r.sha256, "size": r.size, "agent": r.agent,
             "session": r.session, "actor": r.actor, "time": config.fmt_time(r.created_at), "message": r.message}
            for r in self.m.history(s, path)]}

    def search(self, store: str, pattern: str, history: bool = False, ignore_case: bool = False,
               fixed: bool = False, path: str = "/", limit: int = 200) -> dict:
        s = self._store(store)
        hits = self.m.grep(s, pattern, history=history, ignore_case=ignore_case, fixed=fixed, prefix=path,
                           limit=limit)
        return {"store": s.name, "matches": [
            {"path": h.path, "line": h.line, "text": h.text, "rev": h.rev, "agent": h.agent, "session": h.session}
            for h in hits]}

    def call(self, name: str, **kw) -> str:
        with self.lock:
            try:
                return json.dumps(getattr(self, name)(**kw), ensure_ascii=False)
            except errors.MemfsError as e:
                from mcp.server.mcpserver.exceptions import ToolError

                raise ToolError(f"{type(e).__name__}: {e.message}") from None


def instructions(tools: MemoryTools, budget: int = PINNED_BUDGET) -> str:
    """The server's instructions: how to use the tools, then the stores' pinned memory (the files
    under /system/, within `budget` bytes), so that the client puts it in the system prompt."""
    stores = ", ".join(f"{n} ({'read-write' if sc == 'rw' else 'read-only'})" for n, sc in sorted(tools.scopes.items()))
    with tools.lock:
        pins = pinned(tools.m, [tools.m.get_store(n) for n in sorted(tools.scopes)], budget)
    return (f"Persistent, versioned memory shared with other agents. Stores: {stores}. Read a file before changing "
            "it and pass its sha256 as expected_sha256 when you write: if another agent changed it meanwhile, the "
            "write is refused and names the current hash; read again, merge, retry. Every version is kept.\n"
            + pinned_section(pins, lambda s, path: f"{s.name}:{path}", "read it with the read tool"))


def build_server(tools: MemoryTools, budget: int = PINNED_BUDGET):
    from mcp.server.mcpserver import MCPServer

    srv = MCPServer("memfs", log_level="WARNING", instructions=instructions(tools, budget))

    @srv.tool(name="list", description="List the stores of this session (no store), or every file and directory "
              "under a path of a store, with size, sha256 and revision.")
    def list_(store: Optional[str] = None, path: str = "/") -> str:
        return tools.call("list", store=store, path=path)

    @srv.tool(description="Read a file of a store (now, or as of revision `rev`): content, sha256, revision.")
    def read(store: str, path: str, rev: Optional[int] = None) -> str:
        return tools.call("read", store=store, path=path, rev=rev)

    @srv.tool(description="Create or replace a file. With expected_sha256 (the hash the read tool returned) the "
              "write only happens if the file still has that content; otherwise it fails naming the current hash. "
              "Read-only stores refuse writes.")
    def write(store: str, path: str, content: str, expected_sha256: Optional[str] = None,
              message: Optional[str] = None) -> str:
        return tools.call("write", store=store, path=path, content=content, expected_sha256=expected_sha256,
                          message=message)

    @srv.tool(description="Every version of a file, newest first: revision, operation, sha256, agent, session, time.")
    def history(store: str, path: str) -> str:
        return tools.call("history", store=store, path=path)

    @srv.tool(description="memfs grep: lines matching a regular expression (fixed=true: a plain string) in the "
              "current files of a store, or in every version with history=true; path limits it to a subtree.")
    def search(store: str, pattern: str, history: bool = False, ignore_case: bool = False, fixed: bool = False,
               path: str = "/", limit: int = 200) -> str:
        return tools.call("search", store=store, pattern=pattern, history=history, ignore_case=ignore_case,
                          fixed=fixed, path=path, limit=limit)

    return srv


def serve(db_path: str, scopes: dict[str, str], *, agent: str, session: Optional[str] = None) -> None:
    """Serve until the client closes stdin. The session row is open while the connection is."""
    m = Memfs(db_path)
    try:
        for name in scopes:
            m.get_store(name)  # an unknown store fails before the client connects
        ses = m.open_session(session, agent=agent, actor="agent", kind="mcp", stores=scopes)
        tools = MemoryTools(m, scopes, Identity(agent=agent, session=ses.session_id, actor="agent"))
        # a client that stops the server with SIGTERM (or a hangup) still gets its session closed;
        # then exit at once: the SDK's stdin reader thread would keep a normal exit waiting
        def stop(signum, frame):
            with tools.lock:
                m.close_session(ses.id)
            os._exit(128 + signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            build_server(tools).run("stdio")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with tools.lock:
                m.close_session(ses.id)
    finally:
        m.close()
