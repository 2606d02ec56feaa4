"""`memfs replicate --to DB`: every revision replayed in order with its attribution, the trees
equal at every revision, idempotent, incremental, per store; bad input refused in one line."""

import os
import sqlite3
import subprocess
import sys

from memfs import Memfs
from replhelpers import ALICE, assert_same_history, memfs, one_line_error


def test_replicate_copies_every_revision_with_its_attribution(src, src_path, dst_path, history):
    p = memfs(src_path, "replicate", "--to", dst_path, "--once")
    assert p.returncode == 0, p.stderr
    total = src.head()
    assert p.stdout.strip() == f"replicated {total} revisions to {dst_path} (up to source revision {total})"
    with Memfs(dst_path) as dst:
        n = assert_same_history(src, dst, "kb") + assert_same_history(src, dst, "other")
        assert n == total
        # the store keeps its id, description and metadata; the redaction came along
        assert dst.get_store("kb").uid == src.get_store("kb").uid
        assert (dst.get_store("kb").description, dst.get_store("kb").metadata) == ("what the team knows", {"team": "sre"})
        red = [r for r in dst.log("kb") if r.redacted_at]
        assert [r.origin for r in red] == [f"{src.database_id()}:{history['redacted']}"]
        assert dst.doctor().ok, dst.doctor().problems
        assert dst.replication_cursor(src.database_id()) == total
    # nothing of the redacted text reached the target file
    assert b"hunter2" not in open(dst_path, "rb").read()


def test_replicate_is_idempotent_and_incremental(src, src_path, dst_path, history):
    assert memfs(src_path, "replicate", "--to", dst_path, "--once").returncode == 0
    again = memfs(src_path, "replicate", "--to", "sqlite:///" + dst_path, "--once")
    assert again.returncode == 0 and again.stdout.startswith("replicated 0 revisions"), again.stdout
    before = src.head()
    src.write("kb", "/later.md", b"later\n", identity=ALICE, message="after the first run")
    src.rename("kb", "/later.md", "/moved/later.md", identity=ALICE)
    p = memfs(src_path, "replicate", "--to", dst_path, "--once")
    assert p.stdout.startswith("replicated 2 revisions"), p.stdout
    with Memfs(dst_path) as dst:
        assert assert_same_history(src, dst, "kb") + assert_same_history(src, dst, "other") == src.head()
        origins = [r.origin for r in dst.log(newest_first=False)]
        assert origins == [f"{src.database_id()}:{i}" for i in range(1, before + 3)]
    # a store renamed and re-described in the source follows with its next revision
    src.update_store("other", name="other-renamed", description="now described")
    src.write("other-renamed", "/y.md", b"y\n", identity=ALICE)
    assert memfs(src_path, "replicate", "--to", dst_path, "--once").stdout.startswith("replicated 1 revision ")
    with Memfs(dst_path) as dst:
        assert [(s.name, s.description) for s in dst.list_stores()] == [("kb", "what the team knows"),
                                                                       ("other-renamed", "now described")]
        assert_same_history(src, dst, "other-renamed")


def test_replicate_one_store(src, src_path, dst_path, history):
    p = memfs(src_path, "replicate", "--to", dst_path, "--store", "other", "--once")
    assert p.returncode == 0, p.stderr
    with Memfs(dst_path) as dst:
        assert [s.name for s in dst.list_stores()] == ["other"]
        assert_same_history(src, dst, "other")


