"""`memfs log|show|diff|blame|revert|doctor|sessions`."""

import csv
import io
import json
import sqlite3
import time

import pytest

from memfs import Memfs, errors
from memfs.store import sha256


@pytest.fixture
def team(ok):
    ok("store", "create", "team")
    return "team"


def test_log_filters_and_formats(ok, fails, team, db_path):
    ok("--agent", "alice", "--session", "s-a", "put", "team:/notes/a", input="1")
    ok("--agent", "bob", "--session", "s-b", "put", "team:/notes/b", input="1")
    ok("put", "team:/top", input="1")
    time.sleep(0.05)
    cut = time.time()
    time.sleep(0.05)
    ok("--agent", "bob", "--session", "s-b", "put", "team:/notes/a", input="2")

    every = json.loads(ok("log", "--json").stdout)
    assert [r["id"] for r in every] == sorted((r["id"] for r in every), reverse=True)  # newest first
    with Memfs(db_path) as m:
        assert [r["id"] for r in every] == [r.id for r in m.log()]
    for r in every:
        for f in ("id", "store_name", "path", "op", "sha256", "prev_sha256", "size", "time", "agent", "session",
                  "actor", "message"):
            assert f in r
    alice = json.loads(ok("log", "team", "--agent", "alice", "--json").stdout)
    assert {r["agent"] for r in alice} == {"alice"} and {r["path"] for r in alice} == {"/notes", "/notes/a"}
    s_b = json.loads(ok("log", "team", "--session", "s-b", "--json").stdout)
    assert [r["path"] for r in s_b] == ["/notes/a", "/notes/b"]
    since = json.loads(ok("log", "team", "--since", repr(cut), "--json").stdout)
    assert [(r["path"], r["agent"]) for r in since] == [("/notes/a", "bob")]
    under = json.loads(ok("log", "team:/notes", "--json").stdout)
    assert {r["path"] for r in under} == {"/notes", "/notes/a", "/notes/b"}
    assert len(json.loads(ok("log", "team", "-n", "2", "--json").stdout)) == 2
    assert {r["op"] for r in json.loads(ok("log", "team", "--op", "mkdir", "--json").stdout)} == {"mkdir"}
    nl = [json.loads(line) for line in ok("log", "team", "--nl").stdout.splitlines()]
    assert [r["id"] for r in nl] == [r["id"] for r in json.loads(ok("log", "team", "--json").stdout)]
    rows = list(csv.DictReader(io.StringIO(ok("log", "team", "--csv").stdout)))
    assert [int(r["id"]) for r in rows] == [r["id"] for r in nl]
    text = ok("log", "team:/notes/a").stdout.splitlines()
    assert len(text) == 2 and "bob/s-b [agent]" in text[0] and "alice/s-a [agent]" in text[1]
    assert json.loads(ok("log", "team", "--agent", "nobody", "--json").stdout) == []
    fails(errors.StoreNotFound.exit_code, "log", "ghost")
    fails(errors.InvalidInput.exit_code, "log", "team", "--since", "not a time")
    fails(errors.InvalidName.exit_code, "log", "team:/../etc")


def test_show(ok, fails, team, db_path):
    ok("put", "team:/f", input="one\ntwo\n")
    ok("put", "team:/f", "-m", "fix two", input="one\nTWO\n")
    rev = max(r["id"] for r in json.loads(ok("log", "team", "--json").stdout))
    out = ok("show", str(rev)).stdout
    assert "write" in out and "(fix two)" in out and "-two\n" in out and "+TWO\n" in out
    d = json.loads(ok("show", str(rev), "--json").stdout)
    assert (d["id"], d["op"], d["path"], d["message"]) == (rev, "write", "/f", "fix two")
    assert (d["sha256"], d["prev_sha256"]) == (sha256(b"one\nTWO\n"), sha256(b"one\ntwo\n"))
    created = ok("show", str(rev - 1)).stdout
    assert "+one\n" in created and "/dev/null" in created
    fails(errors.RevisionNotFound.exit_code, "show", str(rev + 100))


