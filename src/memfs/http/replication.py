"""memfs's replication extension (`memfs replicate --to http(s)://…`): replay another database's
revisions here with their full original attribution (`Memfs.replay`), and keep the replication
cursor here, in the transaction of each replayed revision.

- `GET /v1/memfs/replication?source=S`: this database's id and the cursor of source S.
- `POST /v1/memfs/replication/replay`: replay revisions in order (each its own transaction; the
  first failure stops the batch, what went before stays).
- `POST /v1/memfs/replication/advance`: move a cursor past revisions that were not for here.

Scope: replication needs a key with --all-stores=rw (it creates stores, writes any of them and
moves cursors that cover every store); any other key gets 403. A server without keys (loopback
only) is open, as for the rest of the API."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Optional

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from .. import errors
from . import ids

MAX_ITEMS = 1000
# a source is the source database's id, then which of its stores (memfs/replication.py)
DATABASE_ID = r"^db_[0-9a-f]{24}$"
SOURCE = r"^db_[0-9a-f]{24}(\?stores=[^\x00-\x1f\x7f]{1,1000})?$"
BIG = 2**62


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplayStore(_Body):
    uid: StrictStr = Field(max_length=100)
    name: StrictStr = Field(min_length=1, max_length=255)
    description: StrictStr = Field("", max_length=1024)
    metadata: dict[StrictStr, StrictStr] = {}
    max_content_bytes: StrictInt = Field(100 * 1024, ge=1, le=BIG)


class ReplayRevision(_Body):
    id: StrictInt = Field(ge=1, le=BIG)
    op: StrictStr = Field(max_length=16)
    kind: StrictStr = Field(max_length=16)
    path: StrictStr = Field(min_length=1, max_length=4096)
    old_path: Optional[StrictStr] = Field(None, max_length=4096)
    sha256: Optional[StrictStr] = Field(None, max_length=64)
    prev_sha256: Optional[StrictStr] = Field(None, max_length=64)
    size: StrictInt = Field(0, ge=0, le=BIG)
    mode: StrictInt = Field(ge=0, le=0o7777)
    created_at: StrictFloat = Field(ge=0, le=1e12)
    agent: Optional[StrictStr] = Field(None, max_length=1024)
    session: Optional[StrictStr] = Field(None, max_length=1024)
    actor: StrictStr = Field("operator", max_length=16)
    dream_job: Optional[StrictStr] = Field(None, max_length=1024)
    api_key_id: Optional[StrictStr] = Field(None, max_length=1024)
    message: Optional[StrictStr] = Field(None, max_length=65536)
    redacted_at: Optional[StrictFloat] = Field(None, ge=0, le=1e12)
    redacted_by: Optional[StrictStr] = Field(None, max_length=4096)


class ReplayItem(_Body):
    store: ReplayStore
    revision: ReplayRevision
    content_base64: Optional[StrictStr] = None


class ReplayBody(_Body):
    source: StrictStr = Field(pattern=SOURCE)
    source_database_id: StrictStr = Field(pattern=DATABASE_ID)
    items: list[ReplayItem] = Field(max_length=MAX_ITEMS)


class AdvanceBody(_Body):
    source: StrictStr = Field(pattern=SOURCE)
    cursor: StrictInt = Field(ge=0, le=BIG)


def _unicode(body: BaseModel) -> None:
    """Strings must be encodable (JSON allows lone surrogates; SQLite does not)."""
    try:
        json.dumps(body.model_dump(), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidInput("not valid Unicode text (lone surrogate)") from None


def add_routes(app: FastAPI, ctx) -> None:
    def replicator(request: Request):
        c = ctx(request)
        if c.key is not None and c.key.all_stores != "rw":
            raise errors.NotPermitted("replication needs an API key with --all-stores=rw")
        return c

    @app.get("/v1/memfs/replication", tags=["replication"])
    def replication_state(request: Request, source: Optional[str] = Query(None, pattern=SOURCE)):
        """This database's id and, with `source`, the last revision of that source replayed here."""
        c = replicator(request)
        out = {"type": "memfs_replication", "database_id": c.m.database_id()}
        if source is not None:
            _unicode(AdvanceBody(source=source, cursor=0))
            out["source"], out["cursor"] = source, c.m.replication_cursor(source)
        return out

    @app.post("/v1/memfs/replication/advance", tags=["replication"])
    def replication_advance(request: Request, body: AdvanceBody):
        """Move a source's cursor forward (never back)."""
        c = replicator(request)
        _unicode(body)
        with c.writing:
            cur = c.m.advance_replication_cursor(body.source, body.cursor)
        return {"type": "memfs_replication", "source": body.source, "cursor": cur}

    @app.post("/v1/memfs/replication/replay", tags=["replication"])
    def replication_replay(request: Request, body: ReplayBody):
        """Replay revisions of another database, in order, with their original attribution."""
        c = replicator(request)
        _unicode(body)
        n = 0
        for it in body.items:
            rev, info = it.revision, it.store
            if not ids.is_store_id(info.uid):
                raise errors.InvalidInput(f"store uid {info.uid!r} is not a memory store id")
            content = None
            if it.content_base64 is not None:
                try:
                    content = base64.b64decode(it.content_base64, validate=True)
                except (binascii.Error, ValueError):
                    raise errors.InvalidInput(f"revision {rev.id}: content_base64 is not base64") from None
            with c.writing:
                r = c.m.replay(rev.model_dump(), content, store=info.model_dump(),
                               origin=f"{body.source_database_id}:{rev.id}", cursor=(body.source, rev.id))
            n += r is not None
        cur = c.m.replication_cursor(body.source)
        return {"type": "memfs_replication", "source": body.source, "replayed": n, "cursor": cur}
