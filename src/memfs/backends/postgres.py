"""PostgreSQL backend: the same store API for mounts and servers on many hosts.

The guarantees are SQLite's, made by the database rather than by one machine's file locks:
- writers are serialised by one transaction-scoped advisory lock, so every precondition is
  checked and acted on with no other writer in between (two hosts cannot both win) and revision
  ids are handed out in commit order, which is what lets a follower read the feed with
  `changes(after=last_seen)` and never skip a revision that commits late;
- a commit returns once PostgreSQL has flushed it (synchronous_commit=on, unless a write asks
  for less, as write leases do);
- every write transaction ends with NOTIFY memfs_changes, which mounts LISTEN for, with a
  polling fallback when the listening connection is down.
Connections come from a psycopg pool shared by every Memfs of the process that names the same
URL; a Memfs takes one for the length of a transaction (or of a single statement)."""

import functools
import itertools
import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Optional

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg_pool import ConnectionPool, PoolTimeout

from .. import errors, settings
from .schema import id_tables, render

log = logging.getLogger("memfs.db")
# where nobody configured logging (the CLI, which prints the error itself as its one line), this
# stays quiet rather than falling back to stderr; daemons and servers log it
log.addHandler(logging.NullHandler())
# the pool logs every failed reconnection attempt, on several lines; memfs logs one line when the
# database goes away and one when it is back (below)
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)

WRITE_LOCK = 0x6D656D6673  # "memfs": the one writer lock, held until commit
MIGRATE_LOCK = 0x6D656D6674
CHANNEL = "memfs_changes"
CONNECT_TIMEOUT = 5  # seconds to reach the server before a call fails with Unavailable
DOWN_TIMEOUT = 0.2  # while it is known to be down, calls fail this fast (the pool keeps reconnecting)


class _BoolAsInt(Dumper):
    """Flags are integers in the schema (as in SQLite): dump Python booleans as 0/1."""
    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj):
        return b"1" if obj else b"0"


class _Number(Loader):
    """SUM() of integers is numeric in PostgreSQL; the store API wants int (or float), never Decimal."""

    def load(self, data):
        s = bytes(data).decode()
        return int(s) if s.lstrip("-").isdigit() else float(s)


@functools.lru_cache(maxsize=None)
def _row_class(names: tuple):
    index = {n: i for i, n in enumerate(names)}

    class Row(tuple):
        """A row that indexes by position and by column name, like sqlite3.Row."""
        __slots__ = ()

        def __getitem__(self, k, _get=tuple.__getitem__):
            return _get(self, index[k] if isinstance(k, str) else k)

        def keys(self):
            return list(names)

    return Row


def _rows(cursor):
    if cursor.description is None:
        return tuple
    return _row_class(tuple(c.name for c in cursor.description))


_ID_TABLES = id_tables()


@functools.lru_cache(maxsize=4096)
def _sql(sql: str) -> tuple[str, bool]:
    """The store API's portable SQL (`?` placeholders) in psycopg's form, and whether an INSERT
    must return the id the database assigned (what SQLite's lastrowid gives)."""
    out = sql.replace("%", "%%").replace("?", "%s")
    m = re.match(r"\s*INSERT INTO (\w+)", out, re.I)
    returns_id = bool(m and m.group(1) in _ID_TABLES and "RETURNING" not in out.upper())
    return (out + " RETURNING id" if returns_id else out), returns_id


