"""Replication and import: another database's revisions replayed here one for one, with their
original attribution and time. Only `memfs replicate` and `memfs import` (memfs/replication.py)
call these."""

from __future__ import annotations

import json
import time
from typing import Optional

from .. import errors, paths
from .records import DEFAULT_MAX_CONTENT, Identity, Revision, Store, WriteOptions, _check_metadata, sha256


class ReplayMixin:
    """Replication and import: replaying another database's revisions, and the cursors."""

    def database_id(self) -> str:
        """This database's own id, made with it (a copied file keeps it)."""
        return self.db.one("SELECT value FROM memfs_meta WHERE key = 'database_id'")[0]

    def atomic(self):
        """A context in which several writes commit (or roll back) as one (an import)::

            with m.atomic():
                m.write(s, "/a", b"1")
                m.write(s, "/b", b"2")

        Write hooks cannot run inside it: write with `hooks=False` after `run_write_hooks`."""
        return self.db.write()

    def replication_cursor(self, source: str) -> int:
        """The last revision of `source` replayed here (0: none).

        :param source: the source's key (its database id, with a store filter if any)"""
        r = self.db.one("SELECT cursor FROM replication_cursors WHERE source = ?", (source,))
        return r[0] if r else 0

    def advance_replication_cursor(self, source: str, cursor: int) -> int:
        """Move the cursor of `source` past revisions that were not for here (never back).

        :param source: the source's key
        :param cursor: the source revision id now reached
        :returns: the cursor as stored"""
        with self.db.write() as tx:
            self._set_cursor(tx, source, cursor)
        return self.replication_cursor(source)

    @staticmethod
    def _set_cursor(tx, source, cursor):
        tx.run("INSERT INTO replication_cursors (source, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT(source)"
               " DO UPDATE SET cursor = CASE WHEN excluded.cursor > replication_cursors.cursor THEN excluded.cursor"
               " ELSE replication_cursors.cursor END, updated_at = excluded.updated_at",
               (source, int(cursor), time.time()))

    def replay(self, rev, content: Optional[bytes], *, store: dict, origin: Optional[str] = None,
               cursor: Optional[tuple] = None) -> Optional[Revision]:
        """Append one revision of another database (a Revision or its dict) as it was: same
        operation, path, mode, content, agent, session, actor, dream job, API key, time and message,
        and its redaction. `store` describes the source store ({uid, name, description, metadata,
        max_content_bytes}); the store is found here by uid (replication keeps it) or, without a
        uid, by name (import). The root's mkdir creates the store. `origin` ("DBID:REV") is
        recorded on the new revision and is unique here; `cursor` = (source, source revision id)
        is stored in the same transaction. A revision already replayed (by cursor or origin)
        returns None, so replaying twice is harmless. A replay that does not make exactly one
        revision here fails: the target has diverged from the source."""
        rev = rev.to_dict() if isinstance(rev, Revision) else dict(rev)
        op, path = rev.get("op"), rev.get("path")
        if op not in ("create", "write", "symlink", "mkdir", "delete", "rmdir", "rename", "chmod") or not path:
            raise errors.InvalidInput(f"cannot replay a revision with operation {op!r} at {path!r}")
        ident = Identity(agent=rev.get("agent"), session=rev.get("session"), actor=rev.get("actor") or "operator",
                         dream_job=rev.get("dream_job"), api_key_id=rev.get("api_key_id"))
        redacted = rev.get("redacted_at") is not None
        if op in ("create", "write", "symlink") and not redacted:
            if content is None:
                raise errors.InvalidInput(f"revision {rev.get('id')} ({op} {path}): its content is missing")
            content = bytes(content)
            if rev.get("sha256") and sha256(content) != rev["sha256"]:
                raise errors.InvalidInput(f"revision {rev.get('id')} ({op} {path}): content does not match its hash")
        when = float(rev["created_at"])
        with self.db.write() as tx:
            if cursor is not None:
                done = tx.scalar("SELECT cursor FROM replication_cursors WHERE source = ?", (cursor[0],))
                if done is not None and cursor[1] <= done:
                    return None
            if origin is not None and tx.one("SELECT 1 FROM revisions WHERE origin = ?", (origin,)):
                if cursor is not None:
                    self._set_cursor(tx, *cursor)
                return None
            before = tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")
            if op == "mkdir" and path == "/":
                uid = store.get("uid")
                if uid and tx.one("SELECT 1 FROM stores WHERE uid = ?", (uid,)):
                    raise errors.AlreadyExists(f"store {uid} ({store.get('name')}) already exists here")
                s = self.create_store(store["name"], store.get("description") or "", store.get("metadata") or {},
                                      max_content_bytes=store.get("max_content_bytes") or DEFAULT_MAX_CONTENT,
                                      identity=ident)
                tx.run("UPDATE stores SET uid = COALESCE(?, uid), created_at = ?, updated_at = ? WHERE id = ?",
                       (uid, when, when, s.id))
            else:
                s = self._replay_store(tx, store)
                mtime = int(when * 1e9)
                if op in ("write", "delete", "rename", "chmod"):  # the target must hold what the source had
                    cur = tx.one("SELECT n.sha256, r.redacted_at FROM nodes n LEFT JOIN revisions r ON r.id = n.head_rev"
                                 " WHERE n.store_id = ? AND n.path = ?", (s.id, rev["old_path"] if op == "rename" else path))
                    expect = rev.get("prev_sha256") if op in ("write", "delete") else rev.get("sha256")
                    if cur is None or (expect and cur["redacted_at"] is None and cur["sha256"] != expect):
                        raise errors.PreconditionFailed(
                            f"{s.name}:{path} is not here as it was in the source before revision {rev.get('id')}: "
                            "the target has diverged from the source", current_sha256=cur and cur["sha256"])
                if op in ("create", "write"):
                    r = self.write(s, path, b"" if redacted else content, mode=rev["mode"], parents=False,
                                   if_absent=op == "create", identity=ident, opts=WriteOptions(mtime_ns=mtime),
                                   hooks=False)
                    if r.revision is None:
                        raise errors.MemfsError(f"replaying {op} {s.name}:{path} changed nothing: the target has "
                                                "diverged from the source")
                elif op == "symlink":
                    self.symlink(s, path, content.decode("utf-8", "surrogateescape"), identity=ident)
                elif op == "mkdir":
                    self.mkdir(s, path, mode=rev["mode"], identity=ident)
                elif op == "delete":
                    self.delete(s, path, identity=ident)
                elif op == "rmdir":
                    self.rmdir(s, path, identity=ident)
                elif op == "rename":
                    self.rename(s, rev["old_path"], path, noreplace=True, identity=ident)
                else:
                    self.chmod(s, path, rev["mode"], identity=ident)
            new = [r[0] for r in tx.all("SELECT id FROM revisions WHERE id > ? ORDER BY id", (before,))]
            if len(new) != 1:
                raise errors.MemfsError(f"replaying {op} {path} (revision {rev.get('id')}) made {len(new)} revisions "
                                        "here, not 1: the target has diverged from the source")
            tx.run("UPDATE revisions SET created_at = ?, message = ?, origin = ? WHERE id = ?",
                   (when, rev.get("message"), origin, new[0]))
            if "prev_sha256" in rev:  # as the source has it (a redaction there may have dropped it)
                tx.run("UPDATE revisions SET prev_sha256 = ? WHERE id = ?", (rev["prev_sha256"], new[0]))
            if redacted:
                tx.run("UPDATE revisions SET sha256 = NULL, size = 0, redacted_at = ?, redacted_by = ? WHERE id = ?",
                       (rev["redacted_at"], rev.get("redacted_by"), new[0]))
            if cursor is not None:
                self._set_cursor(tx, *cursor)
            return self._rev(tx, new[0])

    def _replay_store(self, tx, store: dict) -> Store:
        """The store revisions of `store` replay into: by uid (kept in step with the source's
        name, description, metadata and limit), else by name."""
        uid = store.get("uid")
        r = tx.one("SELECT * FROM stores WHERE uid = ?" if uid else "SELECT * FROM stores WHERE name = ?",
                   (uid or store["name"],))
        if r is None:
            raise errors.StoreNotFound(f"store {store.get('name')!r} ({uid or 'no id'}) is not here: its history must "
                                       "be replayed from the start")
        if uid:
            want = (store.get("name") or r["name"], store.get("description", r["description"]),
                    json.dumps(store.get("metadata", json.loads(r["metadata"]))),
                    store.get("max_content_bytes") or r["max_content_bytes"])
            if want != (r["name"], r["description"], r["metadata"], r["max_content_bytes"]):
                paths.check_store_name(want[0]), _check_metadata(json.loads(want[2]))
                if tx.one("SELECT 1 FROM stores WHERE name = ? AND id != ?", (want[0], r["id"])):
                    raise errors.AlreadyExists(f"the source renamed store {r['name']!r} to {want[0]!r}, a name "
                                               "another store has here")
                tx.run("UPDATE stores SET name = ?, description = ?, metadata = ?, max_content_bytes = ? WHERE id = ?",
                       (*want, r["id"]))
                r = tx.one("SELECT * FROM stores WHERE id = ?", (r["id"],))
        return Store._from(r)
