"""SQLite backend: WAL, a busy timeout, synchronous=FULL (an acknowledged revision survives a
crash of the process and of the machine), numbered append-only migrations."""

import os
import sqlite3
import time
from contextlib import contextmanager
from typing import Optional

from .. import errors

# Migrations are append-only: never edit a released step, add a new one.
MIGRATIONS = [
    (
        "m001_initial",
        """
        CREATE TABLE stores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            metadata TEXT NOT NULL DEFAULT '{}',
            max_content_bytes INTEGER NOT NULL DEFAULT 102400,
            root_node INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            archived_at REAL
        );
        CREATE UNIQUE INDEX stores_name ON stores(name);
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            is_binary INTEGER NOT NULL,
            content BLOB NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters VALUES ('node', 0);
        CREATE TABLE nodes (
            id INTEGER PRIMARY KEY,
            store_id INTEGER NOT NULL REFERENCES stores(id),
            kind TEXT NOT NULL,
            parent_id INTEGER,
            name TEXT NOT NULL,
            path TEXT,
            sha256 TEXT,
            size INTEGER NOT NULL DEFAULT 0,
            mode INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ctime_ns INTEGER NOT NULL,
            head_rev INTEGER,
            created_at REAL NOT NULL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX nodes_path ON nodes(store_id, path) WHERE path IS NOT NULL;
        CREATE INDEX nodes_parent ON nodes(parent_id, name) WHERE path IS NOT NULL;
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            store_id INTEGER NOT NULL,
            node_id INTEGER NOT NULL,
            op TEXT NOT NULL,
            kind TEXT NOT NULL,
            parent_id INTEGER,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            old_path TEXT,
            sha256 TEXT,
            prev_sha256 TEXT,
            size INTEGER NOT NULL DEFAULT 0,
            mode INTEGER NOT NULL,
            base_rev INTEGER,
            created_at REAL NOT NULL,
            agent TEXT,
            session TEXT,
            actor TEXT NOT NULL,
            dream_job TEXT,
            message TEXT,
            redacted_at REAL,
            redacted_by TEXT
        );
        CREATE INDEX revisions_store ON revisions(store_id, id);
        CREATE INDEX revisions_node ON revisions(node_id, id);
        CREATE INDEX revisions_parent ON revisions(parent_id, name, id);
        CREATE INDEX revisions_path ON revisions(store_id, path, id);
        CREATE INDEX revisions_session ON revisions(session, id);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            agent TEXT,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            host TEXT,
            pid INTEGER,
            stores TEXT NOT NULL DEFAULT '{}',
            mountpoint TEXT,
            log_path TEXT,
            started_at REAL NOT NULL,
            ended_at REAL
        );
        CREATE INDEX sessions_session ON sessions(session_id);
        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            store_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            node_id INTEGER,
            session TEXT,
            agent TEXT,
            created_at REAL NOT NULL,
            base_sha256 TEXT,
            current_sha256 TEXT,
            current_rev INTEGER,
            sha256 TEXT,
            reason TEXT NOT NULL
        );
        CREATE INDEX conflicts_store ON conflicts(store_id, id);
        """,
    ),
    (
        # the HTTP API: keys (only a hash of the secret is kept) and the key each API write used
        "m002_api_keys",
        """
        ALTER TABLE revisions ADD COLUMN api_key_id TEXT;
        CREATE INDEX revisions_api_key ON revisions(api_key_id, id) WHERE api_key_id IS NOT NULL;
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL DEFAULT '{}',
            all_stores TEXT,
            created_at REAL NOT NULL,
            created_by TEXT,
            revoked_at REAL
        );
        """,
    ),
    (
        # memfs dream: registered transcripts, dream jobs, the per-store dream lock, model calls
        "m003_dream",
        """
        CREATE TABLE transcripts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            format TEXT NOT NULL,
            session_id TEXT NOT NULL,
            agent TEXT,
            stores TEXT NOT NULL DEFAULT '[]',
            size INTEGER NOT NULL DEFAULT 0,
            mtime REAL,
            started_at REAL,
            ended_at REAL,
            stats TEXT NOT NULL DEFAULT '{}',
            added_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX transcripts_session ON transcripts(session_id);
        CREATE TABLE dream_jobs (
            id TEXT PRIMARY KEY,
            store_id INTEGER NOT NULL,
            status TEXT NOT NULL,
            engine TEXT NOT NULL,
            model TEXT,
            instructions TEXT,
            inputs TEXT NOT NULL DEFAULT '{}',
            output TEXT NOT NULL DEFAULT '{}',
            base_rev INTEGER,
            proposal TEXT,
            usage TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            review TEXT NOT NULL DEFAULT 'proposed',
            applied TEXT NOT NULL DEFAULT '{}',
            host TEXT,
            pid INTEGER,
            created_at REAL NOT NULL,
            started_at REAL,
            ended_at REAL,
            applied_at REAL,
            cancel_requested_at REAL
        );
        CREATE INDEX dream_jobs_store ON dream_jobs(store_id, created_at);
        CREATE TABLE dream_locks (
            store_id INTEGER PRIMARY KEY,
            job_id TEXT,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            user TEXT,
            acquired_at REAL NOT NULL
        );
        CREATE TABLE dream_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            phase TEXT,
            model TEXT,
            request TEXT,
            response TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_input_tokens INTEGER NOT NULL DEFAULT 0,
            duration REAL,
            error TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX dream_calls_job ON dream_calls(job_id, id);
        """,
    ),
    (
        # write leases: a mount's rewrite reserves the file from its first write() to its close()
        "m004_write_leases",
        """
        ALTER TABLE nodes ADD COLUMN lease_owner TEXT;
        ALTER TABLE nodes ADD COLUMN lease_until REAL;
        """,
    ),
    (
        # replication and import: this database's own id, the replay cursor per source (written in
        # the transaction of each replayed revision), and where a replayed revision came from
        "m005_replication",
        """
        CREATE TABLE memfs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO memfs_meta VALUES ('database_id', 'db_' || lower(hex(randomblob(12))));
        CREATE TABLE replication_cursors (
            source TEXT PRIMARY KEY,
            cursor INTEGER NOT NULL,
            updated_at REAL NOT NULL
        );
        ALTER TABLE revisions ADD COLUMN origin TEXT;
        CREATE UNIQUE INDEX revisions_origin ON revisions(origin) WHERE origin IS NOT NULL;
        """,
    ),
    (
        # write hooks: commands run before a write of a store commits (allow, refuse or redact)
        "m006_write_hooks",
        """
        CREATE TABLE hooks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            store_id INTEGER NOT NULL,
            event TEXT NOT NULL,
            command TEXT NOT NULL,
            timeout REAL NOT NULL DEFAULT 5,
            fail TEXT NOT NULL DEFAULT 'closed',
            created_at REAL NOT NULL,
            created_by TEXT
        );
        CREATE INDEX hooks_store ON hooks(store_id, event, id);
        """,
    ),
    (
        # memfs grep: a trigram full-text index over text blobs (contentless: the text is not kept
        # twice), filled lazily from the change feed up to `search_cursor`; a document id per blob
        # that survives VACUUM; a deleted blob (redaction, purge) leaves the index in the same
        # transaction
        "m007_search_index",
        """
        CREATE VIRTUAL TABLE search_fts USING fts5(body, content='', tokenize='trigram');
        CREATE TABLE search_docs (doc INTEGER PRIMARY KEY AUTOINCREMENT, sha256 TEXT NOT NULL UNIQUE);
        CREATE TABLE search_cursor (name TEXT PRIMARY KEY, rev INTEGER NOT NULL);
        INSERT INTO search_cursor VALUES ('blobs', 0);
        CREATE TRIGGER search_blob_deleted AFTER DELETE ON blobs BEGIN
            INSERT INTO search_fts (search_fts, rowid, body)
                SELECT 'delete', doc, CAST(old.content AS TEXT) FROM search_docs WHERE sha256 = old.sha256;
            DELETE FROM search_docs WHERE sha256 = old.sha256;
        END;
        """,
    ),
]


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


