"""`memfs export --format sqlite`: a store as a plain SQLite database, for sqlite-utils, Datasette
or any SQL tool: one table per kind of thing, every revision a row with its attribution.

Tables: `stores` (the store), `files` (its live files with their current content),
`revisions` (every revision, oldest first: operation, path, agent, session, actor, dream job,
API key, time, message, and the content it wrote: `content` when it is UTF-8 text,
`content_bytes` otherwise). `revisions` has a full-text index on path, message and content.
Written through the store API only, from one snapshot."""

from __future__ import annotations

import os

import sqlite_utils

from . import errors
from .store import FILE, SYMLINK, Memfs, is_binary

# the columns of `revisions`, in order (content last: it is the wide one)
REVISION_COLUMNS = ("id", "store_id", "node_id", "op", "kind", "path", "old_path", "sha256", "size", "mode",
                    "created_at", "agent", "session", "actor", "dream_job", "api_key_id", "message", "redacted_at",
                    "origin")


def _content(data: bytes) -> dict:
    if is_binary(data):
        return {"content": None, "content_bytes": data}
    return {"content": data.decode("utf-8"), "content_bytes": None}


def export_sqlite(m: Memfs, ref, path: str) -> dict:
    """Write store `ref` as a new SQLite database at `path` (replaced if it exists; written to
    `path + '.part'` first, so a failed export leaves no half file). Returns the row counts.

    Raises StoreNotFound, InvalidInput (a path that is a directory)."""
    if os.path.isdir(path):
        raise errors.InvalidInput(f"{path} is a directory")
    part = path + ".part"
    if os.path.exists(part):
        os.remove(part)
    with m.snapshot():
        s = m.get_store(ref)
        revs = m.log(s, newest_first=False)
        entries = [e for e in m.walk(s) if e.kind in (FILE, SYMLINK)]
        db = sqlite_utils.Database(part)
        try:
            db["stores"].insert({"id": s.id, "uid": s.uid, "name": s.name, "description": s.description,
                                 "metadata": s.metadata, "max_content_bytes": s.max_content_bytes,
                                 "created_at": s.created_at, "updated_at": s.updated_at,
                                 "archived_at": s.archived_at}, pk="id")
            blobs: dict = {}

            def content(sha):
                if sha is None:
                    return {"content": None, "content_bytes": None}
                if sha not in blobs:
                    blobs[sha] = _content(m.blob(sha))
                return blobs[sha]

            db["revisions"].insert_all(
                ({**{c: getattr(r, c) for c in REVISION_COLUMNS},
                  **(content(r.sha256) if r.kind in (FILE, SYMLINK) and r.op in ("create", "write", "symlink")
                     else {"content": None, "content_bytes": None})} for r in revs),
                pk="id", foreign_keys=[("store_id", "stores", "id")],
                columns={"content": str, "content_bytes": bytes, "old_path": str, "sha256": str, "agent": str,
                         "session": str, "dream_job": str, "api_key_id": str, "message": str, "redacted_at": float,
                         "origin": str})
            db["files"].insert_all(
                ({"node_id": e.node_id, "store_id": s.id, "path": e.path, "kind": e.kind, "size": e.size,
                  "mode": e.mode, "sha256": e.sha256, "revision": e.rev, **content(e.sha256)} for e in entries),
                pk="node_id", foreign_keys=[("store_id", "stores", "id"), ("revision", "revisions", "id")],
                columns={"content": str, "content_bytes": bytes, "sha256": str})
            db["revisions"].enable_fts(["path", "message", "content"])
            db["revisions"].create_index(["path"])
            counts = {"stores": 1, "files": db["files"].count, "revisions": db["revisions"].count}
        finally:
            db.close()
    os.replace(part, path)
    return counts