def test_diff(ok, fails, team, db_path):
    revs = []
    for body in ("a\nb\nc\n", "a\nB\nc\n", "a\nB\nc\nd\n"):
        ok("put", "team:/f", input=body)
        revs.append(max(r["id"] for r in json.loads(ok("log", "team", "--json").stdout)))
    last = ok("diff", "team:/f").stdout
    assert "+d\n" in last and "-b\n" not in last
    since = ok("diff", "team:/f", str(revs[0])).stdout
    assert "-b\n" in since and "+B\n" in since and "+d\n" in since
    between = ok("diff", "team:/f", str(revs[0]), str(revs[1])).stdout
    assert "-b\n" in between and "+B\n" in between and "+d" not in between
    ok("put", "team:/g", input="new file\n")
    whole = ok("diff", "team:", str(revs[0])).stdout
    assert "+new file\n" in whole and "+d\n" in whole
    fails(errors.InvalidInput.exit_code, "diff", "team:")
    fails(errors.InvalidInput.exit_code, "diff", "team:/f", "1", "2", "3")
    fails(errors.PathNotFound.exit_code, "diff", "team:/missing")


def test_blame(ok, fails, team):
    ok("--agent", "alice", "put", "team:/f", input="one\ntwo\n")
    ok("--agent", "bob", "put", "team:/f", input="one\nTWO\nthree\n")
    lines = ok("blame", "team:/f").stdout.splitlines()
    assert len(lines) == 3
    assert "alice" in lines[0] and lines[0].endswith("one")
    assert "bob" in lines[1] and lines[1].endswith("TWO")
    assert "bob" in lines[2] and lines[2].endswith("three")
    assert int(lines[0].split()[0]) < int(lines[1].split()[0])
    fails(errors.PathNotFound.exit_code, "blame", "team:/missing")


def test_revert_path_and_store(ok, fails, team, db_path):
    ok("put", "team:/f", input="good\n")
    ok("put", "team:/g", input="keep\n")
    base = max(r["id"] for r in json.loads(ok("log", "team", "--json").stdout))
    ok("put", "team:/f", input="bad\n")
    ok("put", "team:/junk", input="junk\n")
    ok("put", "team:/g", input="changed\n")
    before = json.loads(ok("log", "team", "--json").stdout)

    out = ok("revert", "team:/f", "--to", str(base)).stdout
    assert "1 new revision" in out
    assert ok("cat", "team:/f").stdout == "good\n" and ok("cat", "team:/g").stdout == "changed\n"

    dry = ok("revert", "team", "--to", str(base), "--dry-run").stdout
    assert "/junk" in dry and "/g" in dry and "2 paths would change" in dry
    assert ok("cat", "team:/junk").stdout == "junk\n"

    ok("revert", "team", "--to", str(base))
    assert ok("cat", "team:/g").stdout == "keep\n"
    fails(errors.PathNotFound.exit_code, "cat", "team:/junk")
    after = json.loads(ok("log", "team", "--json").stdout)
    assert after[-len(before):] == before  # nothing rewritten, only appended
    assert all(r["message"] == f"revert to revision {base}" for r in after[: len(after) - len(before)])
    fails(errors.RevisionNotFound.exit_code, "revert", "team", "--to", "99999")
    assert ok("revert", "team", "--to", str(base)).stdout.strip().endswith("0 new revisions")


