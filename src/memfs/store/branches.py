"""Branches of a store, and merging them back: part of the store API (mixed into `Memfs`).

A branch is a store row of its own (name "STORE@BRANCH") that records the store it came from,
the revision it started at and its state. Its nodes start as copies of the store's tree at that
revision, made by a few INSERT ... SELECT statements: new node ids (inode numbers), the same
blobs (shared by hash), one revision per copied entry, `origin_id` naming the store node each
copy came from. From then on it is an ordinary store: mounts, history, preconditions, hooks
(copied from the store) and `.memfs/` work on it unchanged, and the store is untouched.

A merge compares, per node (following identity across renames): the store at the branch's
base, the branch now, the store now (memfs/merge.py decides). It applies in one transaction,
each write guarded by the store-side hash the plan was computed against; a write that lands on
the store in between makes the merge compute again (never overwrite). Every revision of a
merge is attributed to whoever merges and names the branch revision it brings in
(revisions.merged_from). A later merge of the same branch takes, for a file merged before, the
branch version brought in then as its base (as git takes the merge commit).
"""

from __future__ import annotations

import difflib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

from .. import errors, merge as merging, paths
from .records import DIR, FILE, GONE_OPS, Identity, Store, _now_ns, is_binary

BRANCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
SNAPSHOT_PREFIX = "~at-"  # time-travel copies: hidden from listings, removed at unmount
SNAPSHOT_GRACE = 120.0  # seconds a time-travel copy waits for its mount to start (see stale_snapshots)
MERGE_ATTEMPTS = 5
BULK = "/* bulk */ "  # an INSERT ... SELECT of many rows: not one new id for the backend to return


@dataclass
class Branch:
    """A branch: `store` is the branch's own store (mount it, read it, write it), `parent` the
    store it merges into."""

    store: Store
    parent: Store
    name: str
    base_rev: int
    fork_rev: int
    status: str  # open | merged | discarded | snapshot
    ended_at: Optional[float]

    @property
    def ref(self) -> str:
        return self.store.name

    def to_dict(self) -> dict:
        return {"name": self.name, "store": self.parent.name, "ref": self.store.name, "id": self.store.uid,
                "base_rev": self.base_rev, "fork_rev": self.fork_rev, "status": self.status,
                "created_at": self.store.created_at, "ended_at": self.ended_at}


@dataclass
class MergeReport:
    branch: str
    files: list = field(default_factory=list)  # merging.FileMerge
    applied: bool = False
    dry_run: bool = False
    revisions: list = field(default_factory=list)  # revision ids written
    attempts: int = 1

    @property
    def conflicts(self):
        return [f for f in self.files if f.status == "conflict"]

    def to_dict(self) -> dict:
        return {"branch": self.branch, "applied": self.applied, "dry_run": self.dry_run,
                "conflicts": len(self.conflicts), "revisions": self.revisions,
                "files": [f.to_dict() for f in self.files]}


