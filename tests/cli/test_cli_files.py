"""`memfs put|cat|ls|rm|mv|mkdir` over a real database."""

import json
import time

import pytest

from memfs import Memfs, errors
from memfs.store import sha256


@pytest.fixture
def team(ok):
    ok("store", "create", "team")
    return "team"


def _head(db_path):
    with Memfs(db_path) as m:
        return m.head()


def test_put_from_stdin_and_file(ok, team, tmp_path, db_path):
    r = ok("put", "team:/notes/a.md", input="hello\n")  # FILE defaults to stdin
    assert r.stdout.startswith("create team:/notes/a.md revision ") and sha256(b"hello\n") in r.stdout
    src = tmp_path / "local.bin"
    src.write_bytes(b"\x00\x01binary\xff")
    ok("put", "team:/blob.bin", str(src), "-m", "from a file")
    assert ok("cat", "team:/blob.bin").stdout_bytes == b"\x00\x01binary\xff"
    assert ok("cat", "team:/notes/a.md").stdout == "hello\n"
    with Memfs(db_path) as m:
        assert m.history("team", "/blob.bin")[0].message == "from a file"
    # the same content again: unchanged, no revision
    head = _head(db_path)
    assert ok("put", "team:/notes/a.md", "-", input="hello\n").stdout.startswith("unchanged ")
    assert _head(db_path) == head


def test_put_if_match_and_if_absent(ok, fails, team, db_path):
    ok("put", "team:/f", "--if-absent", input="v1")
    h1 = sha256(b"v1")
    ok("put", "team:/f", "--if-match", h1, input="v2")
    head = _head(db_path)
    stale = fails(errors.PreconditionFailed.exit_code, "put", "team:/f", "--if-match", h1, input="v3")
    assert sha256(b"v2")[:12] in stale.stderr
    fails(errors.PreconditionFailed.exit_code, "put", "team:/f", "--if-absent", input="v3")
    fails(errors.InvalidInput.exit_code, "put", "team:/f", "--if-match", "nothex", input="v3")
    fails(errors.InvalidInput.exit_code, "put", "team:/f", "--if-match", h1, "--if-absent", input="v3")
    assert _head(db_path) == head
    assert ok("cat", "team:/f").stdout == "v2"
    # a retry of what is already there succeeds even with the stale hash
    assert ok("put", "team:/f", "--if-match", h1, input="v2").stdout.startswith("unchanged ")
    assert errors.PreconditionFailed.exit_code == 5


def test_put_refusals_change_nothing(ok, fails, team, db_path):
    ok("put", "team:/f", input="x")
    head = _head(db_path)
    fails(errors.ContentTooLarge.exit_code, "put", "team:/big", input="x" * (100 * 1024 + 1))
    for bad in ("team:../x", "team:/a/../b", "team:/a\x01b", "team:/" + "n" * 256):
        fails(2, "put", bad, input="x")
    fails(errors.StoreNotFound.exit_code, "put", "ghost:/f", input="x")
    fails(errors.InvalidInput.exit_code, "put", "no-colon", input="x")
    fails(errors.IsADirectory.exit_code, "put", "team:", input="x")
    assert _head(db_path) == head


def test_cat_at_revision_and_time(ok, fails, team, db_path):
    revs, times = [], []
    for i in range(3):
        ok("put", "team:/f", input=f"v{i}\n")
        revs.append(_head(db_path))
        times.append(time.time())
        time.sleep(0.05)
    for i in range(3):
        assert ok("cat", "team:/f", "--rev", str(revs[i])).stdout == f"v{i}\n"
        assert ok("cat", "team:/f", "--at", repr(times[i])).stdout == f"v{i}\n"
    # relative and ISO times
    assert ok("cat", "team:/f", "--at", "0s").stdout == "v2\n"
    fails(errors.RevisionNotFound.exit_code, "cat", "team:/f", "--at", "2000-01-01")
    fails(errors.InvalidInput.exit_code, "cat", "team:/f", "--at", "yesterday-ish")
    fails(errors.InvalidInput.exit_code, "cat", "team:/f", "--rev", str(revs[0]), "--at", "1h")
    fails(errors.PathNotFound.exit_code, "cat", "team:/f", "--rev", str(revs[0] - 1))
    fails(errors.PathNotFound.exit_code, "cat", "team:/missing")
    ok("mkdir", "team:/d")
    fails(errors.IsADirectory.exit_code, "cat", "team:/d")


