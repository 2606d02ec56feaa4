"""History: one revision, the log and change feed, a file's history across renames, diffs,
blame, and revert (which appends; history is never rewritten)."""

from __future__ import annotations

import difflib
from typing import Iterable, Optional

from .. import errors, paths
from .records import DIR, GONE_OPS, REVISION_OPS, SYMLINK, Identity, Revision, is_binary, _like_prefix, REV_COLUMNS


class HistoryMixin:
    """History: revisions, the log and change feed, diffs, blame, revert."""

    def revert(self, ref, to: int, path: Optional[str] = None, *, identity: Optional[Identity] = None,
               dry_run: bool = False) -> list[Revision]:
        """Make a path (or the whole store, or a directory) look as it did at a revision, by
        appending new revisions, in one transaction: all of it or nothing. History is never
        rewritten.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param to: the revision to go back to
        :param path: only this file or directory (default: the whole store)
        :param identity: who acts (default: this Memfs's identity)
        :param dry_run: change nothing; return the plan as (action, path, Entry) tuples
        :returns: the new Revisions (or the plan)

        Raises RevisionNotFound, ReadOnly, StoreNotFound."""
        with self.db.write():
            return self._revert(ref, to, path, identity, dry_run)

    def _revert(self, ref, to, path, identity, dry_run):
        store = self._store(ref)
        self.revision(to)
        prefix = paths.normalize(path) if path else "/"
        ident = identity or self.identity
        msg = f"revert to revision {to}"

        def within(p):
            return prefix == "/" or p == prefix or p.startswith(prefix + "/")

        old = {p: e for p, e in self.tree(store, to).items() if within(p)}
        now_tree = {p: e for p, e in self.tree(store).items() if within(p)}
        plan = []
        for p in sorted(now_tree, key=lambda p: p.count("/"), reverse=True):
            # a symlink cannot be rewritten in place: one pointing elsewhere is removed, then re-made
            if p not in old or old[p].kind != now_tree[p].kind or (
                    old[p].kind == SYMLINK and old[p].sha256 != now_tree[p].sha256):
                if p != "/":
                    plan.append(("rm", p, now_tree[p]))
        for p in sorted(old, key=lambda p: p.count("/")):
            e, cur = old[p], now_tree.get(p)
            if cur is not None and cur.kind == e.kind and (cur.sha256 == e.sha256 or e.kind == DIR):
                if cur.mode != e.mode:
                    plan.append(("chmod", p, e))
                continue
            plan.append(("put", p, e))
        if dry_run:
            return plan
        out = []
        for act, p, e in plan:
            if act == "rm":
                out.append(self.rmdir(store, p, message=msg, identity=ident) if e.kind == DIR
                           else self.delete(store, p, message=msg, identity=ident))
            elif act == "chmod":
                r = self.chmod(store, p, e.mode, identity=ident)
                if r:
                    out.append(r)
            elif e.kind == DIR:
                n = self.mkdir(store, p, mode=e.mode, exist_ok=True, identity=ident, message=msg)
                out.append(self.revision(n.head_rev))
            elif e.kind == SYMLINK:
                n = self.symlink(store, p, self.blob(e.sha256).decode("utf-8", "surrogateescape"), identity=ident, message=msg)
                out.append(self.revision(n.head_rev))
            else:
                r = self.write(store, p, self.blob(e.sha256), mode=e.mode, message=msg, identity=ident, hooks=False)
                if r.revision:
                    out.append(r.revision)
        return out

    def revision(self, rev_id: int) -> Revision:
        """One revision by id.

        :param rev_id: the revision id
        :returns: the Revision (with `store_name`)

        Raises RevisionNotFound."""
        r = self._rev(self.db, rev_id)
        if r is None:
            raise errors.RevisionNotFound(f"no such revision: {rev_id}")
        return r

    def log(self, ref=None, path: Optional[str] = None, *, agent: Optional[str] = None,
            session: Optional[str] = None, since: Optional[float] = None, until: Optional[float] = None,
            after: Optional[int] = None, ops: Optional[Iterable[str]] = None, limit: Optional[int] = None,
            newest_first: bool = True) -> list[Revision]:
        """Revisions, filtered, newest first by default. A path matches itself, everything under it,
        and renames away from it (paths as written at the time).

        :param ref: the store: its name, its uid (memstore_…) or a Store (default: every store)
        :param path: only at or under this path
        :param agent: only this agent's
        :param session: only this session's
        :param since: only from this time (epoch seconds)
        :param until: only up to this time
        :param after: only after this revision id (a change-feed cursor)
        :param ops: only these operations (create, write, delete, rename, mkdir, ...)
        :param limit: at most this many
        :param newest_first: order (False: oldest first)
        :returns: a list of Revision

        Raises StoreNotFound."""
        where, params = [], []
        if ref is not None:
            store = self._store(ref)
            where.append("r.store_id = ?"), params.append(store.id)
            if path is not None:
                p = paths.normalize(path)
                if p != "/":
                    where.append("(r.path = ? OR r.path LIKE ? ESCAPE '\\' OR r.old_path = ?)")
                    params += [p, _like_prefix(p), p]
        for col, val in (("agent", agent), ("session", session)):
            if val is not None:
                where.append(f"r.{col} = ?"), params.append(val)
        if since is not None:
            where.append("r.created_at >= ?"), params.append(since)
        if until is not None:
            where.append("r.created_at <= ?"), params.append(until)
        if after is not None:
            where.append("r.id > ?"), params.append(after)
        if ops:
            ops = list(ops)
            unknown = [o for o in ops if o not in REVISION_OPS]
            if unknown:  # a filter that can match nothing is a typo, not an empty log
                raise errors.InvalidInput(f"unknown operation {unknown[0]!r}: the operations are "
                                          f"{', '.join(REVISION_OPS)}")
            where.append(f"r.op IN ({', '.join('?' * len(ops))})"), params.extend(ops)
        sql = "SELECT " + REV_COLUMNS + " FROM revisions r JOIN stores s ON s.id = r.store_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.id " + ("DESC" if newest_first else "ASC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.db.read() as tx:
            return [Revision._from(r) for r in tx.all(sql, params)]

    def changes(self, after: int = 0, limit: int = 1000) -> list[Revision]:
        """The change feed: every revision after a cursor, oldest first.

        :param after: the last revision id already seen (0: from the start)
        :param limit: at most this many
        :returns: a list of Revision; resume with `after=` the last one's id"""
        return self.log(after=after, limit=limit, newest_first=False)

    def history(self, ref, path: str) -> list[Revision]:
        """Every revision of the file now (or last) at `path`, following it across renames.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path (now, or its last path if deleted)
        :returns: a list of Revision, newest first

        Raises PathNotFound (no history), StoreNotFound."""
        store = self._store(ref)
        path = paths.normalize(path)
        with self.db.read() as tx:
            nid = tx.scalar("SELECT id FROM nodes WHERE store_id = ? AND path = ?", (store.id, path))
            if nid is None:
                nid = tx.scalar("SELECT node_id FROM revisions WHERE store_id = ? AND path = ? ORDER BY id DESC LIMIT 1",
                                (store.id, path))
            if nid is None:
                raise errors.PathNotFound(f"{store.name}:{path}: no history")
            rows = tx.all("SELECT " + REV_COLUMNS + " FROM revisions r JOIN stores s ON s.id = r.store_id"
                          " WHERE node_id = ? ORDER BY r.id DESC", (nid,))
        return [Revision._from(r) for r in rows]

    def diff(self, ref, path: str, a: Optional[int] = None, b: Optional[int] = None, context: int = 3) -> str:
        """Unified diff of the file at `path` between two revisions, following it across renames.
        A side where it did not exist is empty.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :param a: the old side (default: its previous content revision)
        :param b: the new side (default: now)
        :param context: lines of context
        :returns: the diff text ("" when equal)

        Raises PathNotFound, StoreNotFound."""
        store = self._store(ref)
        path = paths.normalize(path)
        hist = self.history(store, path)
        node_id = hist[0].node_id
        if a is None and b is None:
            content = [r for r in hist if r.op in ("create", "write", "delete", "symlink")]
            a = content[1].id if len(content) > 1 else 0
        return self.diff_text(store, path, a, b, context, node_id=node_id)

    def _content_at(self, store, path, rev, node_id=None):
        """Bytes of a file at a revision (None where it did not exist). By node when known, so that
        a renamed file still diffs against its own past."""
        if rev == 0:
            return None
        if node_id is not None:
            with self.db.read() as tx:
                q = "SELECT * FROM revisions WHERE node_id = ?" + (" AND id <= ?" if rev else "") + " ORDER BY id DESC LIMIT 1"
                r = tx.one(q, (node_id, rev) if rev else (node_id,))
            if r is None or r["op"] in GONE_OPS or r["kind"] == DIR:
                return None
            return self.blob(r["sha256"])
        try:
            e = self.stat(store, path, rev=rev)
        except errors.NotFound:
            return None
        return None if e.kind == DIR else self.blob(e.sha256)

    def diff_text(self, ref, path: str, a: Optional[int], b: Optional[int], context: int = 3,
                  node_id: Optional[int] = None) -> str:
        """Unified diff of one file between revisions `a` and `b`, with no defaults guessed.

        :param ref: the store (name, uid or Store)
        :param path: the file's path (used for the headers, and to find it when `node_id` is None)
        :param a: the old side's revision; 0 means "did not exist" (an empty side)
        :param b: the new side's revision; None means now, 0 "did not exist"
        :param context: lines of context around each change
        :param node_id: follow this file by id (across renames) instead of by path
        :returns: the diff text ("" when equal; one line for binary content that differs)

        Raises StoreNotFound."""
        store = self._store(ref)
        da = self._content_at(store, path, a, node_id)
        db = self._content_at(store, path, b, node_id)
        if (da is not None and is_binary(da)) or (db is not None and is_binary(db)):
            return "" if da == db else f"Binary content of {path} differs\n"
        la = (da or b"").decode().splitlines(keepends=True)
        lb = (db or b"").decode().splitlines(keepends=True)
        name_a = f"a{path}@{a}" if da is not None else "/dev/null"
        name_b = f"b{path}@{b if b is not None else 'now'}" if db is not None else "/dev/null"
        out = []
        for line in difflib.unified_diff(la, lb, name_a, name_b, n=context):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def diff_store(self, ref, a: int, b: Optional[int] = None, context: int = 3, path: str = "/") -> str:
        """Unified diff of a whole store (or of the subtree at `path`) between two revisions.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param a: the old side's revision
        :param b: the new side's revision (default: now)
        :param context: lines of context
        :param path: only files at or under this path
        :returns: the diff text of every file that differs

        Raises StoreNotFound."""
        store = self._store(ref)
        prefix = paths.normalize(path)
        ta, tb = self.tree(store, a), self.tree(store, b)
        out = []
        for p in sorted(set(ta) | set(tb)):
            if prefix != "/" and p != prefix and not p.startswith(prefix + "/"):
                continue
            ea, eb = ta.get(p), tb.get(p)
            if (ea and ea.kind == DIR) or (eb and eb.kind == DIR):
                continue
            if ea and eb and ea.sha256 == eb.sha256:
                continue
            out.append(self.diff_text(store, p, a if ea else 0, b if eb else 0, context,
                                        node_id=None))
        return "".join(out)

    def blame(self, ref, path: str) -> list[tuple[Revision, str]]:
        """Each current line of a file with the revision that last introduced it.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :returns: a list of (Revision, line)

        Raises PathNotFound, IsADirectory, StoreNotFound."""
        store = self._store(ref)
        full = self.history(store, path)
        if full[0].kind == DIR:
            raise errors.IsADirectory(f"{store.name}:{paths.normalize(path)} is a directory")
        hist = [r for r in reversed(full) if r.op in ("create", "write") and r.sha256]
        lines: list[tuple[Revision, str]] = []
        for r in hist:
            new = self.blob(r.sha256).decode("utf-8", "replace").splitlines()
            old = [t for _, t in lines]
            sm = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
            merged: list[tuple[Revision, str]] = []
            for tag, i1, i2, j1, j2 in sm.get_opcodes():
                if tag == "equal":
                    merged.extend(lines[i1:i2])
                else:
                    merged.extend((r, t) for t in new[j1:j2])
            lines = merged
        return lines
