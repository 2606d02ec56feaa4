"""The read-only `.memfs/` directory of each store: hidden from listings and `grep -r`, reachable by
path, with the audit log, every old version of every file, the conflicts and a README."""

import errno
import os

import pytest

from fusehelpers import bash, errno_of, history, name, ok, revs, sha


@pytest.fixture
def mnt(seeded, mounter):
    m = mounter("team-sre=rw", agent="alice", session="s-hist")
    ok("mkdir -p runbooks && echo 'restart the web tier' > runbooks/web.md"
       " && echo 'restart the web tier, then purge the cache' > runbooks/web.md"
       " && echo 'drain first' >> runbooks/web.md", m.path)
    return m


def test_hidden_from_listings_and_grep_but_reachable(mnt):
    assert ".memfs" not in os.listdir(mnt.path)
    assert ".memfs" not in ok("ls -a", mnt.path).stdout.split()
    assert ".memfs" not in ok("find .", mnt.path).stdout
    # grep -r sees only the current file, not the three versions kept in history
    assert ok("grep -rn 'restart the web tier' .", mnt.path).stdout.splitlines() == [
        "./runbooks/web.md:1:restart the web tier, then purge the cache"]
    assert (mnt / ".memfs").is_dir()
    assert sorted(os.listdir(mnt / ".memfs")) == ["README", "conflicts", "history", "log"]
    readme = (mnt / ".memfs" / "README").read_text()
    assert "history/" in readme and "conflicts/" in readme and "Stale file handle" in readme


def test_log_lists_revisions(mnt, seeded):
    lines = (mnt / ".memfs" / "log").read_text().splitlines()
    rs = revs(seeded)
    assert len(lines) == len(rs)
    for line, r in zip(lines, rs):
        fields = line.split("\t")
        assert fields[0] == str(r.id)
        assert r.op in fields and r.path in line
    last = lines[-1].split("\t")
    assert "agent=alice" in last and "session=s-hist" in last and "write" in last
    assert last[-1] == sha("restart the web tier, then purge the cache\ndrain first\n")
    # the log grows as the store changes (it is not cached for long)
    (mnt / "new.md").write_text("x\n")
    assert "/new.md" in (mnt / ".memfs" / "log").read_text().splitlines()[-1]


def test_history_holds_every_old_version(mnt, seeded):
    hist = history(seeded, "/runbooks/web.md")
    d = mnt / ".memfs" / "history" / "runbooks" / "web.md"
    assert sorted(os.listdir(d), key=int) == [str(r.id) for r in reversed(hist)]
    assert (d / str(hist[-1].id)).read_text() == "restart the web tier\n"
    assert (d / str(hist[0].id)).read_text() == "restart the web tier, then purge the cache\ndrain first\n"
    assert "runbooks" in os.listdir(mnt / ".memfs" / "history")
    # grep -rn works there, and names the version
    out = ok("grep -rn 'restart the web tier$' .memfs/history", mnt.path).stdout.splitlines()
    assert out == [f".memfs/history/runbooks/web.md/{hist[-1].id}:1:restart the web tier"]
    # a deleted file's past stays readable
    os.unlink(mnt / "runbooks" / "web.md")
    assert (d / str(hist[-1].id)).read_text() == "restart the web tier\n"
    assert errno_of(os.stat, d / "999999") == errno.ENOENT


def test_history_follows_renames(mnt, seeded):
    os.rename(mnt / "runbooks" / "web.md", mnt / "runbooks" / "frontend.md")
    d = mnt / ".memfs" / "history" / "runbooks" / "frontend.md"
    first = history(seeded, "/runbooks/frontend.md")[-1]
    assert first.op == "create"
    assert (mnt / ".memfs" / "history" / "runbooks" / "web.md" / str(first.id)).read_text() == "restart the web tier\n"
    assert os.listdir(d)  # the rename, under the new name


def test_writes_to_memfs_fail(mnt, seeded):
    v = mnt / ".memfs"
    rev = history(seeded, "/runbooks/web.md")[-1].id
    attempts = {
        "write log": lambda: open(v / "log", "w"),
        "create": lambda: open(v / "new", "w"),
        "mkdir": lambda: os.mkdir(v / "history" / "d"),
        "unlink": lambda: os.unlink(v / "README"),
        "rename out": lambda: os.rename(v / "README", mnt / "README"),
        "rename in": lambda: os.rename(mnt / "runbooks" / "web.md", v / "web.md"),
        "rm -rf": lambda: _check_bash(bash("rm -rf .memfs", mnt.path)),
        "truncate": lambda: os.truncate(v / "log", 0),
        "chmod": lambda: os.chmod(v / "log", 0o666),
        "setxattr": lambda: os.setxattr(v / "log", "user.memfs.if-match", b"0" * 64),
        "append to history": lambda: open(v / "history" / "runbooks" / "web.md" / str(rev), "a"),
        "mkdir .memfs": lambda: os.mkdir(v),
    }
    before = len(revs(seeded))
    got = {what: errno_of(fn) for what, fn in attempts.items()}
    bad = {what: name(e) for what, e in got.items()
           if e not in (errno.EROFS, errno.EPERM) and not (what == "mkdir .memfs" and e == errno.EEXIST)}
    assert bad == {}
    assert len(revs(seeded)) == before
    assert (v / "README").exists() and (v / "log").read_text()
    assert (mnt / "runbooks" / "web.md").exists()


def _check_bash(p):
    if p.returncode != 0:
        raise OSError(errno.EROFS if "Read-only" in p.stderr else errno.EIO, p.stderr)


def test_each_store_has_its_own_memfs(seeded, mounter):
    mnt = mounter("team-sre=rw", "org-knowledge=ro")
    assert ".memfs" not in os.listdir(mnt.path) and errno_of(os.stat, mnt / ".memfs") == errno.ENOENT
    org = (mnt / "org-knowledge" / ".memfs" / "log").read_text()
    assert "/policies/oncall.md" in org
    (mnt / "team-sre" / "a.md").write_text("a\n")
    sre = (mnt / "team-sre" / ".memfs" / "log").read_text()
    assert "/a.md" in sre and "/policies" not in sre
    hist = mnt / "org-knowledge" / ".memfs" / "history" / "policies" / "oncall.md"
    assert [(hist / n).read_text() for n in os.listdir(hist)] == ["Page the secondary after 15 minutes.\n"]
    # a subdirectory may have its own file called .memfs: only the store root's is virtual
    os.mkdir(mnt / "team-sre" / "sub")
    (mnt / "team-sre" / "sub" / ".memfs").write_text("ordinary\n")
    assert ".memfs" in os.listdir(mnt / "team-sre" / "sub")
