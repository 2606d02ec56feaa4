"""Two agents, two mounts of one store: no one silently overwrites the other.

Implicit: a mount remembers the version of each path its session last read (or wrote), and a
commit based on a version another session has since replaced fails with ESTALE. Explicit:
`user.memfs.if-match` arms a precondition for the next commit of a path. Refused content is kept
in `.memfs/conflicts/`, with who changed the file meanwhile."""

import errno
import os
import subprocess
import time

import pytest

from memfs import Memfs

from fusehelpers import bash, elapsed_until, errno_of, head, ok, ops, revs, sha, stored, temp_names


def conflicts(db, store="team-sre"):
    with Memfs(db) as m:
        return m.conflicts(store)


def conflict_content(db, c):
    with Memfs(db) as m:
        return m.blob(c.sha256) if c.sha256 else None


# ---------------------------------------------------------------------------- implicit


def test_handle_opened_before_another_sessions_write_is_refused(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    fd = os.open(b / "f.md", os.O_RDWR)
    try:
        assert os.read(fd, 100) == b"v1\n"
        (a / "f.md").write_text("v2 by alice\n")
        assert errno_of(os.pwrite, fd, b"bob's edit\n", 0) == errno.ESTALE  # at write(), the earliest call
    finally:
        os.close(fd)
    assert stored(seeded, "/f.md") == b"v2 by alice\n"
    assert [r.agent for r in revs(seeded, path="/f.md")] == ["alice", "alice"]
    [c] = conflicts(seeded)
    assert (c.path, c.agent, c.session) == ("/f.md", "bob", "sb")
    assert c.base_sha256 == sha("v1\n") and c.current_sha256 == sha("v2 by alice\n")


def test_a_dirty_handle_holds_the_file_until_it_closes(two_agents, seeded):
    """The first session to write keeps the file until its close (a write lease): the other
    session's rewrite is refused at its write(), where a shell sees it, not at close()."""
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    fd = os.open(b / "f.md", os.O_RDWR)
    assert os.read(fd, 100) == b"v1\n"
    os.pwrite(fd, b"V1 edited by bob\n", 0)
    p = bash("echo 'v2 by alice' > f.md", a.path)
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    os.close(fd)  # bob's commit goes through
    assert stored(seeded, "/f.md") == b"V1 edited by bob\n"
    [c] = conflicts(seeded)
    assert c.agent == "alice" and conflict_content(seeded, c) == b"v2 by alice\n"


@pytest.fixture
def short_leases(seeded, mounter, monkeypatch):
    """Two agents whose mounts hold write leases for 0.3 s only."""
    monkeypatch.setenv("MEMFS_LEASE_SECONDS", "0.3")
    return (mounter("team-sre=rw", agent="alice", session="sa", name="alice"),
            mounter("team-sre=rw", agent="bob", session="sb", name="bob"))


@pytest.mark.parametrize("where", ["close", "fsync"])
def test_dirty_handle_refused_at_close_or_fsync_once_its_lease_expired(short_leases, seeded, where):
    """A handle left dirty longer than the lease: another session may commit meanwhile; the stale
    handle is then refused at fsync or close, and its content kept."""
    a, b = short_leases
    (a / "f.md").write_text("v1\n")
    fd = os.open(b / "f.md", os.O_RDWR)
    assert os.read(fd, 100) == b"v1\n"
    os.pwrite(fd, b"V1 edited by bob\n", 0)  # accepted: nothing changed yet
    time.sleep(0.6)  # bob's lease runs out
    (a / "f.md").write_text("v2 by alice\n")
    if where == "fsync":
        assert errno_of(os.fsync, fd) == errno.ESTALE
        os.close(fd)
    else:
        assert errno_of(os.close, fd) == errno.ESTALE
    assert stored(seeded, "/f.md") == b"v2 by alice\n"
    [c] = conflicts(seeded)
    assert c.agent == "bob" and conflict_content(seeded, c) == b"V1 edited by bob\n"


def test_bash_redirect_after_another_agent_wrote(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    assert ok("cat f.md", b.path).stdout == "v1\n"
    (a / "f.md").write_text("v2 by alice\n")
    p = bash("echo 'bob, stale' > f.md", b.path)
    # refused at the first write that differs from what is stored (not at open, so that writing
    # identical content can succeed): bash reports "echo: write error: Stale file handle"
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    assert stored(seeded, "/f.md") == b"v2 by alice\n"
    # the recovery the prompt describes: read again, write again
    assert elapsed_until(lambda: (b / "f.md").read_text() == "v2 by alice\n", 1.0) is not None
    ok("echo 'v3, merged by bob' > f.md", b.path)
    assert stored(seeded, "/f.md") == b"v3, merged by bob\n"


def test_own_commit_counts_as_the_version_seen(two_agents, seeded):
    a, b = two_agents
    (b / "f.md").write_text("bob wrote this\n")  # never read by bob, but his own commit
    (a / "f.md").write_text("alice replaced it\n")
    p = bash("echo bob again > f.md", b.path)
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    assert stored(seeded, "/f.md") == b"alice replaced it\n"


def test_sed_i_over_content_changed_since_it_was_read(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("x one\n")
    assert (b / "f.md").read_text() == "x one\n"
    h = head(seeded)
    # sed reads line 1, then (its `e` command) alice rewrites the file, then sed renames its temp over it
    p = bash(f"sed -i -e '1e echo \"x by alice\" > {a / 'f.md'}' -e 's/x/z/' f.md", b.path)
    assert p.returncode != 0 and "Stale file handle" in p.stderr
    assert stored(seeded, "/f.md") == b"x by alice\n"
    assert ops(revs(seeded, after=h)) == [("write", "/f.md")]  # alice's, and nothing of sed's
    assert revs(seeded, after=h)[0].agent == "alice"
    assert not [n for n in os.listdir(b.path) if n.startswith("sed")]
    # (the kernel retries a rename refused with ESTALE once: the same refusal may be recorded twice;
    # sed may have read a blend of the two versions, where the kernel refilled its cache mid-read)
    kept = {(c.path, c.agent, conflict_content(seeded, c)[:6]) for c in conflicts(seeded)}
    assert kept == {("/f.md", "bob", b"z one\n")}


def test_sed_i_refused_when_the_kernel_refills_its_cache_mid_read(two_agents, seeded):
    # bob's sed reads line 1 from pages the kernel cached (bob's cat read them), alice rewrites the
    # file, bob's daemon invalidates the cache at once (NOTIFY on PostgreSQL) and the kernel
    # refills it from offset 0 for sed's next read: that refill must not count as a clean read of
    # alice's version (it once did, and sed's rename landed over alice's write)
    a, b = two_agents
    lost = []
    for i in range(8):
        (a / f"r{i}.md").write_text("x one\n")
        assert (b / f"r{i}.md").read_text() == "x one\n"
        p = bash(f"sed -i -e '1e echo \"x by alice\" > {a / f'r{i}.md'}' -e 's/x/z/' r{i}.md", b.path)
        if p.returncode == 0 or stored(seeded, f"/r{i}.md") != b"x by alice\n":
            lost.append((i, p.returncode, stored(seeded, f"/r{i}.md")))
        else:
            assert "Stale file handle" in p.stderr
    assert lost == []


def test_editor_save_by_rename_over_changed_content(two_agents, seeded):
    a, b = two_agents
    (a / "notes.md").write_text("v1\n")
    assert (b / "notes.md").read_text() == "v1\n"
    (a / "notes.md").write_text("v2 by alice\n")
    with open(b / "notes.md.tmp", "w") as f:
        f.write("v1 + bob's line\n")
    assert errno_of(os.rename, b / "notes.md.tmp", b / "notes.md") == errno.ESTALE
    assert stored(seeded, "/notes.md") == b"v2 by alice\n"
    assert temp_names(revs(seeded)) == []
    assert any(conflict_content(seeded, c) == b"v1 + bob's line\n" for c in conflicts(seeded))


def test_appends_never_conflict(two_agents, seeded):
    a, b = two_agents
    (a / "log.md").write_text("one\n")
    assert (b / "log.md").read_text() == "one\n"
    ok("echo 'two (alice)' >> log.md", a.path)
    ok("echo 'three (bob)' >> log.md", b.path)  # bob's view is stale, but an append builds on nothing
    assert stored(seeded, "/log.md") == b"one\ntwo (alice)\nthree (bob)\n"
    assert conflicts(seeded) == []


def test_concurrent_appends_from_two_mounts_all_land(two_agents, seeded):
    a, b = two_agents
    (a / "log.md").write_text("")
    n = 40
    loops = [subprocess.Popen(["bash", "-c", f"for i in $(seq 1 {n}); do echo {who}$i >> log.md || echo FAIL $i; done"],
                              cwd=m.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who, m in (("a", a), ("b", b))]
    outs = [p.communicate(timeout=60) for p in loops]
    assert all(p.returncode == 0 for p in loops)
    assert [o for o, _ in outs] == ["", ""], "an append was refused"
    lines = stored(seeded, "/log.md").decode().split()
    assert sorted(lines) == sorted([f"a{i}" for i in range(1, n + 1)] + [f"b{i}" for i in range(1, n + 1)])
    assert conflicts(seeded) == []


def test_writing_identical_content_always_succeeds(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    assert (b / "f.md").read_text() == "v1\n"
    (a / "f.md").write_text("same\n")
    h = head(seeded)
    # by rename over the target
    with open(b / "f.md.tmp", "w") as f:
        f.write("same\n")
    os.rename(b / "f.md.tmp", b / "f.md")
    assert revs(seeded, after=h) == [] and stored(seeded, "/f.md") == b"same\n"
    # and by truncate and write, from a stale view, in bash and in Python
    (a / "g.md").write_text("v1\n")
    assert (b / "g.md").read_text() == "v1\n"
    (a / "g.md").write_text("same\n")
    h = head(seeded)
    p = bash("echo same > g.md", b.path)
    assert p.returncode == 0, p.stderr
    assert errno_of(lambda: (b / "g.md").write_text("same\n")) is None
    assert revs(seeded, after=h) == [] and stored(seeded, "/g.md") == b"same\n"


def test_blind_write_of_a_path_never_read_is_allowed_and_recorded(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("alice's\n")
    # stat-ing and opening do not count as reading
    assert (b / "f.md").stat().st_size == 8
    os.close(os.open(b / "f.md", os.O_RDONLY))
    (a / "f.md").write_text("alice's second\n")
    ok("echo bob blind > f.md", b.path)
    assert stored(seeded, "/f.md") == b"bob blind\n"
    last = revs(seeded, path="/f.md")[-1]
    assert (last.op, last.agent, last.session) == ("write", "bob", "sb")
    assert last.prev_sha256 == sha("alice's second\n")  # what it replaced is on record
    assert conflicts(seeded) == []


# ---------------------------------------------------------------------------- explicit


def test_if_match_stale_hash_refuses(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    (a / "f.md").write_text("v2\n")
    os.setxattr(b / "f.md", "user.memfs.if-match", sha("v1\n").encode())  # bob never read the file
    assert errno_of(lambda: (b / "f.md").write_text("bob\n")) == errno.ESTALE
    p = bash("echo bob > f.md", b.path)
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    assert stored(seeded, "/f.md") == b"v2\n"
    assert conflicts(seeded) and conflicts(seeded)[0].agent == "bob"


def test_if_match_current_hash_succeeds_once(two_agents, seeded):
    a, b = two_agents
    (a / "f.md").write_text("v1\n")
    os.setxattr(b / "f.md", "user.memfs.if-match", sha("v1\n").upper().encode())
    assert os.getxattr(b / "f.md", "user.memfs.if-match").decode() == sha("v1\n")
    (b / "f.md").write_text("v2 by bob\n")
    assert stored(seeded, "/f.md") == b"v2 by bob\n"
    assert errno_of(os.getxattr, b / "f.md", "user.memfs.if-match") == errno.ENODATA  # consumed
    # armed with the current hash, then another agent writes: refused
    os.setxattr(b / "f.md", "user.memfs.if-match", sha("v2 by bob\n").encode())
    assert elapsed_until(lambda: (a / "f.md").read_text() == "v2 by bob\n", 1.0) is not None
    (a / "f.md").write_text("v3 by alice\n")
    assert errno_of(lambda: (b / "f.md").write_text("v4 by bob\n")) == errno.ESTALE
    assert stored(seeded, "/f.md") == b"v3 by alice\n"


@pytest.mark.parametrize("value", [b"xyz", b"0" * 63, b"0" * 65, b"g" * 64, b"\xff" * 64, b"sha256:" + b"0" * 64])
def test_if_match_bogus_value_is_einval(seeded, mounter, value):
    mnt = mounter("team-sre=rw")
    (mnt / "f.md").write_text("v1\n")
    assert errno_of(os.setxattr, mnt / "f.md", "user.memfs.if-match", value) == errno.EINVAL
    assert errno_of(os.getxattr, mnt / "f.md", "user.memfs.if-match") == errno.ENODATA  # nothing armed
    (mnt / "f.md").write_text("v2\n")
    assert stored(seeded, "/f.md") == b"v2\n"


def test_if_match_can_be_disarmed(seeded, mounter):
    mnt = mounter("team-sre=rw")
    (mnt / "f.md").write_text("v1\n")
    os.setxattr(mnt / "f.md", "user.memfs.if-match", sha("something else").encode())
    os.removexattr(mnt / "f.md", "user.memfs.if-match")
    (mnt / "f.md").write_text("v2\n")
    os.setxattr(mnt / "f.md", "user.memfs.if-match", sha("something else").encode())
    os.setxattr(mnt / "f.md", "user.memfs.if-match", b"")
    (mnt / "f.md").write_text("v3\n")
    assert stored(seeded, "/f.md") == b"v3\n"


def test_if_match_guards_a_save_by_rename(two_agents, seeded):
    """sed -i and editors save by renaming a temp file over the target: an armed stale
    precondition must refuse that too (the kernel retries a rename that failed with ESTALE once)."""
    a, b = two_agents
    (a / "f.md").write_text("a\n")
    (a / "f.md").write_text("a, v2\n")
    os.setxattr(b / "f.md", "user.memfs.if-match", sha("a\n").encode())
    p = bash("sed -i s/a/b/ f.md", b.path)
    assert p.returncode != 0 and "Stale file handle" in p.stderr
    assert stored(seeded, "/f.md") == b"a, v2\n"


# ---------------------------------------------------------------------------- the conflict record


def test_refused_content_is_readable_in_conflicts(two_agents, seeded):
    a, b = two_agents
    (a / "plan.md").write_text("step 1\n")
    assert (b / "plan.md").read_bytes() == b"step 1\n"
    (a / "plan.md").write_text("step 1\nstep 2 (alice)\n")
    p = bash("printf 'step 1\\nstep 2 (bob)\\n' > plan.md", b.path)
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    [c] = conflicts(seeded)
    for mnt in (a, b):
        listing = os.listdir(mnt / ".memfs" / "conflicts")
        assert "log" in listing and f"{c.id}-plan.md" in listing
        assert (mnt / ".memfs" / "conflicts" / f"{c.id}-plan.md").read_bytes() == b"step 1\nstep 2 (bob)\n"
        log = (mnt / ".memfs" / "conflicts" / "log").read_text()
        [line] = [ln for ln in log.splitlines() if "/plan.md" in ln]
        assert "agent=bob" in line and "session=sb" in line  # who was refused
        assert "by agent=alice session=sa" in line  # who changed the file meanwhile
        assert f"conflicts/{c.id}-plan.md" in line
    assert "step 2 (bob)" in ok("grep -rn bob .memfs/conflicts/", a.path).stdout
