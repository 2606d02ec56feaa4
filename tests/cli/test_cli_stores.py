"""`memfs init` and `memfs store create|list|show|rename|describe|archive|rm`."""

import json
import os

from memfs import Memfs, errors


def test_init_creates_the_database(ok, tmp_path):
    db_path = str(tmp_path / "new" / "memfs.db")
    assert not os.path.exists(db_path)
    r = ok("init", env={"MEMFS_DB": db_path})
    assert r.stdout.strip() == db_path
    assert os.path.exists(db_path)
    with Memfs(db_path) as m:
        assert m.list_stores() == [] and m.doctor().ok
    # again: harmless
    assert ok("init", env={"MEMFS_DB": db_path}).stdout.strip() == db_path


def test_store_create_list_show(ok, db_path):
    r = ok("store", "create", "team-sre", "-d", "SRE notes", "--max-content-bytes", "2048")
    with Memfs(db_path) as m:
        s = m.get_store("team-sre")
    assert s.uid in r.stdout and s.description == "SRE notes" and s.max_content_bytes == 2048
    ok("store", "create", "alpha")
    ok("put", "team-sre:/a.md", "-", input="hello\n")

    listing = json.loads(ok("store", "list", "--json").stdout)
    assert [x["name"] for x in listing] == ["alpha", "team-sre"]
    sre = listing[1]
    assert (sre["id"], sre["files"], sre["bytes"], sre["max_content_bytes"]) == (s.uid, 1, 6, 2048)
    with Memfs(db_path) as m:
        assert sre["revisions"] == len(m.log("team-sre")) == 2  # the root's mkdir and the create
    assert sre["archived_at"] is None
    table = ok("store", "list").stdout
    assert "team-sre" in table and "alpha" in table and "SRE notes" in table
    # counts of one in the singular, the columns still aligned
    assert table.splitlines() == ["alpha                         0 files         0 bytes       1 rev  ",
                                  "team-sre                      1 file          6 bytes       2 revs  SRE notes"]
    nl = [json.loads(line) for line in ok("store", "list", "--nl").stdout.splitlines()]
    assert [x["name"] for x in nl] == ["alpha", "team-sre"]

    for ref in ("team-sre", s.uid):
        shown = json.loads(ok("store", "show", ref).stdout)
        assert (shown["id"], shown["name"], shown["description"], shown["files"]) == (s.uid, "team-sre",
                                                                                       "SRE notes", 1)


def test_store_errors(ok, fails):
    ok("store", "create", "team")
    fails(errors.AlreadyExists.exit_code, "store", "create", "team")
    fails(errors.InvalidName.exit_code, "store", "create", "bad:name")
    fails(errors.InvalidName.exit_code, "store", "create", "")
    fails(errors.NameTooLong.exit_code, "store", "create", "x" * 256)
    fails(errors.StoreNotFound.exit_code, "store", "show", "nope")
    fails(errors.StoreNotFound.exit_code, "store", "rename", "nope", "other")
    fails(errors.StoreNotFound.exit_code, "store", "archive", "nope")
    fails(errors.StoreNotFound.exit_code, "store", "rm", "nope", "--yes")
    ok("store", "create", "other")
    fails(errors.AlreadyExists.exit_code, "store", "rename", "team", "other")
    assert [s["name"] for s in json.loads(ok("store", "list", "--json").stdout)] == ["other", "team"]


def test_store_rename_and_describe(ok, fails, db_path):
    ok("store", "create", "old-name")
    ok("put", "old-name:/f", "-", input="x")
    ok("store", "rename", "old-name", "new-name")
    assert ok("cat", "new-name:/f").stdout == "x"
    fails(errors.StoreNotFound.exit_code, "cat", "old-name:/f")
    ok("store", "describe", "new-name", "what it holds")
    with Memfs(db_path) as m:
        assert m.get_store("new-name").description == "what it holds"


def test_store_archive_makes_it_read_only(ok, fails):
    ok("store", "create", "frozen")
    ok("put", "frozen:/f", "-", input="before")
    assert "read-only" in ok("store", "archive", "frozen").stdout
    code = errors.ReadOnly.exit_code
    assert code == 6
    fails(code, "put", "frozen:/f", "-", input="after")
    fails(code, "put", "frozen:/g", "-", input="new")
    fails(code, "rm", "frozen:/f")
    fails(code, "mv", "frozen:/f", "/g")
    fails(code, "mkdir", "frozen:/d")
    fails(code, "revert", "frozen", "--to", "1")
    assert ok("cat", "frozen:/f").stdout == "before"
    # archived stores are hidden from the list unless asked for
    assert json.loads(ok("store", "list", "--json").stdout) == []
    listed = json.loads(ok("store", "list", "--all", "--json").stdout)
    assert [s["name"] for s in listed] == ["frozen"] and listed[0]["archived_at"]


def test_store_rm(ok, memfs_cli, db_path):
    ok("store", "create", "doomed")
    ok("put", "doomed:/f", "-", input="x")
    # without --yes it asks; saying no keeps everything
    r = memfs_cli("store", "rm", "doomed", input="n\n")
    assert r.exit_code != 0
    assert ok("cat", "doomed:/f").stdout == "x"
    r = memfs_cli("store", "rm", "doomed", input="y\n")
    assert r.exit_code == 0 and "deleted" in r.stdout
    with Memfs(db_path) as m:
        assert m.list_stores() == [] and m.head() == 0
    ok("store", "create", "doomed2")
    ok("store", "rm", "doomed2", "--yes")
    assert json.loads(ok("store", "list", "--all", "--json").stdout) == []