class BranchesMixin:
    """Branch methods of `Memfs` (uses self.db and the store API's own methods)."""

    # ------------------------------------------------------------------ reading

    def branch(self, ref, name: Optional[str] = None) -> Branch:
        """A branch by "STORE@NAME", by (STORE, NAME), or by its own store."""
        if name is None and isinstance(ref, str) and "@" in ref and not isinstance(ref, Store):
            ref, _, name = ref.rpartition("@")
        if name is None:
            s = self._store(ref)
            r = self.db.one("SELECT * FROM stores WHERE id = ?", (s.id,))
            if r is None or r["parent_id"] is None:
                raise errors.NotFound(f"{s.name!r} is a store, not a branch")
        else:
            parent = self._store(ref)
            r = self.db.one("SELECT * FROM stores WHERE parent_id = ? AND branch = ?", (parent.id, name))
            if r is None:
                raise errors.NotFound(f"store {parent.name!r} has no branch {name!r} (see `memfs branch ls {parent.name}`)")
        return self._branch_from(r)

    def branches(self, ref=None, *, include_closed: bool = True, include_snapshots: bool = False) -> list[Branch]:
        """The branches of a store (or of every store), oldest first."""
        q, params = "SELECT * FROM stores WHERE parent_id IS NOT NULL", []
        if ref is not None:
            q, params = q + " AND parent_id = ?", [self._store(ref).id]
        out = [self._branch_from(r) for r in self.db.all(q + " ORDER BY id", params)]
        return [b for b in out if (include_snapshots or b.status != "snapshot")
                and (include_closed or b.status in ("open", "snapshot"))]

    def branch_parent(self, ref) -> Optional[Store]:
        """The store a branch belongs to (None for a store that is not a branch): API keys reach
        a branch with their access to that store."""
        s = self._store(ref)
        r = self.db.one("SELECT parent_id FROM stores WHERE id = ?", (s.id,))
        return self.get_store(r[0]) if r is not None and r[0] is not None else None

    def _branch_from(self, r) -> Branch:
        return Branch(Store._from(r), self.get_store(r["parent_id"]), r["branch"], r["base_rev"], r["fork_rev"],
                      r["branch_status"], r["branch_ended_at"])

    # ------------------------------------------------------------------ creating and closing

    def create_branch(self, ref, name: str, *, rev: Optional[int] = None, at: Optional[float] = None,
                      identity: Optional[Identity] = None, snapshot: bool = False) -> Branch:
        """Branch a store as it is now, or as it was at revision `rev` or time `at`. The copy is
        a handful of statements whatever the size of the tree (no per-file work in Python).
        `snapshot`: a read-only copy for a time-travel mount (hidden, removed by `drop_branch`)."""
        parent = self._store(ref)
        if snapshot:
            name = SNAPSHOT_PREFIX + secrets.token_hex(4)
        elif not isinstance(name, str) or not BRANCH_NAME.match(name):
            raise errors.InvalidName(f"invalid branch name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
                                     "starting with a letter or digit")
        ident = identity or self.identity
        with self.db.write() as tx:
            first = tx.scalar("SELECT MIN(id) FROM revisions WHERE store_id = ?", (parent.id,))
            head = tx.scalar("SELECT MAX(id) FROM revisions WHERE store_id = ?", (parent.id,))
            if at is not None and rev is not None:
                raise errors.InvalidInput("give a revision or a time, not both")
            if at is not None:
                rev = tx.scalar("SELECT MAX(id) FROM revisions WHERE store_id = ? AND created_at <= ?", (parent.id, at))
                if rev is None:
                    raise errors.RevisionNotFound(f"store {parent.name!r} did not exist at that time")
            if rev is None:
                rev = head
            if not isinstance(rev, int) or isinstance(rev, bool):
                raise errors.InvalidInput(f"a revision is a number, not {rev!r}")
            if first is None or rev < first:
                raise errors.RevisionNotFound(f"store {parent.name!r} did not exist at revision {rev} "
                                              f"(its first revision is {first})")
            if rev > tx.scalar("SELECT MAX(id) FROM revisions"):
                raise errors.RevisionNotFound(f"no such revision: {rev}")
            rev = min(rev, head)  # a later revision of another store: the store as it was then
            full = f"{parent.name}@{name}"
            if tx.one("SELECT 1 FROM stores WHERE (parent_id = ? AND branch = ?) OR name = ?", (parent.id, name, full)):
                raise errors.AlreadyExists(f"store {parent.name!r} already has a branch named {name!r}")
            now = time.time()
            sid = tx.run(
                "INSERT INTO stores (uid, name, description, metadata, max_content_bytes, created_at, updated_at,"
                " archived_at, parent_id, branch, base_rev, branch_status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("memstore_" + secrets.token_hex(12), full, parent.description,
                 tx.scalar("SELECT metadata FROM stores WHERE id = ?", (parent.id,)), parent.max_content_bytes, now,
                 now, now if snapshot else None, parent.id, name, rev, "snapshot" if snapshot else "open"))
            top = tx.scalar("SELECT value FROM counters WHERE name = 'node'")
            self._copy_tree(tx, parent.id, rev, sid, top, now)
            # (SQLite reports no row count for WITH ... INSERT: the new ids say how many)
            tx.run("UPDATE counters SET value = (SELECT COALESCE(MAX(id), ?) FROM nodes WHERE store_id = ?)"
                   " WHERE name = 'node'", (top, sid))
            msg = f"branch {name} of {parent.name} at revision {rev}"
            # (a leading comment: a bulk INSERT ... SELECT, not one whose new id the backend returns)
            tx.run(BULK + "INSERT INTO revisions (store_id, node_id, op, kind, parent_id, name, path, sha256, size, mode,"
                   " created_at, agent, session, actor, message, api_key_id)"
                   " SELECT ?, id, CASE kind WHEN 'dir' THEN 'mkdir' WHEN 'symlink' THEN 'symlink' ELSE 'create' END,"
                   " kind, parent_id, name, path, sha256, size, mode, ?, ?, ?, ?, ?, ? FROM nodes WHERE store_id = ?"
                   " ORDER BY path",
                   (sid, now, ident.agent, ident.session, ident.actor, msg, ident.api_key_id, sid))
            tx.run("UPDATE nodes SET head_rev = (SELECT MAX(r.id) FROM revisions r WHERE r.node_id = nodes.id)"
                   " WHERE store_id = ?", (sid,))
            tx.run("UPDATE stores SET root_node = (SELECT id FROM nodes WHERE store_id = ? AND path = '/'),"
                   " fork_rev = (SELECT MAX(id) FROM revisions WHERE store_id = ?) WHERE id = ?", (sid, sid, sid))
            # the store's write hooks guard its branches too
            tx.run(BULK + "INSERT INTO hooks (store_id, event, command, timeout, fail, created_at, created_by)"
                   " SELECT ?, event, command, timeout, fail, created_at, created_by FROM hooks WHERE store_id = ?"
                   " ORDER BY id", (sid, parent.id))
            return self._branch_from(tx.one("SELECT * FROM stores WHERE id = ?", (sid,)))

    def _copy_tree(self, tx, store_id: int, rev: int, into: int, top: int, now: float) -> None:
        """Copy the live tree of `store_id` at `rev` into store `into` as new nodes (ids top+1..),
        paths rebuilt from parent links (a renamed directory moved its files without their own
        revisions)."""
        c = ' COLLATE "C"' if self.db.dialect == "postgresql" else ""
        tx.run(
            "WITH RECURSIVE heads AS (SELECT node_id, MAX(id) AS m FROM revisions WHERE store_id = ? AND id <= ?"
            " GROUP BY node_id),"
            f" live AS (SELECT r.* FROM revisions r JOIN heads h ON r.id = h.m WHERE r.op NOT IN {GONE_OPS}),"
            f" tree (node_id, path) AS (SELECT node_id, '/'{c} FROM live WHERE parent_id IS NULL"
            " UNION ALL SELECT l.node_id, CASE WHEN t.path = '/' THEN '/' || l.name ELSE t.path || '/' || l.name END"
            " FROM live l JOIN tree t ON l.parent_id = t.node_id),"
            " num AS (SELECT node_id, path, ROW_NUMBER() OVER (ORDER BY node_id) AS k FROM tree)"
            " INSERT INTO nodes (id, store_id, kind, parent_id, name, path, sha256, size, mode, mtime_ns, ctime_ns,"
            " created_at, origin_id)"
            " SELECT ? + num.k, ?, l.kind, ? + pn.k, l.name, num.path, l.sha256, l.size, l.mode,"
            " COALESCE(n.mtime_ns, CAST(l.created_at * 1000000000 AS BIGINT)), ?, ?, l.node_id"
            " FROM live l JOIN num ON num.node_id = l.node_id LEFT JOIN num pn ON pn.node_id = l.parent_id"
            " LEFT JOIN nodes n ON n.id = l.node_id AND n.head_rev = l.id",
            (store_id, rev, top, into, top, _now_ns(), now))

    def discard_branch(self, ref) -> Branch:
        """Close a branch without merging: it stays readable (its history too), and read-only."""
        b = self.branch(ref)
        if b.status == "merged":
            raise errors.InvalidInput(f"branch {b.ref} was merged; it cannot be discarded")
        if b.status == "discarded":
            return b
        self._close_branch(b, "discarded")
        return self.branch(b.store)

    def drop_branch(self, ref) -> None:
        """Delete a branch with its copy and history (a time-travel snapshot at unmount)."""
        self.delete_store(self.branch(ref).store)

    def stale_snapshots(self, *, grace: float = SNAPSHOT_GRACE) -> list[Branch]:
        """Time-travel copies (`memfs mount --at`) whose mount is gone without removing them (its
        daemon was killed with SIGKILL, or the database was unreachable when it ended). A copy
        belongs to the mount sessions that hold it (sessions.stores names it): it is stale once
        none of them is open, or the open ones are processes of this host that no longer run.
        A copy no session has held yet is left alone for `grace` seconds (the mount starting)."""
        return [b for b, _ in self._stale_snapshots(grace)]

    def drop_stale_snapshots(self, *, grace: float = SNAPSHOT_GRACE) -> list[Branch]:
        """Delete the stale time-travel copies (see `stale_snapshots`), and close the sessions of
        their dead daemons. `memfs mount`, `umount` and `doctor --fix` call it.

        :returns: the copies deleted"""
        out = []
        for b, dead in self._stale_snapshots(grace):
            for sid in dead:
                self.close_session(sid)
            try:
                self.drop_branch(b.store)
            except errors.NotFound:  # its mount (or another clean-up) removed it meanwhile
                continue
            out.append(b)
        return out

    def _stale_snapshots(self, grace: float) -> list:
        """[(snapshot Branch, [row ids of the open sessions of its dead daemons])]."""
        from ..proc import pid_alive

        host, now, out = socket.gethostname(), time.time(), []
        with self.db.read() as tx:
            rows = tx.all("SELECT * FROM stores WHERE branch_status = 'snapshot' ORDER BY id")
            for r in rows:
                # by the copy's own random suffix (a renamed store renames the copy): a session
                # records the names it mounted as JSON keys
                suffix = r["name"][r["name"].rindex("@"):]
                holders = tx.all("SELECT id, host, pid, ended_at FROM sessions WHERE stores LIKE ?",
                                 (f'%{suffix}"%',))
                live = [h for h in holders if h["ended_at"] is None]
                dead = [h["id"] for h in live if h["host"] == host and not pid_alive(h["pid"])]
                if len(dead) < len(live) or (not holders and r["created_at"] > now - grace):
                    continue
                out.append((r, dead))
        return [(self._branch_from(r), dead) for r, dead in out]

    def _close_branch(self, b: Branch, status: str) -> None:
        with self.db.write() as tx:
            now = time.time()
            tx.run("UPDATE stores SET branch_status = ?, branch_ended_at = ?, archived_at = COALESCE(archived_at, ?),"
                   " updated_at = ? WHERE id = ?", (status, now, now, now, b.store.id))

    def _open(self, b: Branch, what: str) -> None:
        if b.status != "open":
            raise errors.InvalidInput(f"branch {b.ref} is {b.status}: it cannot be {what}")

    # ------------------------------------------------------------------ diff and merge

    def _sides(self, b: Branch):
        """(base, branch, store) trees keyed by the store's node id (a file new on the branch: by
        ('new', branch node id)), and per key the branch revision it stands for."""
        with self.db.read() as tx:
            origin = {r[0]: r[1] for r in tx.all("SELECT id, origin_id FROM nodes WHERE store_id = ?"
                                                  " AND origin_id IS NOT NULL", (b.store.id,))}
            merged = tx.all("SELECT r.node_id AS snode, x.node_id AS bnode, x.path, x.kind, x.sha256, x.mode, x.op"
                            " FROM revisions r JOIN revisions x ON x.id = r.merged_from"
                            " WHERE r.store_id = ? AND x.store_id = ? ORDER BY r.id", (b.parent.id, b.store.id))
        base = {e.node_id: _state(e) for e in self.tree(b.parent, b.base_rev).values()}
        for r in merged:  # merged before: that branch version is the base now
            origin[r["bnode"]] = r["snode"]
            base[r["snode"]] = None if r["op"] in GONE_OPS else merging.State(r["path"], r["kind"], r["sha256"],
                                                                                r["mode"])
        base = {k: v for k, v in base.items() if v is not None}
        branch, brev = {}, {}
        for e in self.tree(b.store).values():
            key = origin.get(e.node_id, ("new", e.node_id))
            branch[key], brev[key] = _state(e), e.rev
        store = {e.node_id: _state(e) for e in self.tree(b.parent).values()}
        # a deleted branch file: the revision that deleted it
        for key in set(base) - set(branch):
            bnode = next((bn for bn, sn in origin.items() if sn == key), None)
            if bnode is not None:
                brev[key] = self.db.one("SELECT MAX(id) FROM revisions WHERE node_id = ?", (bnode,))[0]
        return base, branch, store, brev

    def plan_merge(self, ref, *, resolve: Optional[dict] = None, take: Optional[str] = None) -> tuple:
        """What merging would do now: (Plan, brev). `resolve` maps paths to 'ours' (keep the
        store's) or 'theirs' (take the branch's); `take` settles every other conflict the same way."""
        b = self.branch(ref)
        for how in [take, *(resolve or {}).values()]:
            if how not in (None, "ours", "theirs"):
                raise errors.InvalidInput(f"a resolution is 'ours' (the store's) or 'theirs' (the branch's), not {how!r}")
        res = {paths.normalize(p): v for p, v in (resolve or {}).items()}
        base, branch, store, brev = self._sides(b)
        plan = merging.plan(base, branch, store, self.blob, lambda p: res.get(p, take))
        return plan, brev

    def branch_diff(self, ref, *, context: int = 3) -> str:
        """The branch's own changes since it started, as a unified diff (renames followed)."""
        b = self.branch(ref)
        base, branch, _, _ = self._sides(b)
        out = []
        for key in sorted(set(base) | set(branch), key=lambda k: (branch.get(k) or base.get(k)).path):
            x, y = base.get(key), branch.get(key)
            if x == y or (x or y).kind == DIR:
                continue
            out.append(self._text_diff(x, y, context))
        return "".join(out)

    def merge_diff(self, plan, context: int = 3) -> str:
        """The store now against the store after the merge, as a unified diff."""
        out = []
        for f in plan.files:
            if not f.clean or f.kind == DIR or f.action in (None, "chmod"):
                continue
            old = merging.State(f.store_path, f.kind, f.store_sha, 0) if f.store_path else None
            if f.action == "delete":
                new = None
            else:
                new = merging.State(f.path, f.kind, None, 0)
            out.append(self._text_diff(old, new, context, new_content=f.content))
        return "".join(out)

    def _text_diff(self, a, b, context, new_content=None) -> str:
        da = self.blob(a.sha256) if a is not None else None
        db = new_content if new_content is not None else (self.blob(b.sha256) if b is not None and b.sha256 else
                                                          (da if b is not None else None))
        name_a = "a" + a.path if a is not None else "/dev/null"
        name_b = "b" + b.path if b is not None else "/dev/null"
        if (da is not None and is_binary(da)) or (db is not None and is_binary(db)):
            return "" if da == db else f"Binary content of {(b or a).path} differs\n"
        if da == db:
            return f"rename {a.path} => {b.path}\n" if a and b and a.path != b.path else ""
        la = (da or b"").decode().splitlines(keepends=True)
        lb = (db or b"").decode().splitlines(keepends=True)
        out = []
        for line in difflib.unified_diff(la, lb, name_a, name_b, n=context):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        return "".join(out)

    def merge_branch(self, ref, *, resolve: Optional[dict] = None, take: Optional[str] = None,
                     clean_only: bool = False, dry_run: bool = False,
                     identity: Optional[Identity] = None) -> MergeReport:
        """Merge a branch into its store. Conflicts left unsettled (see `plan_merge`) apply
        nothing (MergeConflicts, whose `report` lists every file) unless `clean_only`, which
        applies the rest and leaves the branch open. A merge that applies everything closes the
        branch (merged, read-only). Runs the store's write hooks over new content first."""
        b = self.branch(ref)
        self._open(b, "merged")
        ident = identity or self.identity
        attempts = 0
        while True:
            attempts += 1
            plan, brev = self.plan_merge(b.store, resolve=resolve, take=take)
            rep = MergeReport(b.ref, plan.files, dry_run=dry_run, attempts=attempts)
            if dry_run:
                return rep
            if plan.conflicts and not clean_only:
                raise MergeConflicts(f"merging {b.ref} into {b.parent.name}: {len(plan.conflicts)} conflict{'s' if len(plan.conflicts) != 1 else ''} "
                                     f"({', '.join(f.path for f in plan.conflicts[:5])}); settle them with "
                                     "--ours/--theirs, or apply the clean files only", report=rep)
            hooked = self._merge_hooks(b, plan, ident)
            try:
                with self.db.write() as tx:
                    if tx.scalar("SELECT branch_status FROM stores WHERE id = ?", (b.store.id,)) != "open":
                        raise errors.InvalidInput(f"branch {b.ref} was closed while it was being merged")
                    rep.revisions = self._apply_merge(tx, b, plan, brev, ident, hooked)
                    if not plan.conflicts:
                        now = time.time()
                        tx.run("UPDATE stores SET branch_status = 'merged', branch_ended_at = ?,"
                               " archived_at = COALESCE(archived_at, ?), updated_at = ? WHERE id = ?",
                               (now, now, now, b.store.id))
            except (errors.PreconditionFailed, errors.AlreadyExists, errors.PathNotFound):
                # the store changed under the plan: compute it again, never overwrite
                if attempts >= MERGE_ATTEMPTS:
                    raise errors.PreconditionFailed(f"{b.parent.name} kept changing while {b.ref} was merged "
                                                    f"({attempts} attempts); nothing was merged, try again")
                time.sleep(0.01 * attempts)
                continue
            rep.applied = True
            return rep

    def _merge_hooks(self, b: Branch, plan, ident) -> dict:
        """New content through the store's write hooks, before the transaction (hooks never run
        inside one): key -> (content, message)."""
        out = {}
        for f in plan.actions:
            if f.content is not None and f.kind == FILE:
                out[f.key] = self.run_write_hooks(b.parent, f.path, f.content, identity=ident,
                                                  operation="create" if f.action == "create" else "write")
        return out

    def _apply_merge(self, tx, b: Branch, plan, brev: dict, ident: Identity, hooked: dict) -> list[int]:
        """Apply the clean actions of `plan` to the store inside `tx`; each guarded by the store
        hash it was planned against. Deletions first, then new directories (shallowest first),
        renames, content, and last the directories removed on the branch (deepest first, only
        when empty)."""
        store = b.parent
        before = tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")
        acts = plan.actions
        order = {"delete": 0, "mkdir": 1, "rename": 2, "create": 3, "write": 3, "chmod": 3, "rmdir": 4}
        acts.sort(key=lambda f: (order[f.action], -f.path.count("/") if f.action == "rmdir" else f.path.count("/"),
                                 f.path))
        marks = []  # (revision id before the action, store node, key): to point at the branch revision

        def here(f):
            """The store node's current path (a renamed directory moved it), checked against the plan."""
            r = tx.one("SELECT path, sha256, kind FROM nodes WHERE id = ? AND store_id = ? AND path IS NOT NULL",
                       (f.key, store.id))
            if r is None or (r["kind"] != DIR and r["sha256"] != f.store_sha):
                raise errors.PreconditionFailed(f"{store.name}:{f.store_path} changed during the merge",
                                                current_sha256=r and r["sha256"])
            return r["path"]

        msg = f"merge {b.ref}"
        for f in acts:
            mark = tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions")
            content, note = hooked.get(f.key, (f.content, None))
            m = msg + (f" ({note})" if note else "") + (" (merged line by line)" if f.status == "merged" else "")
            if f.action == "delete":
                self.delete(store, here(f), if_match=f.store_sha, identity=ident, message=m)
            elif f.action == "rmdir":
                p = here(f)
                if tx.one("SELECT 1 FROM nodes WHERE parent_id = ? AND path IS NOT NULL LIMIT 1", (f.key,)):
                    continue  # the store keeps files in it: the directory stays
                self.rmdir(store, p, identity=ident, message=m)
            elif f.action == "mkdir":
                self.mkdir(store, f.path, mode=f.mode or 0o755, parents=True, exist_ok=True, identity=ident, message=m)
            elif f.action == "create":
                if f.kind == "symlink":
                    self._merge_parent(store, f.path, ident, m)
                    self.symlink(store, f.path, content.decode("utf-8", "surrogateescape"), identity=ident, message=m)
                else:
                    self.write(store, f.path, content, if_absent=True, mode=f.mode, identity=ident, message=m,
                               hooks=False)
            else:  # rename / write / chmod of a node the store has
                p = here(f)
                if f.action == "rename" and p != f.path:
                    self._merge_parent(store, f.path, ident, m)
                    self.rename(store, p, f.path, noreplace=True, if_match=f.store_sha if f.kind != DIR else None,
                                identity=ident, message=m)
                if content is not None:
                    self.write(store, f.path, content, if_match=f.store_sha, mode=f.mode, identity=ident, message=m,
                               hooks=False)
                elif f.mode is not None and f.kind != "symlink":
                    self.chmod(store, f.path, f.mode, identity=ident)
            node = f.key if f.action not in ("create", "mkdir") else tx.scalar(
                "SELECT id FROM nodes WHERE store_id = ? AND path = ?", (store.id, f.path))
            marks.append((mark, node, f.key))
        for mark, node, key in marks:
            if brev.get(key):  # only the node's own revisions (not the directories made for it)
                tx.run("UPDATE revisions SET merged_from = ? WHERE id > ? AND node_id = ?", (brev[key], mark, node))
        return [r[0] for r in tx.all("SELECT id FROM revisions WHERE id > ? AND store_id = ? ORDER BY id",
                                     (before, store.id))]

    def _merge_parent(self, store, path, ident, message):
        parent = paths.split(path)[0]
        if parent != "/":
            self.mkdir(store, parent, parents=True, exist_ok=True, identity=ident, message=message)


class MergeConflicts(errors.PreconditionFailed):
    """A merge found conflicts and applied nothing; `report` lists every file."""

    error_type = "merge_conflict_error"

    def __init__(self, message: str, report: MergeReport):
        super().__init__(message)
        self.report = report


def _state(e) -> merging.State:
    return merging.State(e.path, e.kind, e.sha256, e.mode)