def test_a_diverged_target_is_refused_not_overwritten(src, src_path, dst_path, history):
    assert memfs(src_path, "replicate", "--to", dst_path, "--once").returncode == 0
    with Memfs(dst_path, identity=ALICE) as dst:
        dst.write("other", "/y.md", b"made on the target\n")  # someone wrote to the replica
        cursor = dst.replication_cursor(src.database_id())
    src.write("other", "/y.md", b"made on the source\n", identity=ALICE)
    p = memfs(src_path, "replicate", "--to", dst_path, "--once")
    assert "already exists" in one_line_error(p, 5)
    with Memfs(dst_path) as dst:
        assert dst.read("other", "/y.md") == b"made on the target\n"
        assert dst.replication_cursor(src.database_id()) == cursor  # it stops before the revision, and says so
    # a file changed on the target is not overwritten by the source's next change of it either
    src.delete("other", "/y.md", identity=ALICE)
    with Memfs(dst_path, identity=ALICE) as dst:
        dst.delete("other", "/y.md")
    assert memfs(src_path, "replicate", "--to", dst_path, "--once").returncode == 0  # the same file again
    with Memfs(dst_path, identity=ALICE) as dst:
        dst.write("other", "/x.md", b"changed on the target\n")
    src.write("other", "/x.md", b"changed on the source\n", identity=ALICE)
    assert "diverged" in one_line_error(memfs(src_path, "replicate", "--to", dst_path, "--once"), 5)
    with Memfs(dst_path) as dst:
        assert dst.read("other", "/x.md") == b"changed on the target\n"


def test_bad_input_is_one_line_and_non_zero(src, src_path, dst_path, history, tmp_path):
    assert "no such store: 'nope'" in one_line_error(memfs(src_path, "replicate", "--to", dst_path, "--store", "nope",
                                                           "--once"), 3)
    assert "the target is the source" in one_line_error(memfs(src_path, "replicate", "--to", src_path, "--once"), 2)
    assert "the target is the source" in one_line_error(
        memfs(src_path, "replicate", "--to", "sqlite:///" + src_path, "--once"), 2)
    one_line_error(memfs(src_path, "replicate", "--to", "ftp://example.org/x", "--once"), 2)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    one_line_error(memfs(src_path, "replicate", "--to", str(garbage), "--once"))
    # a target that already has a different store of the same name
    with Memfs(dst_path) as dst:
        dst.create_store("kb")
    assert "already exists" in one_line_error(memfs(src_path, "replicate", "--to", dst_path, "--once"))
    # nothing half-done: the failed store was not created twice, and the cursor stopped before it
    con = sqlite3.connect(dst_path)
    assert con.execute("SELECT COUNT(*) FROM stores WHERE name = 'kb'").fetchone()[0] == 1
    assert con.execute("SELECT COALESCE(MAX(cursor), 0) FROM replication_cursors").fetchone()[0] == 0


def test_a_target_that_is_not_a_database_is_refused(src, src_path, history, tmp_path):
    """Issue 17: `memfs replicate --to $MEMFS_DB --once` with MEMFS_DB unset became `--to --once`
    and replicated for ever into a new file named --once. Nothing is made for such a target."""
    p = subprocess.run(["bash", "-c", 'memfs --db "$SRC" replicate --to $MEMFS_DB --once'], cwd=tmp_path,
                       env={**{k: v for k, v in os.environ.items() if k != "MEMFS_DB"}, "SRC": src_path,
                            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and p.stderr == ("Error: the target '--once' starts with '-', so it is an option, "
                                              "not a database (an empty variable before it?)\n"), p.stderr
    for word in ("backup", "replica.txt"):
        err = one_line_error(memfs(src_path, "replicate", "--to", word, "--once"), 2)
        assert err.startswith(f"Error: the target '{word}' does not look like a database: give a file PATH ending "
                              f"in .db, .sqlite, .sqlite3, .memfs or with a '/' (./{word})")
    assert not [f for f in os.listdir(tmp_path) if f in ("--once", "backup", "replica.txt")]
    assert not [f for f in os.listdir(os.getcwd()) if f in ("--once", "backup", "replica.txt")]
    # what does look like one: a path with a '/', a .db name, sqlite:///
    for target in (str(tmp_path / "copy"), "sqlite:///" + str(tmp_path / "copy2")):
        assert memfs(src_path, "replicate", "--to", target, "--once").returncode == 0
