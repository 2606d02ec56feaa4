"""grep over a store, now or over every version, narrowed by the trigram full-text index."""

from __future__ import annotations

from typing import Optional

from .. import errors, paths
from .records import GrepMatch, _like_prefix

SEARCH_BATCH = 2000  # revisions indexed per transaction when the search index catches up


class SearchMixin:
    """Search: grep over current content or every version."""

    def grep(self, ref, pattern: str, *, history: bool = False, ignore_case: bool = False, fixed: bool = False,
             prefix: str = "/", use_index: Optional[bool] = None, limit: Optional[int] = None) -> list[GrepMatch]:
        """Lines of a store's text files that match a regular expression (`fixed`: a plain string),
        as GrepMatch in path and line order. By default the current content; with `history`, every
        content any file ever had, each once, at the revision that wrote it (oldest first), under
        the path it had then. Binary files are skipped. `prefix` keeps files at or under a path.

        Literal runs of 3+ characters that every match must contain narrow the candidate files
        through the trigram full-text index (SQLite's), brought up to date from the change feed first; a
        pattern without such a run, one whose terms most texts contain, or `use_index=False`
        scans every file (`use_index=True` uses the index whenever it can). The final match is
        always the regular expression on the real content, so both ways give the same lines."""
        from ..search import compile_search, fts_query, match_lines

        store = self._store(ref)
        search = compile_search(pattern, ignore_case=ignore_case, fixed=fixed)
        prefix = paths.normalize(prefix)
        where, params = ["x.store_id = ?", "x.kind = 'file'", "x.sha256 IS NOT NULL", "b.is_binary = 0"], [store.id]
        if prefix != "/":
            where.append("(x.path = ? OR x.path LIKE ? ESCAPE '\\')"), params.extend([prefix, _like_prefix(prefix)])
        if search.terms and use_index is not False and self.db.fts and self._search_catch_up():
            q = fts_query(search.terms)
            # the index pays where it is selective: when most texts contain the terms anyway,
            # reading them all is cheaper than the detour (unless the caller insists)
            hits = self.db.one("SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH ?", (q,))[0]
            if use_index or hits * 2 <= self.db.one("SELECT COUNT(*) FROM search_docs")[0]:
                where.append("b.sha256 IN (SELECT d.sha256 FROM search_docs d WHERE d.doc IN"
                             " (SELECT rowid FROM search_fts WHERE search_fts MATCH ?))")
                params.append(q)
        if history:
            sql = ("SELECT x.id AS rev, x.node_id, x.path, x.sha256, x.agent, x.session, x.created_at, b.content"
                   " FROM revisions x JOIN blobs b ON b.sha256 = x.sha256 WHERE " + " AND ".join(where) +
                   " ORDER BY x.id")
        else:
            sql = ("SELECT x.head_rev AS rev, x.id AS node_id, x.path, x.sha256, r.agent, r.session, r.created_at,"
                   " b.content FROM nodes x JOIN blobs b ON b.sha256 = x.sha256 LEFT JOIN revisions r ON r.id = x.head_rev"
                   " WHERE x.path IS NOT NULL AND " + " AND ".join(where) + " ORDER BY x.path")
        out: list[GrepMatch] = []
        seen: set = set()
        with self.db.read() as tx:
            cur = tx.iter(sql, params)
            for row in cur:
                if history:
                    if (row["node_id"], row["sha256"]) in seen:
                        continue
                    seen.add((row["node_id"], row["sha256"]))
                text = bytes(row["content"]).decode("utf-8", "replace")
                for n, line in match_lines(search, text):
                    out.append(GrepMatch(store.name, row["path"], n, line, row["rev"], row["sha256"], row["agent"],
                                         row["session"], row["created_at"]))
                    if limit and len(out) >= limit:
                        return out
        return out

    def reindex_search(self) -> None:
        """Drop the full-text index; the next search rebuilds it from the blobs (derived data,
        never the truth). Does nothing where there is no index (PostgreSQL)."""
        if not self.db.fts:
            return
        with self.db.write() as tx:
            tx.run("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
            tx.run("DELETE FROM search_docs")
            tx.run("UPDATE search_cursor SET rev = 0 WHERE name = 'blobs'")

    def _search_catch_up(self) -> bool:
        """Index the text blobs that revisions after the search cursor wrote, and move the cursor.
        False where the index cannot be written (a read-only database): search then scans."""
        head = self.db.one("SELECT COALESCE(MAX(id), 0) FROM revisions")[0]
        cursor = self.db.one("SELECT rev FROM search_cursor WHERE name = 'blobs'")[0]
        try:
            while cursor < head:
                # in batches of revisions, so that indexing a large backlog never holds the write
                # lock long enough for another writer to give up waiting
                with self.db.write() as tx:
                    cursor = tx.scalar("SELECT rev FROM search_cursor WHERE name = 'blobs'")
                    upto = min(tx.scalar("SELECT COALESCE(MAX(id), 0) FROM revisions"), cursor + SEARCH_BATCH)
                    last = tx.scalar("SELECT COALESCE(MAX(doc), 0) FROM search_docs")
                    tx.run("INSERT OR IGNORE INTO search_docs (sha256) SELECT DISTINCT r.sha256 FROM revisions r"
                           " JOIN blobs b ON b.sha256 = r.sha256 WHERE r.id > ? AND r.id <= ? AND r.kind = 'file'"
                           " AND b.is_binary = 0 ORDER BY r.id", (cursor, upto))
                    tx.run("INSERT INTO search_fts (rowid, body) SELECT d.doc, CAST(b.content AS TEXT)"
                           " FROM search_docs d JOIN blobs b ON b.sha256 = d.sha256 WHERE d.doc > ?", (last,))
                    tx.run("UPDATE search_cursor SET rev = ? WHERE name = 'blobs'", (upto,))
                    cursor = upto
        except (errors.ReadOnly, errors.Busy):
            return False
        return True