def _translate(exc: BaseException) -> errors.MemfsError:
    # one line: libpq's messages run over several ("connection failed: …\n\tIs the server …")
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, psycopg.errors.DiskFull):
        return errors.StorageFull(f"no space left for the database: {msg}")
    if isinstance(exc, (psycopg.errors.LockNotAvailable, psycopg.errors.SerializationFailure,
                        psycopg.errors.DeadlockDetected, psycopg.errors.QueryCanceled)):
        return errors.Busy(f"the database stayed locked by another writer: {msg}")
    if isinstance(exc, (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
        return errors.ReadOnly(f"the database refused the write: {msg}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)):
        return errors.Unavailable(f"the PostgreSQL database is unreachable: {msg}")
    return errors.MemfsError(f"database error: {msg}")


def _abort(conn, exc: BaseException):
    """Roll back what `exc` interrupted and raise it: a database error as the store API's error."""
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        pass
    if isinstance(exc, psycopg.Error):
        raise _translate(exc) from None
    raise exc


def _configure(busy_ms: int):
    def configure(conn):
        conn.adapters.register_dumper(bool, _BoolAsInt)
        conn.adapters.register_loader("numeric", _Number)
        # how long a writer waits for the writer lock before failing with Busy
        conn.execute(f"SET lock_timeout = {busy_ms}")
        conn.execute("SET TIME ZONE 'UTC'")

    return configure


_cursor_ids = itertools.count(1)
_DOWN: dict = {}  # url -> when it was found unreachable
_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()
_MIGRATED: set = set()


def _pool(url: str, busy_ms: int) -> ConnectionPool:
    with _POOLS_LOCK:
        pool = _POOLS.get((url, busy_ms))
        if pool is None or pool.closed:
            size = settings.get("MEMFS_PG_POOL")
            pool = ConnectionPool(
                url, min_size=1, max_size=max(size, 1), open=True, name="memfs", timeout=CONNECT_TIMEOUT,
                kwargs={"autocommit": True, "row_factory": _rows, "connect_timeout": CONNECT_TIMEOUT},
                configure=_configure(busy_ms), reconnect_timeout=0)
            _POOLS[(url, busy_ms)] = pool
        return pool


def close_pool(url: str) -> None:
    """Close this process's connections to `url` (before dropping or copying that database)."""
    with _POOLS_LOCK:
        pools = [_POOLS.pop(k) for k in list(_POOLS) if k[0] == url]
    for pool in pools:
        pool.close()


class _Tx:
    __slots__ = ("c",)

    def __init__(self, conn):
        self.c = conn

    def one(self, sql, params=()):
        return self.c.execute(_sql(sql)[0], params).fetchone()

    def all(self, sql, params=()):
        return self.c.execute(_sql(sql)[0], params).fetchall()

    def iter(self, sql, params=()):
        # a server-side cursor: rows arrive in batches (a migration or a grep over every version
        # must not hold all content in memory); it lives until the transaction ends
        cur = self.c.cursor(name=f"memfs_iter_{next(_cursor_ids)}")
        cur.execute(_sql(sql)[0], params)
        return cur

    def scalar(self, sql, params=()):
        row = self.c.execute(_sql(sql)[0], params).fetchone()
        return None if row is None else row[0]

    def run(self, sql, params=()):
        text, returns_id = _sql(sql)
        cur = self.c.execute(text, params)
        return cur.fetchone()[0] if returns_id else cur.rowcount

    def many(self, sql, rows):
        self.c.cursor().executemany(_sql(sql)[0], rows)


class PostgresBackend:
    dialect = "postgresql"
    fts = False  # no full-text index here: `memfs grep` scans (the regex runs on content anyway)

    def __init__(self, url: str, *, busy_timeout: Optional[float] = None, synchronous: Optional[str] = None):
        busy = float(busy_timeout if busy_timeout is not None else settings.get("MEMFS_BUSY_TIMEOUT"))
        self.url = url
        self._conn = None
        self._depth = 0
        self._writing = False
        self._listener = None
        if url not in _MIGRATED:
            self._migrate()
            _MIGRATED.add(url)
        self.pool = _pool(url, int(busy * 1000))

    # ------------------------------------------------------------------ connections

    @contextmanager
    def _checkout(self):
        since = _DOWN.get(self.url)
        try:
            conn = self.pool.getconn(timeout=DOWN_TIMEOUT if since else None)
        except (PoolTimeout, psycopg.Error) as e:
            err = _translate(e)
            if since is None:
                _DOWN[self.url] = time.time()
                log.error("%s: writes fail (EIO on mounts, 503 from the API) until it is back", err)
            raise err from None
        if since is not None and _DOWN.pop(self.url, None) is not None:
            log.warning("the PostgreSQL database is reachable again (after %.1f s)", time.time() - since)
        try:
            yield conn
        finally:
            self.pool.putconn(conn)  # a broken connection is discarded; the next call reconnects

    def _drop_dead(self):
        """One pooled connection was dead (the server restarted): so are its siblings. Test them
        all now rather than fail once per connection."""
        try:
            self.pool.check()
        except Exception:  # noqa: BLE001 - best effort; the retry reports what is wrong
            pass

    def _migrate(self):
        # the first connection of the process is made directly, so that a wrong URL, a missing
        # database or a refused login is reported as the server said it, at once
        try:
            c = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as e:
            raise _translate(e) from None
        with c:
            try:
                c.execute("BEGIN")
                c.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
                tables = {r[0] for r in c.execute("SELECT table_name FROM information_schema.tables"
                                                  " WHERE table_schema = current_schema()")}
                if tables and "_memfs_migrations" not in tables:
                    raise errors.NotADatabase("the database at this URL is not a memfs database (it has other "
                                              "tables)")
                c.execute('CREATE TABLE IF NOT EXISTS _memfs_migrations (name TEXT COLLATE "C" PRIMARY KEY,'
                          " applied_at DOUBLE PRECISION)")
                done = {r[0] for r in c.execute("SELECT name FROM _memfs_migrations")}
                steps = render("postgresql")
                unknown = done - {n for n, _ in steps}
                if unknown:
                    raise errors.SchemaTooNew(
                        f"this database was written by a newer memfs (migrations {sorted(unknown)}); upgrade memfs")
                for name, sql in steps:
                    if name in done:
                        continue
                    if sql.strip():
                        c.execute(sql)  # several statements, no parameters: one simple query
                    c.execute("INSERT INTO _memfs_migrations VALUES (%s, %s)", (name, time.time()))
                c.execute("COMMIT")
            except BaseException as e:
                _abort(c, e)

    def migrations(self) -> list[str]:
        return [r[0] for r in self.all("SELECT name FROM _memfs_migrations ORDER BY name")]

    # ------------------------------------------------------------------ transactions

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def _begun(self, begin: str):
        """A pooled connection with `begin` run on it; a connection the server dropped meanwhile
        (a restart, a failover) is replaced once, since nothing has happened yet."""
        for attempt in (1, 2):
            with self._checkout() as conn:
                try:
                    conn.execute(begin)
                except psycopg.Error as e:
                    if attempt == 2 or not conn.closed:
                        raise _translate(e) from None
                    self._drop_dead()
                    continue
                yield conn
                return

    @contextmanager
    def _transaction(self, begin: str, end: str, writing: bool):
        with self._begun(begin) as conn:
            self._conn, self._depth, self._writing = conn, 1, writing
            try:
                yield _Tx(conn)
                conn.execute(end)
            except BaseException as e:
                _abort(conn, e)
            finally:
                self._conn, self._depth, self._writing = None, 0, False

    @contextmanager
    def read(self):
        if self._depth:
            yield _Tx(self._conn)
            return
        with self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "COMMIT", False) as tx:
            yield tx

    @contextmanager
    def write(self, durable: bool = True):
        """One write transaction, alone among writers (see the module docstring). Nested inside
        another write it joins it. `durable=False` (write leases) does not wait for the flush."""
        if self._depth:
            if not self._writing:
                raise RuntimeError("a write cannot start inside a read transaction")
            # a savepoint: a nested write that fails is undone alone (see the SQLite backend)
            sp, conn = f"w{self._depth}", self._conn
            conn.execute(f"SAVEPOINT {sp}")
            self._depth += 1
            try:
                yield _Tx(conn)
            except BaseException as e:
                try:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {sp}")
                    conn.execute(f"RELEASE SAVEPOINT {sp}")
                except psycopg.Error:
                    pass
                if isinstance(e, psycopg.Error):
                    raise _translate(e) from None
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {sp}")
            finally:
                self._depth -= 1
            return
        begin = ("BEGIN; " + ("" if durable else "SET LOCAL synchronous_commit = off; ")
                 + f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        # NOTIFY is delivered at commit, and only if it commits
        with self._transaction(begin, f"NOTIFY {CHANNEL}; COMMIT", True) as tx:
            yield tx

    def _single(self, fetch, sql, params):
        if self._depth:
            return fetch(self._conn.execute(_sql(sql)[0], params))
        for attempt in (1, 2):
            with self._checkout() as conn:
                try:
                    return fetch(conn.execute(_sql(sql)[0], params))
                except psycopg.OperationalError as e:
                    # a pooled connection the server dropped (restart, failover): one retry on a
                    # fresh one, since a read is safe to repeat
                    if attempt == 2 or not conn.closed:
                        raise _translate(e) from None
                    self._drop_dead()
                except psycopg.Error as e:
                    raise _translate(e) from None

    def one(self, sql, params=()):
        return self._single(lambda c: c.fetchone(), sql, params)

    def all(self, sql, params=()):
        return self._single(lambda c: c.fetchall(), sql, params)

    # ------------------------------------------------------------------ change signal

    def data_version(self) -> int:
        """The feed's head: it moves with every committed revision (ids are commit-ordered)."""
        return self.one("SELECT COALESCE(MAX(id), 0) FROM revisions")[0]

    notifies = True

    def wait_for_change(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for another connection's commit (LISTEN). False on a
        timeout or while the listening connection is down (callers poll meanwhile)."""
        try:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                self._listener.execute(f"LISTEN {CHANNEL}")
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except psycopg.Error:
            if self._listener is not None:
                self._listener.close()
            self._listener = None
            time.sleep(timeout)
            return False

    # ------------------------------------------------------------------ maintenance

    def after_copy(self, tx, table: str) -> None:
        """After rows were inserted with their ids (memfs migrate): move the table's identity
        sequence past them."""
        if table in _ID_TABLES:
            tx.one(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                   f" FROM {table}")

    def check(self) -> list[str]:
        self.one("SELECT 1")  # reachable, and the schema answered above; heap checks are amcheck's job
        return []

    def vacuum(self) -> None:
        """Rewrite the tables redaction deletes from, so no deleted content stays in their files."""
        with self._checkout() as conn:
            try:
                conn.execute("VACUUM FULL blobs")
                conn.execute("VACUUM FULL conflicts")
            except psycopg.Error as e:
                raise _translate(e) from None

    def close(self):
        if self._listener is not None:
            self._listener.close()
            self._listener = None
