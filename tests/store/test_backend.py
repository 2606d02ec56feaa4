"""The SQLite backend: WAL mode, migrations recorded once and refused when newer, URLs."""

import pytest

from memfs import Memfs, errors
from memfs.backends.sqlite import MIGRATIONS

from storehelpers import raw


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


def test_newer_schema_is_refused(m, db_path, memfs_cli):
    m.create_store("s")
    c = raw(db_path)
    with c:
        c.execute("INSERT INTO _memfs_migrations VALUES ('m999_from_the_future', 0)")
    c.close()
    with pytest.raises(errors.SchemaTooNew):
        Memfs(db_path)
    r = memfs_cli("store", "list")
    assert r.exit_code == errors.SchemaTooNew.exit_code == 10
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


def test_sqlite_url_and_postgres_not_yet(db_path):
    with Memfs("sqlite:///" + db_path) as m:
        m.create_store("via-url")
    with Memfs(db_path) as m:
        assert [s.name for s in m.list_stores()] == ["via-url"]
    with pytest.raises(errors.InvalidInput):
        Memfs("postgresql://localhost/memfs")
