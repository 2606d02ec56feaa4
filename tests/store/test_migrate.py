"""`memfs migrate`: a whole database moves between SQLite and PostgreSQL with every row as it
was (ids, attribution, sessions, keys, hooks, conflicts, dream jobs) and is verified; a target
that already holds stores is refused and left alone."""

import pytest

from memfs import Identity, Memfs, errors
from memfs.backends.migrate import migrate, tables

# these name both engines themselves; they need no second run on the parametrised backend
pytestmark = pytest.mark.sqlite_only


def _populate(db):
    with Memfs(db, identity=Identity(agent="a1", session="s1", actor="agent")) as m:
        s = m.create_store("team", "notes")
        m.open_session("s1", agent="a1", stores={"team": "rw"})
        m.write(s, "/notes/a.md", b"one\n")
        m.write(s, "/notes/a.md", b"two\n", identity=Identity(agent="a2", session="s2", actor="agent"))
        m.write(s, "/bin.dat", bytes(range(256)))
        m.rename(s, "/notes", "/kept")
        m.record_conflict(s, "/kept/a.md", b"refused\n", base_sha256=None, reason="stale")
        m.create_api_key(stores={"team": "ro"}, name="auditor")
        m.add_hook(s, "true", fail="open")
        m.delete(s, "/bin.dat")
        nid = m.stat(s, "/kept/a.md").node_id
        m.record_reads([(s, nid, "s2", 3, 200.0), (s, nid, "s1", 1, 100.0)])


def _snapshot(db):
    with Memfs(db) as m:
        return {
            "log": [(r.id, r.node_id, r.op, r.path, r.old_path, r.sha256, r.agent, r.session, r.created_at)
                    for r in m.log("team")],
            "tree": {p: (e.node_id, e.sha256) for p, e in m.tree("team").items()},
            "history": [r.id for r in m.history("team", "/kept/a.md")],
            "content": m.read("team", "/kept/a.md"),
            "deleted": m.read("team", "/bin.dat", rev=m.history("team", "/bin.dat")[-1].id),
            "conflicts": [(c.path, c.sha256) for c in m.conflicts("team")],
            "keys": [(k.name, k.scopes) for k in m.api_keys()],
            "hooks": [h.command for h in m.hooks("team")],
            "reads": {p: (r.reads, r.sessions, r.last_read) for p, r in m.file_reads("team").items()},
        }


def test_sqlite_to_postgres_and_back(tmp_path, pg_server):
    src = str(tmp_path / "src.db")
    _populate(src)
    pg = pg_server.create_database(f"migrate_{tmp_path.name}")
    rep = migrate(src, pg)
    assert rep.verified and rep.tables["revisions"] == 7 and rep.tables["blobs"] == 4
    assert set(rep.tables) == set(tables())  # every table of the schema went across
    assert _snapshot(pg) == _snapshot(src)
    with Memfs(pg) as m:
        assert m.doctor().ok
        head = m.head()
        # the target hands out new ids after the copied ones
        assert m.write("team", "/kept/new.md", b"after\n").revision.id == head + 1
        # history kept its revision numbers
        assert m.read("team", "/notes/a.md", rev=3) == b"one\n" and m.read("team", "/notes/a.md", rev=4) == b"two\n"
    back = str(tmp_path / "back.db")
    rep = migrate(pg, back)
    assert rep.verified
    assert _snapshot(back) == _snapshot(pg)
    with Memfs(back) as m:
        assert m.doctor().ok and m.grep("team", "after")[0].path == "/kept/new.md"


def test_non_empty_target_is_refused_and_unchanged(tmp_path, pg_server, memfs_cli):
    src, dst = str(tmp_path / "src.db"), str(tmp_path / "dst.db")
    _populate(src)
    with Memfs(dst) as m:
        m.create_store("mine")
        m.write("mine", "/x", b"x")
        before = [r.id for r in m.log("mine")]
    r = memfs_cli("migrate", "--from", src, "--to", dst)
    assert r.exit_code == errors.AlreadyExists.exit_code and r.stderr.startswith("Error: ") and "empty" in r.stderr
    assert r.stderr.count("\n") == 1
    with Memfs(dst) as m:
        assert [s.name for s in m.list_stores()] == ["mine"] and [r.id for r in m.log("mine")] == before
    with pytest.raises(errors.InvalidInput):
        migrate(src, src)


def test_cli_reports_tables_and_verification(tmp_path, pg_server, ok):
    src = str(tmp_path / "src.db")
    _populate(src)
    pg = pg_server.create_database(f"migrate_{tmp_path.name}")
    out = ok("migrate", "--from", "sqlite:///" + src, "--to", pg).stdout
    assert "revisions" in out and "verified" in out
    assert _snapshot(pg) == _snapshot(src)
