"""The backends: migrations recorded once and refused when newer (both engines), SQLite's WAL
mode, database URLs."""

import pytest

from memfs import Memfs, errors
from memfs.backends.schema import MIGRATIONS

from storehelpers import raw


@pytest.mark.sqlite_only
def test_wal_mode_and_recorded_migrations(m, db_path):
    c = raw(db_path)
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = c.execute("SELECT name, applied_at FROM _memfs_migrations ORDER BY name").fetchall()
    c.close()
    assert [r[0] for r in applied] == sorted(n for n, _ in MIGRATIONS)
    # reopening runs nothing again
    with Memfs(db_path) as again:
        assert again.db.migrations() == [r[0] for r in applied]
    c = raw(db_path)
    assert c.execute("SELECT name, applied_at FROM _memfs_migrations ORDER BY name").fetchall() == applied
    c.close()


def test_migrations_recorded_once(m, db_path):
    assert m.db.migrations() == sorted(n for n, _ in MIGRATIONS)
    with Memfs(db_path) as again:
        assert again.db.migrations() == m.db.migrations()


def test_newer_schema_is_refused(m, db_path, memfs_cli):
    m.create_store("s")
    with m.db.write() as tx:
        tx.run("INSERT INTO _memfs_migrations VALUES (?, 0)", ("m999_from_the_future",))
    if m.db.dialect == "postgresql":  # the process remembers a database it has migrated
        from memfs.backends import postgres

        postgres._MIGRATED.discard(db_path)
    with pytest.raises(errors.SchemaTooNew):
        Memfs(db_path)
    r = memfs_cli("store", "list")
    assert r.exit_code == errors.SchemaTooNew.exit_code == 10
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


@pytest.mark.sqlite_only
def test_sqlite_url(db_path):
    with Memfs("sqlite:///" + db_path) as m:
        m.create_store("via-url")
    with Memfs(db_path) as m:
        assert [s.name for s in m.list_stores()] == ["via-url"]


@pytest.mark.sqlite_only
def test_unreachable_postgres_is_a_clear_error(memfs_cli):
    with pytest.raises(errors.Unavailable, match="unreachable"):
        Memfs("postgresql://memfs@127.0.0.1:9/memfs")  # nothing listens on port 9
    r = memfs_cli("--db", "postgresql://memfs@127.0.0.1:9/memfs", "store", "list")
    assert r.exit_code == errors.Unavailable.exit_code and r.stderr.count("\n") == 1, r.output


@pytest.mark.postgresql_only
def test_another_applications_postgresql_database_is_left_alone(backend, pg_server):
    """A URL naming a database with other tables is not a memfs database: memfs adds nothing."""
    import psycopg

    url = pg_server.create_database("someone_elses")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(errors.NotADatabase) as e:
        Memfs(url)
    assert e.value.message == "the database at this URL is not a memfs database (it has other tables)"
    with psycopg.connect(url, autocommit=True) as c:
        assert [r[0] for r in c.execute("SELECT table_name FROM information_schema.tables"
                                        " WHERE table_schema = current_schema()")] == ["users"]
    from memfs.backends.postgres import close_pool

    close_pool(url)
    pg_server.drop_database("someone_elses")
