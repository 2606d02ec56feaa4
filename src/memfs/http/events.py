"""`GET /v1/events?after=CURSOR`: the change feed (`Memfs.changes`) over HTTP, as a long poll
(JSON) or as server-sent events (`Accept: text/event-stream`).

The cursor is a revision id in decimal: `after=0` starts at the beginning, and every event and
page names the cursor to resume from. A key sees the revisions of the stores in its scope only
(the cursor still moves past the others). Waiting happens on the event loop (a short query every
`POLL` seconds), so a waiting client holds no server thread."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import errors
from ..store import VERSION_OPS, Revision
from . import ids, render

POLL = 0.2
HEARTBEAT = 15.0
BATCH = 500


def event(r: Revision, store_uid: str, content: Optional[bytes] = None) -> dict:
    """One revision, any kind (files, directories, symlinks, modes), as the feed shows it."""
    is_version = r.kind == "file" and r.op in VERSION_OPS
    return {"type": "memfs_revision", "cursor": str(r.id), "revision": r.id, "memory_store_id": store_uid,
            "store_name": r.store_name, "operation": r.op, "kind": r.kind,
            "path": None if r.redacted_at else r.path, "old_path": None if r.redacted_at else r.old_path,
            "memory_id": ids.memory_id(r.node_id) if r.kind == "file" else None,
            "memory_version_id": ids.version_id(r.id) if is_version else None,
            "content_sha256": r.sha256, "content_size_bytes": r.size if r.sha256 else None,
            "content": None if content is None else render.text_of(content),
            "created_by": render.actor(r.actor, r.agent, r.session, r.api_key_id, r.dream_job),
            "agent_id": r.agent, "session_id": r.session, "created_at": render.ts(r.created_at),
            "redacted_at": render.ts(r.redacted_at)}


def parse_cursor(text: Optional[str]) -> int:
    if text is None or text == "":
        return 0
    if not text.isdigit() or len(text) > 18:
        raise errors.InvalidInput(f"after: not a cursor (a revision id, 0 for the beginning): {text!r}")
    return int(text)


def add_routes(app: FastAPI, ctx) -> None:
    def batch(request: Request, after: int, store_id: Optional[str], full: bool):
        """(events visible to this key, cursor to resume from) for revisions after `after`."""
        c = ctx(request)
        only = c.store(store_id).id if store_id is not None else None
        revs = c.m.changes(after=after, limit=BATCH)
        stores, out = {}, []
        for r in revs:
            if only is not None and r.store_id != only:
                continue
            if r.store_id not in stores:
                try:
                    s = c.m.get_store(r.store_id)
                    stores[r.store_id] = s if c.access(s) else None
                except errors.StoreNotFound:  # deleted since
                    stores[r.store_id] = None
            s = stores[r.store_id]
            if s is not None:
                out.append(event(r, s.uid, c.m.blob(r.sha256) if full and r.kind == "file" and r.sha256 else None))
        return out, (revs[-1].id if revs else after)

    @app.get("/v1/events", tags=["events"], responses={200: {"description": "Events (JSON) or an event stream"}})
    async def events(request: Request, after: Optional[str] = Query(None, description="Cursor: a revision id, 0 "
                                                                                       "for the beginning"),
                     memory_store_id: Optional[str] = None, view: Literal["basic", "full"] = "basic",
                     timeout: float = Query(25.0, ge=0, le=60, description="Long poll: seconds to wait")):
        """The change feed. JSON: waits up to `timeout` seconds for at least one event and
        answers `{data, next_cursor}`. With `Accept: text/event-stream`: a stream of `revision`
        events whose `id` is the cursor (`Last-Event-ID` resumes), with a comment every 15 s."""
        full = view == "full"
        last_id = request.headers.get("last-event-id")
        cursor = parse_cursor(after if after is not None else last_id)
        # authenticate and check the scope before answering anything
        first, cursor = await run_in_threadpool(batch, request, cursor, memory_store_id, full)

        if "text/event-stream" not in request.headers.get("accept", ""):
            deadline = time.monotonic() + timeout
            moved = True
            while not first and time.monotonic() < deadline and not await request.is_disconnected():
                if not moved:  # caught up: wait; else (other stores' revisions) read on at once
                    await asyncio.sleep(POLL)
                before = cursor
                first, cursor = await run_in_threadpool(batch, request, cursor, memory_store_id, full)
                moved = cursor != before
            return {"data": first, "next_cursor": str(cursor)}

        async def stream(evs, cur):
            beat, moved = time.monotonic(), True
            yield b"retry: 1000\n\n"
            while True:
                for e in evs:
                    yield f"id: {e['cursor']}\nevent: revision\ndata: {json.dumps(e)}\n\n".encode()
                if evs:
                    beat = time.monotonic()
                elif time.monotonic() - beat > HEARTBEAT:
                    yield f": cursor {cur}\n\n".encode()
                    beat = time.monotonic()
                if await request.is_disconnected():
                    return
                if not evs and not moved:
                    await asyncio.sleep(POLL)
                before = cur
                try:
                    evs, cur = await run_in_threadpool(batch, request, cur, memory_store_id, full)
                    moved = cur != before
                except errors.MemfsError as e:  # the key was revoked, the store deleted: say so, end
                    yield f"event: error\ndata: {json.dumps({'type': e.error_type, 'message': e.message})}\n\n".encode()
                    return

        return StreamingResponse(stream(first, cursor), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