def test_ls_now_and_at_revision(ok, fails, team, db_path):
    ok("put", "team:/d/a", input="a")
    ok("put", "team:/d/b", input="bb")
    r1 = _head(db_path)
    ok("rm", "team:/d/a")
    ok("put", "team:/d/sub/c", input="ccc")
    now = json.loads(ok("ls", "team:/d", "--json").stdout)
    assert [(e["path"], e["kind"]) for e in now] == [("/d/b", "file"), ("/d/sub", "dir")]
    assert now[0]["size"] == 2 and now[0]["sha256"] == sha256(b"bb")
    then = json.loads(ok("ls", "team:/d", "--rev", str(r1), "--json").stdout)
    assert [e["path"] for e in then] == ["/d/a", "/d/b"]
    # the root, as 'team:' or 'team'
    assert [e["path"] for e in json.loads(ok("ls", "team:", "--json").stdout)] == ["/d"]
    assert [e["path"] for e in json.loads(ok("ls", "team", "--json").stdout)] == ["/d"]
    rec = json.loads(ok("ls", "-R", "team:/d", "--json").stdout)
    assert [e["path"] for e in rec] == ["/d/b", "/d/sub", "/d/sub/c"]
    rec_then = json.loads(ok("ls", "-R", "team:/d", "--rev", str(r1), "--json").stdout)
    assert [e["path"] for e in rec_then] == ["/d/a", "/d/b"]
    table = ok("ls", "team:/d").stdout
    assert "/d/b" in table and "/d/sub/" in table
    csv_out = ok("ls", "team:/d", "--csv").stdout.splitlines()
    assert csv_out[0] == "kind,size,revision,path" and len(csv_out) == 3
    fails(errors.PathNotFound.exit_code, "ls", "team:/nope")
    fails(errors.StoreNotFound.exit_code, "ls", "ghost:")


def test_ls_of_a_file_lists_it(ok, fails, team, db_path):
    """Issue 17: `memfs ls STORE:FILE` failed (not a directory); ls lists a file as itself."""
    ok("put", "team:/d/b", input="bb")
    r1 = _head(db_path)
    ok("put", "team:/d/b", input="bbbb")
    [e] = json.loads(ok("ls", "team:/d/b", "--json").stdout)
    assert (e["path"], e["kind"], e["size"], e["sha256"], e["revision"]) == ("/d/b", "file", 4, sha256(b"bbbb"), r1 + 1)
    assert ok("ls", "team:/d/b").stdout == f"file          4 {r1 + 1:>7}  /d/b\n"
    [then] = json.loads(ok("ls", "team:/d/b", "--rev", str(r1), "--json").stdout)
    assert (then["size"], then["revision"]) == (2, r1)
    assert [x["path"] for x in json.loads(ok("ls", "-R", "team:/d/b", "--json").stdout)] == ["/d/b"]
    fails(errors.PathNotFound.exit_code, "ls", "team:/d/b", "--rev", "1")


def test_mount_point_that_is_missing_or_a_file(ok, fails, team, tmp_path):
    """Issue 17: a missing mount point was called "not a directory"."""
    missing = tmp_path / "nope"
    r = fails(errors.NotFound.exit_code, "mount", str(missing), "--store", "team")
    assert r.stderr == f"Error: mount point {missing} does not exist (mkdir -p {missing} first)\n"
    (tmp_path / "afile").write_text("x")
    r = fails(errors.NotADirectory.exit_code, "mount", str(tmp_path / "afile"), "--store", "team")
    assert r.stderr == f"Error: mount point {tmp_path / 'afile'} is not a directory\n"


def test_rm_file_and_tree(ok, fails, team, db_path):
    ok("put", "team:/f", input="x")
    ok("put", "team:/t/a", input="a")
    ok("put", "team:/t/u/b", input="b")
    fails(errors.PreconditionFailed.exit_code, "rm", "team:/f", "--if-match", sha256(b"other"))
    assert "removed 1 entry" in ok("rm", "team:/f", "--if-match", sha256(b"x")).stdout
    fails(errors.PathNotFound.exit_code, "rm", "team:/f")
    fails(errors.IsADirectory.exit_code, "rm", "team:/t")
    assert "removed 4 entries" in ok("rm", "-r", "team:/t").stdout
    assert json.loads(ok("ls", "team:", "--json").stdout) == []
    with Memfs(db_path) as m:
        assert [r.op for r in m.log("team", ops=["delete", "rmdir"])].count("delete") == 3


def test_mv_file_and_directory(ok, fails, team, db_path):
    ok("put", "team:/d/f", input="x")
    with Memfs(db_path) as m:
        fid = m.lookup("team", "/d/f").id
    assert "/d/f -> /d/g" in ok("mv", "team:/d/f", "/d/g").stdout
    ok("mv", "team:/d", "team:/e")
    with Memfs(db_path) as m:
        assert m.lookup("team", "/e/g").id == fid
    ok("put", "team:/other", input="o")
    fails(errors.AlreadyExists.exit_code, "mv", "team:/e/g", "/other", "--no-clobber")
    ok("mv", "team:/e/g", "/other")  # replaces, as rename(2) does
    assert ok("cat", "team:/other").stdout == "x"
    ok("store", "create", "elsewhere")
    fails(errors.CrossStore.exit_code, "mv", "team:/other", "elsewhere:/other")
    fails(errors.PathNotFound.exit_code, "mv", "team:/missing", "/x")
    fails(errors.InvalidName.exit_code, "mv", "team:/other", "../escape")


def test_mkdir(ok, fails, team):
    assert ok("mkdir", "team:/d").stdout.strip() == "team:/d/"
    fails(errors.AlreadyExists.exit_code, "mkdir", "team:/d")
    fails(errors.PathNotFound.exit_code, "mkdir", "team:/x/y")
    ok("mkdir", "-p", "team:/x/y")
    ok("mkdir", "-p", "team:/x/y")  # -p: no error when it exists
    assert [e["path"] for e in json.loads(ok("ls", "-R", "team:", "--json").stdout)] == ["/d", "/x", "/x/y"]
