"""SQLite backend: WAL, a busy timeout, synchronous=FULL (an acknowledged revision survives a
crash of the process and of the machine), numbered append-only migrations."""

import os
import sqlite3
import time
from contextlib import contextmanager
from typing import Optional

from .. import errors, settings
from .schema import render

def _statements(sql: str):
    """A migration's statements, split on the semicolons that end one (not those inside a trigger)."""
    stmt = ""
    for piece in sql.split(";"):
        stmt += piece + ";"
        if sqlite3.complete_statement(stmt):
            if stmt.strip(" \n;"):
                yield stmt
            stmt = ""
    if stmt.strip(" \n;"):
        yield stmt


def _translate(exc: sqlite3.Error) -> errors.MemfsError:
    msg = str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in msg or "busy" in msg:
            return errors.Busy(f"the database stayed locked by another process: {msg}")
        if "full" in msg:
            return errors.StorageFull(f"no space left for the database: {msg}")
        if "readonly" in msg or "read-only" in msg:
            return errors.ReadOnly(f"the database file is read-only: {msg}")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in msg or "not a database" in msg):
        return errors.MemfsError(f"the database is damaged: {msg} (run `memfs doctor`)")
    return errors.MemfsError(f"database error: {msg}")


def _check_header(path: str) -> None:
    """A file that SQLite cannot read and that is not SQLite at all (a typo such as --db
    /etc/passwd) is not a memfs database, rather than a damaged one. Only once SQLite failed:
    closing a descriptor of a database file drops this process's locks on it."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return  # sqlite3 says what is wrong with those
    if head and head != b"SQLite format 3\x00":
        raise errors.NotADatabase(f"{path} is not a memfs database (not an SQLite file)")


class _Tx:
    __slots__ = ("c",)

    def __init__(self, conn):
        self.c = conn

    def one(self, sql, params=()):
        return self.c.execute(sql, params).fetchone()

    def all(self, sql, params=()):
        return self.c.execute(sql, params).fetchall()

    def scalar(self, sql, params=()):
        row = self.c.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def run(self, sql, params=()):
        cur = self.c.execute(sql, params)
        return cur.lastrowid if sql.lstrip()[:6].upper() == "INSERT" else cur.rowcount

    def iter(self, sql, params=()):
        return self.c.execute(sql, params)

    def many(self, sql, rows):
        self.c.executemany(sql, rows)


class SQLiteBackend:
    dialect = "sqlite"
    fts = True  # FTS5 trigram index for `memfs grep`
    notifies = False  # no change notifications: followers poll data_version()
    def __init__(self, path: str, *, busy_timeout: Optional[float] = None, synchronous: Optional[str] = None):
        # how long a writer waits for another process's transaction before failing with Busy
        busy_timeout = float(busy_timeout if busy_timeout is not None else settings.get("MEMFS_BUSY_TIMEOUT"))
        # FULL: a commit survives power loss. NORMAL (MEMFS_SYNC=normal): it survives any crash of
        # memfs or of the client (kill -9), not of the machine; commits are about 3x cheaper.
        synchronous = (synchronous or settings.get("MEMFS_SYNC")).upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise errors.InvalidInput(f"MEMFS_SYNC must be full, normal or extra, not {synchronous.lower()!r}")
        self.synchronous = synchronous
        self.url = "sqlite:///" + path
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            # memory is private: the database is created owner-only (SQLite gives its -wal and
            # -shm files the same mode)
            # Only when it does not exist yet: closing ANY descriptor of a database file drops every
            # POSIX lock this process holds on it, so other connections of this process lose their
            # locks and another process may checkpoint and delete the WAL under them: their later
            # commits go to an unlinked WAL and are lost (sqlite.org/howtocorrupt.html, 2.2).
            if not os.path.exists(path):
                try:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
                except FileExistsError:
                    pass
        try:
            # isolation_level=None: we issue BEGIN ourselves (BEGIN IMMEDIATE for writers, so two
            # writers never deadlock upgrading a read lock)
            self.conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self.conn.row_factory = sqlite3.Row
            # switching a fresh file to WAL can answer "locked" at once, without the busy handler,
            # while another process does the same: wait for it as for any other lock
            deadline = time.monotonic() + busy_timeout
            while True:
                try:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            # paths are case-sensitive: `path LIKE '/a/%'` must not match /A/x (it did: renaming
            # /a moved /A's files); PostgreSQL's LIKE already is
            self.conn.execute("PRAGMA case_sensitive_like=ON")
            self._migrate()
        except sqlite3.Error as e:
            if "not a database" in str(e):
                _check_header(path)
            raise _translate(e) from None
        self._depth = 0
        self._writing = False

    def _migrate(self):
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute("SELECT 1 FROM sqlite_master WHERE name = '_memfs_migrations'").fetchone() is None and \
                    c.execute("SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1").fetchone():
                raise errors.NotADatabase(f"{self.path} is not a memfs database (an SQLite database of "
                                          "something else)")
            c.execute(
                "CREATE TABLE IF NOT EXISTS _memfs_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            done = {r[0] for r in c.execute("SELECT name FROM _memfs_migrations")}
            steps = render("sqlite")
            known = {n for n, _ in steps}
            unknown = done - known
            if unknown:
                raise errors.SchemaTooNew(
                    f"this database was written by a newer memfs (migrations {sorted(unknown)}); upgrade memfs"
                )
            for name, sql in steps:
                if name in done:
                    continue
                for stmt in _statements(sql):
                    c.execute(stmt)
                c.execute("INSERT INTO _memfs_migrations VALUES (?, ?)", (name, time.time()))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM _memfs_migrations ORDER BY name")]

    @contextmanager
    def read(self):
        if self._depth:
            yield _Tx(self.conn)
            return
        try:
            self.conn.execute("BEGIN")
        except sqlite3.Error as e:
            raise _translate(e) from None
        self._depth += 1
        try:
            yield _Tx(self.conn)
        except sqlite3.Error as e:
            raise _translate(e) from None
        finally:
            self._depth -= 1
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                self.conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def one(self, sql, params=()):
        """A single-statement read: its own snapshot, without a BEGIN/COMMIT round trip (hot path)."""
        try:
            return self.conn.execute(sql, params).fetchone()
        except sqlite3.Error as e:
            raise _translate(e) from None

    def all(self, sql, params=()):
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise _translate(e) from None

    @contextmanager
    def write(self, durable: bool = True):
        """A write transaction. Nested inside another write it joins it, so that a composite
        operation (revert) commits or rolls back as a whole. `durable=False` skips the fsync
        (for state that may be lost in a power cut, such as write leases)."""
        if self._depth:
            if not self._writing:
                raise RuntimeError("a write cannot start inside a read transaction")
            # a savepoint: a nested write that fails is undone alone (the mount's group commit
            # runs several agents' writes in one transaction, each with its own outcome)
            sp = f"w{self._depth}"
            self.conn.execute(f"SAVEPOINT {sp}")
            self._depth += 1
            try:
                yield _Tx(self.conn)
            except BaseException as e:
                try:
                    self.conn.execute(f"ROLLBACK TO {sp}")
                    self.conn.execute(f"RELEASE {sp}")
                except sqlite3.Error:
                    pass
                if isinstance(e, sqlite3.Error):
                    raise _translate(e) from None
                raise
            else:
                self.conn.execute(f"RELEASE {sp}")
            finally:
                self._depth -= 1
            return
        if not durable:
            self.conn.execute("PRAGMA synchronous=OFF")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise _translate(e) from None
        self._depth += 1
        self._writing = True
        try:
            yield _Tx(self.conn)
            self.conn.execute("COMMIT")
        except BaseException as e:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(e, sqlite3.Error):
                raise _translate(e) from None
            raise
        finally:
            self._depth -= 1
            self._writing = False
            if not durable:
                self.conn.execute(f"PRAGMA synchronous={self.synchronous}")

    def after_copy(self, tx, table: str) -> None:
        """Nothing to do: AUTOINCREMENT follows explicit ids by itself."""

    def data_version(self) -> int:
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def check(self) -> list[str]:
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def vacuum(self) -> None:
        """Fold the WAL into the file and rebuild it, so that deleted rows (redacted content)
        leave no copy in free pages or in the WAL."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("VACUUM")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            raise _translate(e) from None

    def close(self):
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
