"""Stores: create, list, look up, rename or describe, archive, delete."""

from __future__ import annotations

import json
import secrets
import time
import unicodedata
from typing import Optional

from .. import errors, paths
from .branches import BRANCH_NAME
from .records import DEFAULT_MAX_CONTENT, DIR, Identity, Store, _check_metadata, _now_ns


class StoresMixin:
    """Stores: create, list, look up, update, archive, delete."""

    def create_store(self, name: str, description: str = "", metadata: Optional[dict] = None,
                     max_content_bytes: int = DEFAULT_MAX_CONTENT, identity: Optional[Identity] = None) -> Store:
        """Create an empty store (its root directory is its first revision).

        :param name: 1-255 characters, unique in the database (NFC, trimmed)
        :param description: up to 1,024 characters, shown to agents that mount it
        :param metadata: up to 16 string keys and values
        :param max_content_bytes: the largest file content the store accepts
        :param identity: who acts (default: this Memfs's identity)
        :returns: the new Store

        Raises InvalidInput (a bad name, description, metadata or limit), AlreadyExists."""
        name = paths.check_store_name(name)
        description = description or ""
        if len(description) > 1024:
            raise errors.InvalidInput("description is longer than 1,024 characters")
        metadata = _check_metadata(metadata or {})
        if not isinstance(max_content_bytes, int) or max_content_bytes < 1:
            raise errors.InvalidInput("max_content_bytes must be a positive integer")
        ident = identity or self.identity
        now = time.time()
        with self.db.write() as tx:
            if tx.one("SELECT 1 FROM stores WHERE name = ?", (name,)):
                raise errors.AlreadyExists(f"a store named {name!r} already exists")
            uid = "memstore_" + secrets.token_hex(12)
            sid = tx.run(
                "INSERT INTO stores (uid, name, description, metadata, max_content_bytes, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (uid, name, description, json.dumps(metadata), max_content_bytes, now, now),
            )
            ns = _now_ns()
            root = tx.run(
                "INSERT INTO nodes (id, store_id, kind, parent_id, name, path, size, mode, mtime_ns, ctime_ns, created_at)"
                " VALUES (?, ?, 'dir', NULL, '', '/', 0, ?, ?, ?, ?)",
                (self._alloc_node(tx), sid, 0o755, ns, ns, now),
            )
            rev = self._append(tx, sid, root, "mkdir", DIR, None, "", "/", None, None, None, 0, 0o755, None, ident, None, now)
            tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (rev, root))
            tx.run("UPDATE stores SET root_node = ? WHERE id = ?", (root, sid))
            return Store._from(tx.one("SELECT * FROM stores WHERE id = ?", (sid,)))

    def list_stores(self, include_archived: bool = True, include_branches: bool = False) -> list[Store]:
        """Every store, by name.

        :param include_archived: include archived (read-only) stores
        :param include_branches: include branches (store rows with a parent; see `branches`)
        :returns: a list of Store"""
        with self.db.read() as tx:
            rows = tx.all("SELECT * FROM stores" + ("" if include_branches else " WHERE parent_id IS NULL")
                          + " ORDER BY name")
        out = [Store._from(r) for r in rows]
        return out if include_archived else [s for s in out if not s.archived]

    def get_store(self, ref) -> Store:
        """A store by name, uid (memstore_…), id, or Store object (read again).

        :param ref: the name, uid, integer id or Store
        :returns: the Store as it is now

        Raises StoreNotFound."""
        if isinstance(ref, Store):
            ref = ref.id
        with self.db.read() as tx:
            if isinstance(ref, int):
                r = tx.one("SELECT * FROM stores WHERE id = ?", (ref,))
            else:
                # names are stored NFC and trimmed (check_store_name): look them up the same way
                name = unicodedata.normalize("NFC", ref).strip() if isinstance(ref, str) else ref
                r = tx.one("SELECT * FROM stores WHERE uid = ? OR name = ?", (ref, name))
        if r is None:
            raise errors.StoreNotFound(f"no such store: {ref!r}")
        return Store._from(r)

    def update_store(self, ref, *, name: Optional[str] = None, description: Optional[str] = None,
                     metadata: Optional[dict] = None, max_content_bytes: Optional[int] = None) -> Store:
        """Rename or describe a store.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param name: a new name (unique)
        :param description: a new description
        :param metadata: patch semantics: a key set to None is deleted, others set
        :param max_content_bytes: a new content limit (existing files are not checked)
        :returns: the Store as updated

        Raises StoreNotFound, ReadOnly (archived), InvalidInput, AlreadyExists (the name is taken)."""
        store = self.get_store(ref)
        if store.archived:
            raise errors.ReadOnly(f"store {store.name!r} is archived and read-only")
        sets, params = [], []
        if name is not None:
            name = paths.check_store_name(name)
            sets.append("name = ?"), params.append(name)
        if description is not None:
            if len(description) > 1024:
                raise errors.InvalidInput("description is longer than 1,024 characters")
            sets.append("description = ?"), params.append(description)
        if metadata is not None:
            merged = dict(store.metadata)
            for k, v in metadata.items():
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
            sets.append("metadata = ?"), params.append(json.dumps(_check_metadata(merged)))
        if max_content_bytes is not None:
            if not isinstance(max_content_bytes, int) or max_content_bytes < 1:
                raise errors.InvalidInput("max_content_bytes must be a positive integer")
            sets.append("max_content_bytes = ?"), params.append(max_content_bytes)
        if not sets:
            return store
        with self.db.write() as tx:
            if name is not None and name != store.name:
                self._rename_family(tx, store, name)
            tx.run(f"UPDATE stores SET {', '.join(sets)}, updated_at = ? WHERE id = ?",
                   (*params, time.time(), store.id))
        return self.get_store(store.id)

    def _rename_family(self, tx, store: Store, name: str) -> None:
        """Check a new name, and rename the store's branches with it ("OLD@b" -> "NEW@b", their
        own branches too) in the same transaction. A branch is renamed only within its store
        ("STORE@NEW", a valid branch name), so that its name keeps saying where it merges."""
        row = tx.one("SELECT name, parent_id FROM stores WHERE id = ?", (store.id,))
        branch = None
        if row["parent_id"] is not None:
            parent = tx.scalar("SELECT name FROM stores WHERE id = ?", (row["parent_id"],))
            branch = name[len(parent) + 1:] if name.startswith(parent + "@") else None
            if branch is None or not BRANCH_NAME.match(branch):
                raise errors.InvalidName(f"{row['name']!r} is a branch of {parent!r}: it can only be renamed to "
                                         f"{parent}@NEWNAME (1-64 letters, digits, '.', '_' or '-')")
        renames = [(store.id, name)] + [(sid, name + old[len(row["name"]):])
                                        for sid, old in self._descendants(tx, store.id, names=True)]
        ids = [sid for sid, _ in renames]
        for sid, new in renames:
            if tx.one(f"SELECT 1 FROM stores WHERE name = ? AND id NOT IN ({', '.join('?' * len(ids))})", (new, *ids)):
                raise errors.AlreadyExists(f"a store named {new!r} already exists"
                                           + (f" (renaming {row['name']!r} renames its branches too)"
                                              if sid != store.id else ""))
        if branch is not None:
            tx.run("UPDATE stores SET branch = ? WHERE id = ?", (branch, store.id))
        now = time.time()
        # two steps, so that no name is held twice on the way (names are unique): first a
        # passing name each, then the new ones
        for sid, _ in renames:
            tx.run("UPDATE stores SET name = ? WHERE id = ?", (f"~renaming-{sid}-{secrets.token_hex(4)}", sid))
        for sid, new in renames:
            tx.run("UPDATE stores SET name = ?, updated_at = ? WHERE id = ?", (new, now, sid))

    @staticmethod
    def _descendants(tx, store_id: int, names: bool = False) -> list:
        """The branches of a store, and theirs, all the way down: ids (or (id, name) pairs)."""
        out, todo = [], [store_id]
        while todo:
            rows = tx.all(f"SELECT id, name FROM stores WHERE parent_id IN ({', '.join('?' * len(todo))}) ORDER BY id",
                          todo)
            out += [(r[0], r[1]) if names else r[0] for r in rows]
            todo = [r[0] for r in rows]
        return out

    def archive_store(self, ref) -> Store:
        """Archive a store: permanent; it is read-only from then on.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :returns: the archived Store (archiving twice is harmless)

        Raises StoreNotFound."""
        store = self.get_store(ref)
        if not store.archived:
            with self.db.write() as tx:
                now = time.time()
                tx.run("UPDATE stores SET archived_at = ?, updated_at = ? WHERE id = ?", (now, now, store.id))
        return self.get_store(store.id)

    def delete_store(self, ref) -> Store:
        """Delete a store with its whole history, conflicts, hooks and branches. Blobs no other
        store uses are removed.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :returns: the Store as it was

        Raises StoreNotFound."""
        store = self.get_store(ref)
        with self.db.write() as tx:
            # its branches go with it (they cannot merge anywhere any more)
            ids = [store.id] + self._descendants(tx, store.id)
            for sid in ids:
                for table in ("revisions", "nodes", "conflicts", "hooks"):
                    tx.run(f"DELETE FROM {table} WHERE store_id = ?", (sid,))
                tx.run("DELETE FROM stores WHERE id = ?", (sid,))
            self._drop_orphan_blobs(tx)
        return store

    def _drop_orphan_blobs(self, tx):
        if tx.run(
            "DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM revisions WHERE sha256 IS NOT NULL)"
            " AND sha256 NOT IN (SELECT sha256 FROM conflicts WHERE sha256 IS NOT NULL)"
        ):
            # content gone for good: its hash goes too where it lingers (as redaction leaves it: a
            # store whose old versions were redacted while a branch still showed them)
            tx.run("UPDATE revisions SET prev_sha256 = NULL WHERE prev_sha256 IS NOT NULL"
                   " AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = revisions.prev_sha256)")
            tx.run("UPDATE nodes SET sha256 = NULL WHERE path IS NULL AND sha256 IS NOT NULL"
                   " AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = nodes.sha256)")
