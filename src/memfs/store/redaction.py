"""Redaction: blanking stored content for good (one revision, or every match of a pattern), and
vacuum, which leaves no copy of it in the database file."""

from __future__ import annotations

import json
import re
import time
from typing import Optional

from .. import errors
from .records import FILE, VERSION_OPS, Identity, RedactReport, Revision


class RedactionMixin:
    """Redaction: content removed for good, and vacuum."""

    @staticmethod
    def _current_revs(tx, node_id) -> set:
        """The revisions a live file still shows (its head, its last version); none once deleted."""
        n = tx.one("SELECT head_rev FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
        if n is None:
            return set()
        v = tx.scalar(f"SELECT MAX(id) FROM revisions WHERE node_id = ? AND op IN {VERSION_OPS}", (node_id,))
        return {n["head_rev"], v}

    def redact(self, rev_id: int, *, ref=None, identity: Optional[Identity] = None) -> Revision:
        """Blank the content of one file revision for good: its hash and size go, the row stays with
        `redacted_at`/`redacted_by`, and the blob is deleted once nothing (revision, file,
        conflict) refers to it. Redacting twice is harmless. Deleted rows can linger in free pages
        of the database file until `vacuum()`.

        The copies of that content in the store's branches go with it (see `redaction_copies`):
        a branch made from the store copies the file's revision, and a merge copies a branch's
        back. All or nothing: if a branch's live file still shows the content, nothing is
        redacted (CurrentVersion, naming the branch and the file).

        :param rev_id: the revision
        :param ref: the store: its name, its uid (memstore_…) or a Store (optional): the revision must be this store's
        :param identity: who acts (default: this Memfs's identity)
        :returns: the redacted Revision

        Raises RevisionNotFound, InvalidInput (not a file's revision), CurrentVersion (the version a
        live file still shows, here or in a branch: change or delete the file first)."""
        store = self._store(ref) if ref is not None else None
        with self.db.write() as tx:
            r = tx.one("SELECT * FROM revisions WHERE id = ?", (rev_id,))
            if r is None or (store is not None and r["store_id"] != store.id):
                raise errors.RevisionNotFound(f"no such revision: {rev_id}")
            if r["kind"] != FILE:
                raise errors.InvalidInput(f"revision {rev_id} is not a file's: only file content can be redacted")
            if r["redacted_at"] is None:
                if rev_id in self._current_revs(tx, r["node_id"]):
                    raise errors.CurrentVersion(
                        f"revision {rev_id} is the current version of {r['path']}: update or delete the file first")
                copies = self._copies(tx, r)
                shown = [c for c in copies if c["id"] in self._current_revs(tx, c["node_id"])]
                if shown:
                    raise errors.CurrentVersion(
                        f"revision {rev_id}'s content is still what {self._where(tx, shown)} shows now; nothing "
                        f"was redacted: {self._fix_hint(tx, shown)}, then redact again")
                self._blank(tx, [r, *copies], identity or self.identity)
            return self._rev(tx, rev_id)

    def redaction_copies(self, rev_id: int) -> list[Revision]:
        """The copies of a revision's content in the branches of its store, which `redact`
        blanks with it: revisions with the same content on the files that came from its file
        (a branch's copy, nodes.origin_id) or that its file took content from (a merge,
        revisions.merged_from), in branches of branches too. None once it is redacted.

        :param rev_id: the revision
        :returns: a list of Revision (with `store_name`: the branch), oldest first

        Raises RevisionNotFound."""
        with self.db.read() as tx:
            r = tx.one("SELECT * FROM revisions WHERE id = ?", (rev_id,))
            if r is None:
                raise errors.RevisionNotFound(f"no such revision: {rev_id}")
            return [self._rev(tx, c["id"]) for c in self._copies(tx, r)]

    def _copies(self, tx, r) -> list:
        """Rows of the unredacted revisions in branches of r's store that carry r's content on a
        file related to r's (copied from it or merged into it, transitively)."""
        family = self._descendants(tx, r["store_id"])
        if not family or not r["sha256"]:
            return []
        nodes, todo = {r["node_id"]}, [r["node_id"]]
        while todo:
            marks = ", ".join("?" * len(todo))
            found = [x[0] for x in tx.all(f"SELECT id FROM nodes WHERE store_id IN ({', '.join('?' * len(family))})"
                                          f" AND origin_id IN ({marks})", (*family, *todo))]
            found += [x[0] for x in tx.all(f"SELECT DISTINCT x.node_id FROM revisions m JOIN revisions x"
                                           f" ON x.id = m.merged_from WHERE m.node_id IN ({marks})", todo)]
            todo = [n for n in set(found) if n not in nodes]
            nodes.update(todo)
        return tx.all(f"SELECT * FROM revisions WHERE store_id IN ({', '.join('?' * len(family))})"
                      f" AND node_id IN ({', '.join('?' * len(nodes))}) AND sha256 = ? AND kind = 'file'"
                      " AND redacted_at IS NULL ORDER BY id", (*family, *nodes, r["sha256"]))

    @staticmethod
    def _where(tx, rows) -> str:
        return ", ".join(f"{tx.scalar('SELECT name FROM stores WHERE id = ?', (c['store_id'],))}:{c['path']} "
                         f"(revision {c['id']})" for c in rows)

    @staticmethod
    def _fix_hint(tx, rows) -> str:
        """How to make a branch's live file stop showing something: by the branch's state."""
        hints = []
        for sid in dict.fromkeys(c["store_id"] for c in rows):
            b = tx.one("SELECT name, branch_status FROM stores WHERE id = ?", (sid,))
            if b["branch_status"] in ("merged", "discarded"):
                hints.append(f"{b['name']} is {b['branch_status']} (read-only): delete it with "
                             f"memfs store rm '{b['name']}'")
            elif b["branch_status"] == "snapshot":
                hints.append(f"{b['name']} is a time-travel mount's copy: unmount it")
            else:
                hints.append(f"change or delete the file in {b['name']}")
        return "; ".join(hints)

    def redact_matching(self, ref, pattern: str, *, identity: Optional[Identity] = None,
                        dry_run: bool = False) -> RedactReport:
        """Redact every file revision of a store and of its branches (open, merged, discarded,
        time-travel copies; branches of branches) whose content matches a regular expression
        (searched in the text, UTF-8), blank refused writes kept as conflicts that match, and delete
        matching blobs nothing refers to any more. Revisions a live file still shows (in the store
        or in a branch) are left alone and listed as `current` (their `store_name` says where).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param pattern: a Python regular expression
        :param identity: who acts (default: this Memfs's identity)
        :param dry_run: change nothing; report what would be redacted
        :returns: a RedactReport (`redacted`, `current`: left alone, `blobs_removed`, `conflicts_blanked`,
            `stores`: the store and the branches searched)

        Raises InvalidInput (a bad pattern), StoreNotFound."""
        try:
            rx = re.compile(pattern)
        except (re.error, TypeError) as e:
            raise errors.InvalidInput(f"not a valid regular expression: {pattern!r} ({e})")
        store = self._store(ref)
        ident = identity or self.identity
        rep = RedactReport()

        def hit(sha):
            return bool(rx.search(self.blob(sha).decode("utf-8", "replace")))

        with self.db.write() as tx:
            family = [store.id] + self._descendants(tx, store.id)
            fam = f"store_id IN ({', '.join('?' * len(family))})"
            rep.stores = [tx.scalar("SELECT name FROM stores WHERE id = ?", (sid,)) for sid in family]
            shas = [r[0] for r in tx.all(f"SELECT DISTINCT sha256 FROM revisions WHERE {fam} AND kind = 'file'"
                                         " AND sha256 IS NOT NULL AND redacted_at IS NULL", family)]
            bad = {s for s in shas if hit(s)}
            rows = [r for s in sorted(bad) for r in tx.all(
                f"SELECT * FROM revisions WHERE {fam} AND kind = 'file' AND sha256 = ? AND redacted_at IS NULL",
                (*family, s))]
            current = {}
            for r in rows:
                if r["node_id"] not in current:
                    current[r["node_id"]] = self._current_revs(tx, r["node_id"])
            todo = [r for r in rows if r["id"] not in current[r["node_id"]]]
            rep.redacted = sorted(r["id"] for r in todo)
            rep.current = sorted(r["id"] for r in rows if r["id"] in current[r["node_id"]])
            cshas = {r[0] for r in tx.all(f"SELECT DISTINCT sha256 FROM conflicts WHERE {fam} AND sha256 IS NOT NULL",
                                          family)}
            cbad = {s for s in cshas if s in bad or hit(s)}
            if dry_run:
                return rep
            for s in cbad:
                rep.conflicts_blanked += tx.run(f"UPDATE conflicts SET sha256 = NULL WHERE {fam} AND sha256 = ?",
                                                (*family, s))
            rep.blobs_removed = self._blank(tx, todo, ident, extra=bad | cbad)
            for r in tx.all("SELECT sha256 FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM revisions WHERE sha256 = b.sha256)"
                            " AND NOT EXISTS (SELECT 1 FROM nodes WHERE sha256 = b.sha256 AND path IS NOT NULL)"
                            " AND NOT EXISTS (SELECT 1 FROM conflicts WHERE sha256 = b.sha256)"):
                if hit(r[0]):  # an old blob nothing refers to (left by a crash or a deleted store)
                    rep.blobs_removed += self._drop_blob(tx, r[0])
        return rep

    def _blank(self, tx, rows, ident: Identity, extra=()) -> int:
        """Redact revision rows; delete the blobs (theirs and `extra`) nothing refers to any more."""
        now = time.time()
        by = json.dumps({k: v for k, v in (("actor", ident.actor), ("agent", ident.agent), ("session", ident.session),
                                           ("api_key_id", ident.api_key_id)) if v is not None})
        for r in rows:
            tx.run("UPDATE revisions SET sha256 = NULL, size = 0, redacted_at = ?, redacted_by = ? WHERE id = ?",
                   (now, by, r["id"]))
        return sum(self._drop_blob(tx, s) for s in {r["sha256"] for r in rows if r["sha256"]} | set(extra))

    @staticmethod
    def _drop_blob(tx, sha) -> int:
        if tx.one("SELECT 1 FROM revisions WHERE sha256 = ? UNION ALL SELECT 1 FROM nodes WHERE sha256 = ?"
                  " AND path IS NOT NULL UNION ALL SELECT 1 FROM conflicts WHERE sha256 = ? LIMIT 1", (sha, sha, sha)):
            return 0
        # gone for good: drop the hash of the content too, where later revisions named it as replaced
        # and where a deleted file's row still names its last content
        tx.run("UPDATE revisions SET prev_sha256 = NULL WHERE prev_sha256 = ?", (sha,))
        tx.run("UPDATE nodes SET sha256 = NULL WHERE sha256 = ? AND path IS NULL", (sha,))
        return tx.run("DELETE FROM blobs WHERE sha256 = ?", (sha,))

    def vacuum(self) -> None:
        """Rebuild the database file (and the search index) so that deleted content leaves no
        copy in it. Takes the whole database for a while: for maintenance windows."""
        if self.db.fts:
            with self.db.write() as tx:
                # merge the search index's segments: a deleted blob's trigrams linger in older
                # segments (behind delete markers) until then
                tx.run("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        self.db.vacuum()
