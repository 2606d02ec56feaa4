"""`memfs branch ...`: the commands, their output, and bad input: one line on stderr, a
documented exit code, nothing changed."""

import json

import pytest

from memfs import Memfs


@pytest.fixture
def sre(ok):
    ok("store", "create", "team-sre")
    ok("put", "team-sre:/notes.md", input="a\nb\nc\n")
    ok("put", "team-sre:/old.md", input="old\n")
    ok("branch", "create", "team-sre", "try-1")


def test_create_ls_show_diff(ok, sre):
    r = ok("branch", "create", "team-sre", "then", "--at", "2")
    assert r.output.startswith("created branch team-sre@then at revision 2 (1 file)")
    rows = json.loads(ok("branch", "ls", "team-sre", "--json").output)
    assert [(r["ref"], r["status"], r["files"]) for r in rows] == [("team-sre@try-1", "open", 2),
                                                                  ("team-sre@then", "open", 1)]
    ok("put", "team-sre@try-1:/notes.md", input="a\nb\nc\nd\n")
    ok("mv", "team-sre@try-1:/old.md", "/older.md")
    assert ok("branch", "diff", "team-sre@try-1").output == (
        "--- a/notes.md\n+++ b/notes.md\n@@ -1,3 +1,4 @@\n a\n b\n c\n+d\nrename /old.md => /older.md\n")
    show = json.loads(ok("branch", "show", "team-sre@try-1").output)
    assert show["merge"] == {"files": 2, "conflicts": 0, "by_status": {"taken": 2}}
    assert [s["name"] for s in json.loads(ok("store", "list", "--json").output)] == ["team-sre"]


def test_merge_dry_run_conflict_and_resolution(ok, fails, sre, db_path):
    ok("put", "team-sre@try-1:/notes.md", input="a\nB\nc\n")
    ok("put", "team-sre:/notes.md", input="a\nb2\nc\n")
    ok("put", "team-sre@try-1:/new.md", input="new\n")
    r = ok("branch", "merge", "team-sre@try-1", "--dry-run", "--theirs")
    assert "theirs    write   /notes.md" in r.output and "+B\n" in r.output and "-b2\n" in r.output
    assert r.output.endswith("dry run: 2 files would change, 0 conflicts; nothing written\n")
    r = fails(5, "branch", "merge", "team-sre@try-1")
    assert "conflict  -       /notes.md  (changed on both sides and the changes overlap)" in r.stdout
    assert "taken     create  /new.md" in r.stdout
    with Memfs(db_path) as m:
        assert m.read("team-sre", "/notes.md") == b"a\nb2\nc\n" and m.lookup("team-sre", "/new.md") is None
    r = ok("branch", "merge", "team-sre@try-1", "--ours", "/notes.md")
    assert r.output.splitlines()[-1] == "merged team-sre@try-1: 1 revision"
    with Memfs(db_path) as m:
        assert m.read("team-sre", "/notes.md") == b"a\nb2\nc\n" and m.read("team-sre", "/new.md") == b"new\n"


def test_clean_only_leaves_the_branch_open(ok, sre, db_path):
    ok("put", "team-sre@try-1:/notes.md", input="X\n")
    ok("put", "team-sre:/notes.md", input="Y\n")
    ok("rm", "team-sre@try-1:/old.md")
    r = ok("branch", "merge", "team-sre@try-1", "--clean-only")
    assert r.output.splitlines()[-1] == "merged team-sre@try-1: 1 revision, 1 conflict left on the branch (still open)"
    with Memfs(db_path) as m:
        assert m.lookup("team-sre", "/old.md") is None and m.branch("team-sre@try-1").status == "open"


def test_bad_input(ok, fails, sre, db_path):
    ok("branch", "create", "team-sre", "gone")
    assert ok("branch", "discard", "team-sre@gone").output == "discarded branch team-sre@gone; team-sre is unchanged\n"
    with Memfs(db_path) as m:
        head = m.head()
    r = fails(3, "branch", "merge", "team-sre@nope")
    assert r.stderr == "Error: store 'team-sre' has no branch 'nope' (see `memfs branch ls team-sre`)\n"
    r = fails(4, "branch", "create", "team-sre", "try-1")
    assert r.stderr == "Error: store 'team-sre' already has a branch named 'try-1'\n"
    r = fails(2, "branch", "merge", "team-sre@gone")
    assert r.stderr == "Error: branch team-sre@gone is discarded: it cannot be merged\n"
    r = fails(3, "branch", "create", "team-sre", "early", "--at", "2000-01-01")
    assert r.stderr == "Error: store 'team-sre' did not exist at that time\n"
    fails(3, "branch", "create", "team-sre", "early", "--at", "0")
    fails(2, "branch", "create", "team-sre", "bad/name")
    fails(2, "branch", "merge", "team-sre@try-1", "--ours", "--theirs")
    fails(3, "branch", "diff", "team-sre@nope")
    fails(3, "mount", "/tmp", "--store", "team-sre@nope")
    with Memfs(db_path) as m:
        assert m.head() == head


def test_log_shows_what_a_merge_brought_in(ok, sre):
    r = ok("put", "team-sre@try-1:/notes.md", input="a\nb\nc\nd\n")
    src = int(r.output.split(" revision ")[1].split()[0])
    ok("branch", "merge", "team-sre@try-1")
    line = ok("log", "team-sre", "-n", "1").output
    assert f"merged from team-sre@try-1 revision {src}  (merge team-sre@try-1)" in line
    rec = json.loads(ok("log", "team-sre", "-n", "1", "--json").output)[0]
    assert (rec["merged_from"], rec["merged_from_store"]) == (src, "team-sre@try-1")
    assert f"merged from team-sre@try-1 revision {src}" in ok("show", str(rec["id"])).output
    older = json.loads(ok("log", "team-sre", "--json").output)[-1]
    assert older["merged_from"] is None and "merged from" not in ok("log", "team-sre", "-n", "2").output.splitlines()[1]


def test_renaming_a_store_renames_its_branches(ok, fails, sre):
    ok("branch", "create", "team-sre", "try-2")
    r = ok("store", "rename", "team-sre", "sre")
    assert r.output == "renamed store team-sre to sre; its branches follow: sre@try-1, sre@try-2\n"
    assert ok("cat", "sre@try-1:/notes.md").output == "a\nb\nc\n"
    ok("store", "create", "ops@try-1")
    fails(4, "store", "rename", "sre", "ops")
    assert [b["ref"] for b in json.loads(ok("branch", "ls", "sre", "--json").output)] == ["sre@try-1", "sre@try-2"]
