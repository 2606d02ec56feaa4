"""Move a whole memfs database between backends (SQLite <-> PostgreSQL) with every row as it is:
revision ids, node ids (inode numbers), sessions, dream jobs, keys and hooks keep their
identities, so history, attribution and references stay exact. The copy is one transaction on
the target (all or nothing), read from one snapshot of the source, then verified table by table
(row count and a digest of every row, in key order)."""

import hashlib
import re
import time
from dataclasses import dataclass, field

from .. import errors
from . import open_backend
from .schema import MIGRATIONS

# derived or per-database rows: the search index rebuilds itself from the blobs, the migrations
# table and the database's own id belong to the target
SKIP = {"search_docs", "search_cursor", "memfs_meta", "_memfs_migrations"}
BATCH = 1000


@dataclass
class MigrateReport:
    tables: dict = field(default_factory=dict)  # table -> rows copied
    seconds: float = 0.0
    verified: bool = False


def tables() -> list[str]:
    """Every plain table of the schema, in creation order."""
    out = []
    for _, sql in MIGRATIONS:
        for text in sql.values() if isinstance(sql, dict) else [sql]:
            out += [t for t in re.findall(r"CREATE TABLE (\w+) \(", text) if t not in out]
    return [t for t in out if t not in SKIP]


def _exists(db, table: str) -> bool:
    try:
        db.one(f"SELECT 1 FROM {table} LIMIT 1")
        return True
    except errors.MemfsError:
        return False


def _table_digest(db, table: str) -> tuple[int, str]:
    """Rows and a digest of every value, in key order, read in batches (blobs can be large)."""
    h, n = hashlib.sha256(), 0
    with db.read() as tx:
        cur = tx.iter(f"SELECT * FROM {table} ORDER BY 1")
        while batch := cur.fetchmany(BATCH):
            for row in batch:
                for v in row:
                    h.update(repr(bytes(v) if isinstance(v, memoryview) else v).encode())
                    h.update(b"\x1f")
                h.update(b"\x1e")
            n += len(batch)
    return n, h.hexdigest()


def migrate(src_url: str, dst_url: str, progress=None) -> MigrateReport:
    """Copy every row of `src_url` into `dst_url`, which must hold no stores yet (created and
    migrated to the current schema if needed), then verify. `progress(table, n)` is called as
    tables are copied."""
    if src_url == dst_url:
        raise errors.InvalidInput("--from and --to name the same database")
    t0 = time.monotonic()
    src, dst = open_backend(src_url), open_backend(dst_url)
    rep = MigrateReport()
    try:
        if dst.one("SELECT COUNT(*) FROM stores")[0] or dst.one("SELECT COUNT(*) FROM revisions")[0]:
            raise errors.AlreadyExists(
                f"{dst_url}: the target already holds stores; migrate into an empty database"
                " (or copy single stores with `memfs replicate`)")
        names = [t for t in tables() if _exists(src, t) and _exists(dst, t)]
        with src.read() as s, dst.write() as d:
            for t in names:
                d.run(f"DELETE FROM {t}")  # rows the target's own migrations seeded (counters)
                cur = s.iter(f"SELECT * FROM {t} ORDER BY 1")
                n = 0
                while True:
                    batch = cur.fetchmany(BATCH)
                    if not batch:
                        break
                    cols = list(batch[0].keys())
                    d.many(f"INSERT INTO {t} ({', '.join(_q(c) for c in cols)}) VALUES ({', '.join('?' * len(cols))})",
                           [tuple(r) for r in batch])
                    n += len(batch)
                rep.tables[t] = n
                dst.after_copy(d, t)
                if progress:
                    progress(t, n)
        for t in names:
            (na, a), (nb, b) = (_table_digest(db, t) for db in (src, dst))
            if na != nb or a != b:
                raise errors.MemfsError(f"verification failed: table {t} differs after the copy"
                                        f" ({na} rows in the source, {nb} in the target)")
        rep.verified = True
    finally:
        src.close()
        dst.close()
    rep.seconds = time.monotonic() - t0
    return rep


def _q(col: str) -> str:
    return f'"{col}"'  # dream_locks.user is a reserved word in PostgreSQL