class SQLiteBackend:
    def __init__(self, path: str, *, busy_timeout: Optional[float] = None, synchronous: Optional[str] = None):
        # how long a writer waits for another process's transaction before failing with Busy
        try:
            busy_timeout = float(busy_timeout if busy_timeout is not None else os.environ.get("MEMFS_BUSY_TIMEOUT", 10))
        except ValueError:
            raise errors.InvalidInput("MEMFS_BUSY_TIMEOUT must be a number of seconds") from None
        # FULL: a commit survives power loss. NORMAL (MEMFS_SYNC=normal): it survives any crash of
        # memfs or of the client (kill -9), not of the machine; commits are about 3x cheaper.
        synchronous = (synchronous or os.environ.get("MEMFS_SYNC") or "FULL").upper()
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
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA foreign_keys=OFF")
            self._migrate()
        except sqlite3.Error as e:
            raise _translate(e) from None
        self._depth = 0
        self._writing = False

    def _migrate(self):
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(
                "CREATE TABLE IF NOT EXISTS _memfs_migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            done = {r[0] for r in c.execute("SELECT name FROM _memfs_migrations")}
            known = {n for n, _ in MIGRATIONS}
            unknown = done - known
            if unknown:
                raise errors.SchemaTooNew(
                    f"this database was written by a newer memfs (migrations {sorted(unknown)}); upgrade memfs"
                )
            for name, sql in MIGRATIONS:
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
            yield _Tx(self.conn)
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
