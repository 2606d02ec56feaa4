"""The schema, once for both backends: numbered, append-only migrations written in SQLite's
dialect, which `render` turns into PostgreSQL's by a few mechanical rewrites (types, identity
columns, byte-order collation). A step whose engines truly differ (a full-text index, a random
id) gives one text per dialect."""

import re

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
        INSERT INTO memfs_meta VALUES ('database_id', 'db_' || {random_hex24});
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
        {"sqlite": """
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
         # PostgreSQL: no index (yet); `memfs grep` scans, which the final regular expression
         # does anyway
         "postgresql": ""},
    ),
    (
        # a write refused by a hook keeps who, when, which hook and why, never the bytes: the
        # conflict names its hook, and the content that earlier versions kept of such refusals
        # goes (a blob nothing else refers to is deleted; `memfs redact --vacuum` or VACUUM then
        # clears the free pages too)
        "m008_hook_refusals",
        """
        ALTER TABLE conflicts ADD COLUMN hook_id INTEGER;
        DELETE FROM blobs WHERE sha256 IN (SELECT sha256 FROM conflicts WHERE reason LIKE 'refused by write hook %')
            AND sha256 NOT IN (SELECT sha256 FROM revisions WHERE sha256 IS NOT NULL)
            AND sha256 NOT IN (SELECT sha256 FROM nodes WHERE sha256 IS NOT NULL)
            AND sha256 NOT IN (SELECT sha256 FROM conflicts
                               WHERE sha256 IS NOT NULL AND reason NOT LIKE 'refused by write hook %');
        UPDATE conflicts SET sha256 = NULL WHERE reason LIKE 'refused by write hook %';
        """,
    ),
    (
        # read counts: the mount counts reads in memory and adds them here in batches, one row per
        # file and session (a file is its node, which survives renames); the id keeps the rows in
        # one order for `memfs migrate`'s verification
        "m009_file_reads",
        """
        CREATE TABLE file_reads (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            node_id INTEGER NOT NULL,
            session TEXT NOT NULL,
            store_id INTEGER NOT NULL,
            agent TEXT,
            reads INTEGER NOT NULL,
            first_read REAL NOT NULL,
            last_read REAL NOT NULL
        );
        CREATE UNIQUE INDEX file_reads_key ON file_reads(node_id, session);
        CREATE INDEX file_reads_store ON file_reads(store_id, node_id);
        """,
    ),
    (
        # branches (memfs/store/branches.py): a branch is a store row with the store it came from
        # (parent_id), its name, the parent's revision it started at (base_rev), the last revision
        # of its initial copy (fork_rev) and its state (open, merged, discarded; snapshot: a
        # time-travel mount's hidden copy). Its nodes start as copies of the parent's with new
        # ids; origin_id names the parent node each was copied from (merges follow identity, not
        # paths). A merge revision names the branch revision it brings in (merged_from).
        "m010_branches",
        """
        ALTER TABLE stores ADD COLUMN parent_id INTEGER;
        ALTER TABLE stores ADD COLUMN branch TEXT;
        ALTER TABLE stores ADD COLUMN base_rev INTEGER;
        ALTER TABLE stores ADD COLUMN fork_rev INTEGER;
        ALTER TABLE stores ADD COLUMN branch_status TEXT;
        ALTER TABLE stores ADD COLUMN branch_ended_at REAL;
        CREATE UNIQUE INDEX stores_branch ON stores(parent_id, branch) WHERE parent_id IS NOT NULL;
        ALTER TABLE nodes ADD COLUMN origin_id INTEGER;
        ALTER TABLE revisions ADD COLUMN merged_from INTEGER;
        CREATE INDEX revisions_merged_from ON revisions(merged_from) WHERE merged_from IS NOT NULL;
        """,
    ),
    (
        # a dream job's inputs in one vocabulary (store.records.DreamInputs): the HTTP API wrote
        # `session_ids` and `time_window` where the library wrote `sessions` and `since`; a row
        # that has both keeps the library's (what was dreamed). JSON functions differ by engine.
        "m011_dream_inputs_one_vocabulary",
        {"sqlite": """
        UPDATE dream_jobs SET inputs = json_set(inputs, '$.sessions', json(json_extract(inputs, '$.session_ids')))
            WHERE json_type(inputs, '$.session_ids') IS NOT NULL
            AND COALESCE(json_type(inputs, '$.sessions'), 'null') = 'null';
        UPDATE dream_jobs SET inputs = json_set(inputs, '$.since', json_extract(inputs, '$.time_window'))
            WHERE json_type(inputs, '$.time_window') IS NOT NULL
            AND COALESCE(json_type(inputs, '$.since'), 'null') = 'null';
        UPDATE dream_jobs SET inputs = json_remove(inputs, '$.session_ids', '$.time_window')
            WHERE json_type(inputs, '$.session_ids') IS NOT NULL OR json_type(inputs, '$.time_window') IS NOT NULL;
        """,
         "postgresql": """
        UPDATE dream_jobs SET inputs = jsonb_set(inputs::jsonb, '{sessions}', inputs::jsonb -> 'session_ids')::text
            WHERE (inputs::jsonb -> 'session_ids') IS NOT NULL
            AND COALESCE(inputs::jsonb -> 'sessions', 'null'::jsonb) = 'null'::jsonb;
        UPDATE dream_jobs SET inputs = jsonb_set(inputs::jsonb, '{since}', inputs::jsonb -> 'time_window')::text
            WHERE (inputs::jsonb -> 'time_window') IS NOT NULL
            AND COALESCE(inputs::jsonb -> 'since', 'null'::jsonb) = 'null'::jsonb;
        UPDATE dream_jobs SET inputs = (inputs::jsonb - 'session_ids' - 'time_window')::text
            WHERE (inputs::jsonb -> 'session_ids') IS NOT NULL OR (inputs::jsonb -> 'time_window') IS NOT NULL;
        """},
    ),
]


_PG_TYPES = [
    (r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (r"\bINTEGER\b", "BIGINT"),
    (r"\bREAL\b", "DOUBLE PRECISION"),
    (r"\bBLOB\b", "BYTEA"),
    # byte order, as SQLite compares text: paths sort and range-compare the same on both engines
    # whatever locale the PostgreSQL database was created with
    (r"\bTEXT\b", 'TEXT COLLATE "C"'),
    (r"^(\s*)user ", r'\1"user" '),  # a reserved word in PostgreSQL (dream_locks.user)
]
_RANDOM_HEX24 = {"sqlite": "lower(hex(randomblob(12)))",
                 "postgresql": "substr(md5(random()::text || clock_timestamp()::text), 1, 24)"}


def render(dialect: str) -> list[tuple[str, str]]:
    """Every migration as (name, SQL) for `dialect` ("sqlite" or "postgresql")."""
    out = []
    for name, sql in MIGRATIONS:
        if isinstance(sql, dict):
            sql = sql[dialect]
        elif dialect == "postgresql":
            for pattern, repl in _PG_TYPES:
                sql = re.sub(pattern, repl, sql, flags=re.M)
        out.append((name, sql.replace("{random_hex24}", _RANDOM_HEX24[dialect])))
    return out


def id_tables() -> set[str]:
    """Tables keyed by an integer `id`: an INSERT into them returns the row's id (SQLite's
    lastrowid, which the store API relies on)."""
    return {m.group(1) for _, sql in MIGRATIONS for text in (sql.values() if isinstance(sql, dict) else [sql])
            for m in re.finditer(r"CREATE TABLE (\w+) \(\s*id INTEGER PRIMARY KEY", text)}