def test_doctor(ok, memfs_cli, team, db_path):
    ok("put", "team:/a", input="alpha\n")
    ok("put", "team:/b", input="beta\n")
    out = ok("doctor").stdout
    assert out.strip().endswith("ok")
    rep = json.loads(ok("doctor", "--json").stdout)
    assert rep["ok"] is True and rep["num_errors"] == 0 and rep["checked"]["blobs_read"] == 2

    c = sqlite3.connect(db_path)
    with c:
        c.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (b"BETA\n", sha256(b"beta\n")))
    c.close()
    r = memfs_cli("doctor")
    assert r.exit_code == 1 and "corrupt_blob" in r.stdout and sha256(b"beta\n") in r.stdout
    r = memfs_cli("doctor", "--json")
    rep = json.loads(r.stdout)
    assert r.exit_code == 1 and rep["ok"] is False and rep["num_errors"] == 1
    assert rep["problems"][0]["type"] == "corrupt_blob" and rep["problems"][0]["sha256"] == sha256(b"beta\n")
    assert memfs_cli("doctor", "--no-read-data").exit_code == 0


def test_sessions(ok, fails, team, db_path):
    with Memfs(db_path) as m:
        held = m.open_session("mount-1", agent="claude", stores={"team": "rw"})
        m.open_session("unrelated", agent="other", stores={})
        m.close_session(held.id)
    time.sleep(0.05)
    cut = time.time()
    time.sleep(0.05)
    ok("--agent", "writer", "--session", "cli-session", "put", "team:/f", input="x")
    with Memfs(db_path) as m:
        m.open_session("cli-session", agent="writer", kind="api")
    rows = json.loads(ok("sessions", "--json").stdout)
    assert [r["session_id"] for r in rows] == ["cli-session", "unrelated", "mount-1"]
    assert rows[2]["ended"] != "-" and rows[2]["stores"] == {"team": "rw"}
    of_team = json.loads(ok("sessions", "team", "--json").stdout)
    assert {r["session_id"] for r in of_team} == {"cli-session", "mount-1"}
    active = json.loads(ok("sessions", "--active", "--json").stdout)
    assert {r["session_id"] for r in active} == {"cli-session", "unrelated"}
    # since the cut: only the session that wrote after it (mount-1 ended before)
    assert json.loads(ok("sessions", "team", "--since", repr(cut), "--json").stdout) == [
        r for r in of_team if r["session_id"] == "cli-session"]
    assert json.loads(ok("sessions", "team", "--since", "0s", "--json").stdout) == []
    assert "mount-1" in ok("sessions").stdout
    fails(errors.StoreNotFound.exit_code, "sessions", "ghost")


def test_diff_of_a_directory_is_only_that_subtree(ok, fails, team):
    ok("put", "team:/d/a", input="a\n")
    ok("put", "team:/other", input="o\n")
    base = max(r["id"] for r in json.loads(ok("log", "team", "--json").stdout))
    ok("put", "team:/d/a", input="a2\n")
    ok("put", "team:/other", input="o2\n")
    sub = ok("diff", "team:/d", str(base)).stdout
    assert "+a2\n" in sub and "o2" not in sub
    whole = ok("diff", "team:", str(base)).stdout
    assert "+a2\n" in whole and "+o2\n" in whole
    fails(errors.InvalidInput.exit_code, "diff", "team:/d")  # a directory needs a revision


def test_blame_of_a_directory_is_an_error(ok, fails, team):
    ok("put", "team:/d/f", input="x\n")
    fails(errors.IsADirectory.exit_code, "blame", "team:/d")


def test_log_of_an_unknown_operation_is_bad_input(ok, fails, team):
    """Issue 17: `memfs log --op bogus` printed nothing and exited 0; the help promises 2."""
    ok("put", "team:/a", input="a")
    for args in (("log", "--op", "bogus"), ("log", "team", "--op", "write", "--op", "writes"),
                 ("log", "--follow", "--op", "bogus")):
        r = fails(errors.InvalidInput.exit_code, *args)
        bad = args[-1]
        assert r.stderr == (f"Error: unknown operation {bad!r}: the operations are create, write, delete, rename, "
                            "mkdir, rmdir, symlink, chmod\n")
    assert [x["path"] for x in json.loads(ok("log", "team", "--op", "create", "--op", "mkdir", "--json").stdout)] \
        == ["/a", "/"]
