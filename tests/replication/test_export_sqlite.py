"""`memfs export --format sqlite`: a plain SQLite database that sqlite-utils (and Datasette) open."""

import sqlite_utils

from memfs import Identity, Memfs


def test_export_sqlite_has_stores_files_and_every_revision_with_attribution(db_path, tmp_path, ok, fails):
    with Memfs(db_path, identity=Identity(agent="alice", session="s-1", actor="agent")) as m:
        s = m.create_store("notes", description="team notes")
        m.write(s, "/a.md", b"first\n")
        m.write(s, "/a.md", b"second\n", message="fix", identity=Identity(agent="bob", actor="operator"))
        m.write(s, "/bin", b"\x00\x01")
        m.mkdir(s, "/docs")
        m.rename(s, "/a.md", "/docs/a.md", identity=Identity(agent="bob", actor="operator"))
        m.write(s, "/gone.md", b"bye\n")
        m.delete(s, "/gone.md")
        log = m.log(s, newest_first=False)
    out = tmp_path / "notes.db"
    r = ok("export", "notes", "--format", "sqlite", "-o", str(out))
    assert f"to {out}" in r.stderr

    db = sqlite_utils.Database(out)
    assert set(db.table_names()) >= {"stores", "files", "revisions"}
    [store] = db["stores"].rows
    assert (store["name"], store["description"], store["uid"]) == ("notes", "team notes", s.uid)
    revs = list(db["revisions"].rows_where(order_by="id"))
    assert [r["id"] for r in revs] == [r.id for r in log]  # one row per revision, none missing
    writes = [r for r in revs if r["path"] == "/a.md" and r["op"] in ("create", "write")]
    assert [(r["content"], r["agent"], r["session"], r["actor"], r["message"]) for r in writes] == [
        ("first\n", "alice", "s-1", "agent", None), ("second\n", "bob", None, "operator", "fix")]
    assert [r for r in revs if r["op"] == "rename"][0]["old_path"] == "/a.md"
    files = {f["path"]: f for f in db["files"].rows}
    assert set(files) == {"/docs/a.md", "/bin"}
    assert files["/docs/a.md"]["content"] == "second\n"
    assert files["/bin"]["content"] is None and files["/bin"]["content_bytes"] == b"\x00\x01"
    assert [r["path"] for r in db["revisions"].search("second")] == ["/a.md"]  # full-text index
    assert {fk.other_table for fk in db["files"].foreign_keys} == {"stores", "revisions"}

    # bad input: one line, no file made
    fails(2, "export", "notes", "--format", "sqlite")
    fails(3, "export", "nope", "--format", "sqlite", "-o", str(tmp_path / "x.db"))
    assert not (tmp_path / "x.db").exists()
