"""Branches and time travel on real mounts, both backends: a branch mounts as STORE@NAME with
the same ESTALE protection between its mounts and leaves the store unchanged; `--at` mounts the
store as it was, read-only, for grep -r, diff -r and cp."""

import errno
import os
import subprocess

import pytest

from memfs import Identity, Memfs

from fusehelpers import bash, errno_of, head, name, ok, revs, stored


@pytest.fixture
def sre(seeded):
    """team-sre with two files, a branch try-1 of it, and the revision before a later edit."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        m.write("team-sre", "/runbooks/db.md", b"restart the primary\n")
        m.write("team-sre", "/notes.md", b"v1\n")
        old = m.store_head("team-sre")
        m.create_branch("team-sre", "try-1")
        m.write("team-sre", "/notes.md", b"v2\n")
    return seeded, old


def test_branch_mounts_share_estale_protection_and_leave_the_store_alone(sre, mounter):
    db, _ = sre
    h = head(db)
    a = mounter("team-sre@try-1=rw", agent="alice", session="sa", name="alice")
    b = mounter("team-sre@try-1=rw", agent="bob", session="sb", name="bob")
    assert (a / "notes.md").read_text() == "v1\n"  # the branch starts where it was made
    fd = os.open(b / "notes.md", os.O_RDWR)
    try:
        assert os.read(fd, 100) == b"v1\n"
        (a / "notes.md").write_text("alice on the branch\n")
        assert errno_of(os.pwrite, fd, b"bob's stale edit\n", 0) == errno.ESTALE
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    ok("echo 'new lesson' >> runbooks/db.md && mkdir -p new && echo n > new/n.md && mv notes.md renamed.md", a.path)
    # the refusal is kept on the branch, where bob can read why
    with Memfs(db) as m:
        assert [c.session for c in m.conflicts("team-sre@try-1")] and \
            {c.session for c in m.conflicts("team-sre@try-1")} == {"sb"}
    # the store: untouched by all of it
    assert revs(db, after=h) == []
    assert stored(db, "/notes.md") == b"v2\n" and stored(db, "/runbooks/db.md") == b"restart the primary\n"
    assert stored(db, "/renamed.md", store="team-sre@try-1") == b"alice on the branch\n"
    assert [r.agent for r in revs(db, "team-sre@try-1", after=h)] and \
        {r.agent for r in revs(db, "team-sre@try-1", after=h)} <= {"alice", "bob"}


def test_branch_edited_on_a_mount_merges_with_store_edits(sre, mounter, cli):
    db, _ = sre
    a = mounter("team-sre@try-1=rw", agent="alice", session="sa")
    ok("printf 'restart the primary\\ncheck replication lag first\\n' > runbooks/db.md && mv notes.md n.md", a.path)
    p = cli("branch", "merge", "team-sre@try-1")
    assert p.returncode == 0, p.stderr
    with Memfs(db) as m:
        assert m.read("team-sre", "/runbooks/db.md") == b"restart the primary\ncheck replication lag first\n"
        assert m.read("team-sre", "/n.md") == b"v2\n"  # renamed on the branch, edited in the store
        assert m.branch("team-sre@try-1").status == "merged"


def test_time_travel_mount_is_read_only_and_shows_the_old_tree(sre, mounter, cli, tmp_path):
    db, old = sre
    live = mounter("team-sre=rw", agent="alice", name="live")
    then = mounter("team-sre", agent="alice", name="then", extra=("--at", str(old)))
    assert (then / "notes.md").read_text() == "v1\n" and (live / "notes.md").read_text() == "v2\n"
    h = head(db)
    f = then / "notes.md"
    attempts = {
        "open O_WRONLY": lambda: os.close(os.open(f, os.O_WRONLY)),
        "append": lambda: os.close(os.open(f, os.O_WRONLY | os.O_APPEND)),
        "create": lambda: os.close(os.open(then / "new.md", os.O_WRONLY | os.O_CREAT, 0o644)),
        "mkdir": lambda: os.mkdir(then / "d"),
        "unlink": lambda: os.unlink(f),
        "rename": lambda: os.rename(f, then / "moved.md"),
        "truncate": lambda: os.truncate(f, 0),
        "chmod": lambda: os.chmod(f, 0o600),
        "setxattr": lambda: os.setxattr(f, "user.memfs.if-match", b"0" * 64),
        "symlink": lambda: os.symlink("notes.md", then / "link"),
    }
    assert {k: name(errno_of(fn)) for k, fn in attempts.items()} == {k: "EROFS" for k in attempts}
    assert revs(db, after=h) == []
    # the tools just work: grep -r, diff -r against the live mount, cp of an old file
    assert ok("grep -rn v1 .", then.path).stdout == "./notes.md:1:v1\n"
    d = bash(f"diff -r {then.path} {live.path}", tmp_path)
    assert d.returncode == 1 and "< v1" in d.stdout and "> v2" in d.stdout
    ok(f"cp {then / 'notes.md'} {live / 'restored.md'}", tmp_path)
    assert stored(db, "/restored.md") == b"v1\n"
    # the hidden copy goes with the mount
    with Memfs(db) as m:
        assert len(m.branches("team-sre", include_snapshots=True)) == 2
    assert cli("umount", str(then.path)).returncode == 0
    with Memfs(db) as m:
        assert [b.name for b in m.branches("team-sre", include_snapshots=True)] == ["try-1"]


def test_time_travel_before_the_store_existed_is_refused(sre, cli, tmp_path):
    db, _ = sre
    mp = tmp_path / "mp"
    mp.mkdir()
    p = cli("mount", str(mp), "--store", "team-sre", "--at", "0", check=False)
    assert p.returncode == 3 and p.stderr.startswith("Error: store 'team-sre' did not exist at revision 0")
    assert "Traceback" not in p.stderr and not os.path.ismount(mp)
    with Memfs(db) as m:
        assert len(m.branches("team-sre", include_snapshots=True)) == 1
    assert subprocess.run(["mountpoint", "-q", str(mp)]).returncode != 0


def test_a_killed_time_travel_mount_leaves_no_copy_behind(sre, mounter, cli):
    """A time-travel mount's hidden copy goes with its mount; when the daemon is killed with
    SIGKILL it cannot, and the next `memfs umount`, `memfs mount` or `memfs doctor --fix` does."""
    import signal

    from memfs.proc import pid_alive
    from mounting import wait_for

    db, old = sre

    def copies():
        with Memfs(db) as m:
            return [b.ref for b in m.branches("team-sre", include_snapshots=True) if b.status == "snapshot"]

    def killed(name):
        mnt = mounter("team-sre", agent="alice", name=name, extra=("--at", str(old)))
        (ref,) = copies()
        os.kill(mnt.pid, signal.SIGKILL)
        assert wait_for(lambda: not pid_alive(mnt.pid), 10)
        assert copies() == [ref]  # left behind
        return mnt, ref

    mnt, ref = killed("then1")
    d = cli("doctor", "--no-read-data", check=False)
    assert d.returncode == 1, d.stdout
    assert f"PROBLEM stale_snapshot: {ref} is the time-travel copy of a mount that is gone" in d.stdout
    u = cli("umount", str(mnt.path))
    assert u.stdout.splitlines() == [f"unmounted {mnt.path}",
                                     f"removed {ref}, the time-travel copy of a mount that is gone"]
    assert copies() == [] and cli("doctor", "--no-read-data").returncode == 0
    # the next mount of anything removes it
    _, ref = killed("then2")
    live = mounter("team-sre=rw", agent="bob", name="live")
    assert copies() == [] and (live / "notes.md").read_text() == "v2\n"
    # and so does doctor --fix, which then finds nothing wrong
    _, ref = killed("then3")
    d = cli("doctor", "--no-read-data", "--fix")
    assert d.stdout.splitlines()[0] == f"removed {ref}, the time-travel copy of a mount that is gone"
    assert d.stdout.splitlines()[-1] == "ok" and copies() == []
    with Memfs(db) as m:
        assert [b.name for b in m.branches("team-sre", include_snapshots=True)] == ["try-1"]
        assert not [s for s in m.sessions(active=True) if s.stores.get(ref)]
