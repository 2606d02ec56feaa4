"""A store's health in figures (`memfs stats`, GET /v1/memfs/stores/{store}/stats, the console's
health page): size, growth, who is active, files near the size limit, duplicated text, files no
one reads or writes, conflicts and refusals, dream history. Part of `Memfs` (a mixin over
`self.db`)."""

from __future__ import annotations

import hashlib
import time
from typing import Optional

from .records import is_binary

DAY = 86400
NEAREST = 5       # files listed nearest the size limit
IDLE_SHOWN = 20   # idle files listed by path (all are counted)
DREAMS_SHOWN = 10
HOOK_REFUSAL = "refused by write hook"
_DUPLICATED: dict = {}  # the duplicated-text figure by the set of (path, content hash) it was counted on  # how the mount words a hook's refusal in the conflicts record


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class StatsMixin:
    def duplicated_text(self, ref) -> dict:
        """The duplicated-text figure of `stats` alone: the paragraphs and list items of the store's
        text files that the local dream engine would merge (the same words, nearly, or the same
        fact in other words), over all of them. Exact: every paragraph is compared with every
        other, no sample. Kept in the process for the set of files (paths and content hashes) it
        was counted on, so a long-lived process (`memfs serve`, the console's health page) counts
        again only after a change; `cached` says so, `seconds` is the time the count took."""
        store = self._store(ref)
        with self.db.read() as tx:
            files = tx.all("SELECT path, sha256 FROM nodes WHERE store_id = ? AND kind = 'file' AND path IS NOT NULL"
                           " AND deleted_at IS NULL ORDER BY path", (store.id,))
        return self._duplicated(store, [(f[0], f[1]) for f in files])

    def _duplicated(self, store, files: list) -> dict:
        from ..dream.engines.facts import duplicate_share

        # the figure depends on the files' paths and contents alone: that set is the key, so every
        # thread of a server (each its own Memfs) and every store with the same files share it
        key = hashlib.sha256("\n".join(f"{p}\0{sha}" for p, sha in sorted(files)).encode()).digest()
        hit = _DUPLICATED.get(key)
        if hit is not None:
            return {**hit, "cached": True}
        start = time.monotonic()
        texts = {}
        for path, sha in files:
            data = self.blob(sha) if sha else b""
            if not is_binary(data):
                texts[path] = data.decode("utf-8", "replace")
        dup = {**duplicate_share(texts), "method": "exact", "seconds": round(time.monotonic() - start, 3)}
        if len(_DUPLICATED) >= 256:  # a server with many stores: keep the memory bounded
            _DUPLICATED.clear()
        _DUPLICATED[key] = dup
        return {**dup, "cached": False}

    def stats(self, ref, *, days: int = 30, now: Optional[float] = None, duplicates: bool = True) -> dict:
        """The store's figures over the last `days` days (default 30). `duplicates=False` skips
        the duplicated-text figure, which reads every text file."""
        store = self._store(ref)
        now = time.time() if now is None else now
        cutoff = now - days * DAY
        first_day = int((now - (days - 1) * DAY) // DAY) * DAY  # midnight UTC, `days` days including today
        with self.db.read() as tx:
            files = tx.all("SELECT n.id, n.path, n.size, n.sha256, r.created_at FROM nodes n"
                           " LEFT JOIN revisions r ON r.id = n.head_rev"
                           " WHERE n.store_id = ? AND n.kind = 'file' AND n.path IS NOT NULL AND n.deleted_at IS NULL"
                           " ORDER BY n.path", (store.id,))
            revs = tx.all("SELECT created_at, agent, session, actor FROM revisions"
                          " WHERE store_id = ? AND created_at >= ?", (store.id, first_day))
            readers = tx.all("SELECT DISTINCT session, agent FROM file_reads WHERE store_id = ? AND last_read >= ?",
                             (store.id, cutoff))
            last_reads = dict(tx.all("SELECT node_id, MAX(last_read) FROM file_reads WHERE store_id = ?"
                                     " GROUP BY node_id", (store.id,)))
            conf = tx.all("SELECT reason, created_at FROM conflicts WHERE store_id = ?", (store.id,))
            total_revs = tx.scalar("SELECT COUNT(*) FROM revisions WHERE store_id = ?", (store.id,))
        per_day = {_day(first_day + k * DAY): 0 for k in range(days)}
        agents, sessions = set(), set()
        for r in revs:
            d = _day(r[0])
            if d in per_day:
                per_day[d] += 1
            if r[0] >= cutoff and r[3] != "dream":
                if r[1]:
                    agents.add(r[1])
                if r[2]:
                    sessions.add(r[2])
        for ses, agent in readers:
            if ses:
                sessions.add(ses)
            if agent:
                agents.add(agent)
        limit = store.max_content_bytes
        nearest = sorted(files, key=lambda f: (-f[2], f[1]))[:NEAREST]
        idle = [f[1] for f in files if (f[4] or 0) < cutoff and (last_reads.get(f[0]) or 0) < cutoff]
        refusals = [c for c in conf if (c[0] or "").startswith(HOOK_REFUSAL)]
        stale = [c for c in conf if not (c[0] or "").startswith(HOOK_REFUSAL)]
        dup = self._duplicated(store, [(f[1], f[3]) for f in files]) if duplicates else None
        dreams = []
        for j in self.dream_jobs(store, limit=DREAMS_SHOWN):
            dreams.append({"id": j.id, "created_at": j.created_at, "status": j.status, "review": j.review,
                           "engine": j.engine, "sessions": len(j.inputs.sessions or []),
                           "changes": len((j.proposal or {}).get("changes", []))})
        return {
            "store": store.name, "days": days, "generated_at": now,
            "files": len(files), "bytes": sum(f[2] for f in files), "revisions": int(total_revs or 0),
            "revisions_per_day": [{"day": d, "revisions": n} for d, n in per_day.items()],
            "revisions_in_window": sum(per_day.values()),
            "active_agents": sorted(agents), "active_sessions": len(sessions),
            "size_limit": limit,
            "nearest_size_limit": [{"path": f[1], "bytes": f[2], "share": round(f[2] / limit, 4) if limit else None}
                                   for f in nearest],
            "duplicated": dup,
            "idle_files": len(idle), "idle_paths": idle[:IDLE_SHOWN],
            "files_read": len(last_reads),
            "conflicts": {"total": len(stale), "in_window": sum(1 for c in stale if c[1] >= cutoff)},
            "refusals": {"total": len(refusals), "in_window": sum(1 for c in refusals if c[1] >= cutoff)},
            "dreams": dreams,
        }
