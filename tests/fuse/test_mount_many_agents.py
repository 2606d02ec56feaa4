"""The mount under many agents (issue 12): nothing that waits stalls the mount, the six problems
found by the concurrency test stay fixed, and extended attributes don't cost listings.

Real mounts, real processes. "Waiting" is established, not slept for: a waiting write is a
process blocked in a FUSE request (its wchan), or a hook that has announced it started."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from memfs import Identity, Memfs

from fusehelpers import bash, errno_of, head, ok, revs, sha, stored
from mounting import wait_for

QUICK = 0.1  # an unrelated request answered while a write waits (issue 12: "under 100 ms")

# Holds the database's write lock, as another writer (`memfs import`, a big revert, the API
# server) does: SQLite's RESERVED lock by BEGIN IMMEDIATE, or on PostgreSQL the advisory lock
# every write transaction takes. Prints "held" once it has it, lets go after argv[2] seconds.
# With argv[3], another session first changes that file's mode (a revision that leaves its content
# as it was) and the lock is taken at once after that commit.
HOLDER = r"""
import sys, time
db, seconds = sys.argv[1], float(sys.argv[2])
if len(sys.argv) > 3:
    from memfs import Identity, Memfs
    with Memfs(db, identity=Identity(agent="alice", session="sa")) as m:
        m.chmod("team-sre", sys.argv[3], 0o600)
if "://" in db:
    import psycopg
    from memfs.backends.postgres import WRITE_LOCK
    conn = psycopg.connect(db)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
else:
    import sqlite3
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(seconds)
conn.rollback()
print("released", flush=True)
"""


class LockHolder:
    def __init__(self, db, seconds, chmod_first=None):
        self.p = subprocess.Popen([sys.executable, "-c", HOLDER, db, str(seconds), *([chmod_first] if chmod_first else [])],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        assert line == "held\n", f"the lock holder did not get the lock: {line!r} {self.p.stderr.read()}"

    def wait(self):
        out, err = self.p.communicate(timeout=30)
        assert self.p.returncode == 0 and out == "released\n", err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# Another process that keeps files open (an agent's editor). Commands on stdin, one a line:
# "open PATH FLAGS [DATA]" opens PATH with the os flags named (O_WRONLY|O_TRUNC), writes DATA and
# answers "ready"; "close" closes it and answers the errno its close() failed with ("0": it
# succeeded). A separate process: a descriptor of the test process would be duplicated into
# every child the test starts, and closed (so flushed: committed) at the child's exec.
EDITOR = r"""
import os, sys
fd = None
for line in sys.stdin:
    cmd, *args = line.rstrip("\n").split(" ", 3)
    if cmd == "open":
        flags = 0
        for name in args[1].split("|"):
            flags |= getattr(os, name)
        fd = os.open(args[0], flags)
        if len(args) > 2:
            os.write(fd, args[2].encode())
        print("ready", flush=True)
    elif cmd == "close":
        try:
            os.close(fd)
            print(0, flush=True)
        except OSError as e:
            print(e.errno, flush=True)
"""


class Editor:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", EDITOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def _ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline()
        assert answer, f"the editor failed: {self.p.stderr.read()}"
        return answer.strip()

    def open(self, path, flags="O_WRONLY", data=""):
        assert self._ask(f"open {path} {flags} {data}".rstrip()) == "ready"
        return self

    def close(self):
        """The errno its close() failed with, None if it succeeded."""
        return int(self._ask("close")) or None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def editor():
    e = Editor()
    yield e
    e.kill()


def in_fuse_request(pid) -> bool:
    """Whether process `pid` is blocked waiting for a FUSE daemon's answer."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("request_wait_answer", "fuse_simple_request")
    except OSError:
        return False


def settled_in_fuse_request(p, hold=0.05) -> bool:
    """`p` has been waiting in one FUSE request for `hold` seconds (not passing through a quick one)."""
    since = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and p.poll() is None:
        if in_fuse_request(p.pid):
            since = since or time.monotonic()
            if time.monotonic() - since >= hold:
                return True
        else:
            since = None
        time.sleep(0.005)
    return False


def start_waiting(script, cwd) -> subprocess.Popen:
    """Start a shell write on a mount; return once it waits in the daemon."""
    p = subprocess.Popen(["bash", "-c", script], cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    if not settled_in_fuse_request(p):
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"`{script}` never waited in the daemon: exit {p.returncode} {err}")
    return p


N_UNRELATED = 3


@pytest.fixture
def unrelated(seeded):
    """Files and folders that no mount has looked at yet, so that each stat, cat and ls of them
    is a request to the daemon (not answered from the kernel's caches); and w.md, for writes."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        for i in range(N_UNRELATED):
            m.write("team-sre", f"/u/s{i}.md", b"stat me\n")
            m.write("team-sre", f"/u/c{i}.md", f"cat me {i}\n".encode())
            m.write("team-sre", f"/u/d{i}/x.md", b"list me\n")
        m.write("team-sre", "/w.md", b"w\n")
    return seeded


def time_unrelated(mnt, i, writer) -> tuple[dict, bool]:
    """Seconds a stat, a cat (open+read) and an ls of never-seen files of `mnt` take, run side by
    side (so that each one shows a stall, not only the first); and whether `writer` was still
    waiting once they were all answered."""

    def timed(fn, *args):
        t = time.monotonic()
        fn(*args)
        return time.monotonic() - t

    def cat(p):
        assert p.read_bytes() == f"cat me {i}\n".encode()

    def ls(p):
        assert os.listdir(p) == ["x.md"]

    with ThreadPoolExecutor(3) as pool:
        futures = {"stat": pool.submit(timed, os.stat, mnt / "u" / f"s{i}.md"),
                   "cat": pool.submit(timed, cat, mnt / "u" / f"c{i}.md"),
                   "ls": pool.submit(timed, ls, mnt / "u" / f"d{i}")}
        took = {k: f.result(timeout=60) for k, f in futures.items()}
    return took, writer.poll() is None


def assert_answered_while_waiting(took, still_waiting):
    slow = {k: round(v, 3) for k, v in took.items() if v >= QUICK}
    assert not slow, f"unrelated requests stalled behind a waiting write (seconds): {slow}"
    assert still_waiting, "the write stopped waiting before the unrelated requests were answered"


def finish(p, timeout=30):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, err


# ---------------------------------------------------------------------------- no stalls


def test_unrelated_requests_answered_while_another_process_holds_the_write_lock(unrelated, mounter):
    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    os.stat(b / "u")  # the folder is known; its files are not
    holder = LockHolder(unrelated, 3)
    try:
        writer = start_waiting("echo 'by bob' >> w.md", b.path)
        assert_answered_while_waiting(*time_unrelated(b, 0, writer))
        holder.wait()
        # the waiting write lands once the lock is free (well within the busy timeout)
        assert finish(writer) == (0, "")
        assert stored(unrelated, "/w.md") == b"w\nby bob\n"
    finally:
        holder.kill()


def test_unrelated_requests_answered_while_another_agent_holds_the_lease(unrelated, mounter, editor):
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    os.stat(b / "u")
    editor.open(a / "w.md", "O_WRONLY", "W")  # alice: one byte written, the file kept open
    writer = start_waiting("echo 'by bob' >> w.md", b.path)  # bob's append waits for alice's lease
    took, still = time_unrelated(b, 0, writer)
    closed = editor.close()
    assert_answered_while_waiting(took, still)
    # alice's close commits and lets go; bob's append then lands on top of her edit
    assert closed is None, f"alice's close failed: {errno.errorcode.get(closed, closed)}"
    assert finish(writer) == (0, "")
    assert stored(unrelated, "/w.md") == b"W\nby bob\n"


def test_unrelated_requests_answered_while_a_write_hook_runs(unrelated, mounter, tmp_path):
    started = tmp_path / "hook-started"
    script = tmp_path / "slow_hook.py"
    script.write_text("import json, pathlib, sys, time\n"
                      "json.load(sys.stdin)\n"
                      f"pathlib.Path({str(started)!r}).touch()\n"
                      "time.sleep(2)\n"
                      "print(json.dumps({'decision': 'allow'}))\n")
    with Memfs(unrelated) as m:
        m.add_hook("team-sre", f"{sys.executable} {script}")
    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    os.stat(b / "u")
    writer = subprocess.Popen(["bash", "-c", "echo 'by bob' >> w.md"], cwd=b.path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(started.exists, timeout=10, interval=0.005), "the hook never ran"
        assert_answered_while_waiting(*time_unrelated(b, 0, writer))
        assert finish(writer) == (0, "")
        assert stored(unrelated, "/w.md") == b"w\nby bob\n"
    finally:
        if writer.poll() is None:
            writer.kill()


# ---------------------------------------------------------------------------- the six problems


def conflicts_of(db, path=None, store="team-sre"):
    with Memfs(db) as m:
        return [c for c in m.conflicts(store) if path is None or c.path == path]


def test_rewrite_of_identical_bytes_lets_go_of_the_file(two_agents, seeded):
    """(1) A rewrite that changes nothing commits nothing, and must not keep the write lease: the
    other mount's next `sed -i` or write goes through at once (it was refused for ~5 s)."""
    a, b = two_agents
    (a / "f.md").write_text("same\n")
    (a / "g.md").write_text("same\n")
    h = head(seeded)
    with open(b / "f.md", "r+b") as f:  # bob writes back the bytes he read
        data = f.read()
        f.seek(0)
        f.write(data)
    ok("printf 'same\\n' > g.md", b.path)
    assert revs(seeded, after=h) == []
    p = bash("sed -i s/same/changed/ f.md", a.path)
    assert p.returncode == 0, p.stderr
    assert errno_of(lambda: (a / "g.md").write_text("changed too\n")) is None
    assert stored(seeded, "/f.md") == b"changed\n" and stored(seeded, "/g.md") == b"changed too\n"
    assert conflicts_of(seeded) == []


@pytest.fixture
def alice_short_lease(seeded, mounter, monkeypatch):
    """alice's mount holds write leases for 0.2 s; bob's, the default."""
    monkeypatch.setenv("MEMFS_LEASE_SECONDS", "0.2")
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    monkeypatch.delenv("MEMFS_LEASE_SECONDS")
    return a, mounter("team-sre=rw", agent="bob", session="sb", name="bob")


def busy_until(clock, t):
    while clock() < t:  # to the millisecond: a sleep overshoots
        pass


def test_a_rename_that_lands_on_the_kernels_retry_leaves_no_conflict_record(alice_short_lease, seeded, editor):
    """(2) The kernel retries a rename refused with ESTALE once (LOOKUP_REVAL). If the retry
    lands, the save succeeded: no conflict record may say it was refused. To make the retry land,
    bob's save is timed around the end of alice's lease (0.2 s): refused while it holds, landed a
    few ms later; the offsets sweep across the kernel's round trip. Then the invariant over all
    of it: no conflict record holds content its session stored afterwards at that path."""
    a, b = alice_short_lease
    landed_but_recorded = []
    for k, ms in enumerate(range(0, 24)):
        name = f"f{k}.md"
        (a / name).write_text("v1\n")
        (b / f"{name}.tmp").write_text(f"bob {k}\n")  # bob's save, written before the timing
        editor.open(a / name, "O_WRONLY", "A")  # alice's lease runs from now for 0.2 s
        busy_until(time.time, time.time() + 0.2 - ms / 1000)
        landed = errno_of(os.rename, b / f"{name}.tmp", b / name) is None
        editor.close()  # alice's edit: refused if bob's save landed
        recorded = conflicts_of(seeded, "/" + name)
        if landed and [c for c in recorded if c.agent == "bob"]:
            landed_but_recorded.append((ms, stored(seeded, "/" + name)))
            break
    assert landed_but_recorded == [], "a save that landed is recorded as refused (offset ms, content)"
    with Memfs(seeded) as m:
        for c in m.conflicts("team-sre"):
            later = [r for r in m.log("team-sre", c.path, newest_first=False)
                     if r.session == c.session and r.created_at >= c.created_at and r.sha256 == c.sha256]
            assert later == [], f"conflict {c.id} on {c.path}: its content was stored by its session after all"


@pytest.fixture
def alice_long_lease(seeded, mounter, monkeypatch):
    """alice's mount holds write leases for 60 s; bob's, the default."""
    monkeypatch.setenv("MEMFS_LEASE_SECONDS", "60")
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    monkeypatch.delenv("MEMFS_LEASE_SECONDS")
    return a, mounter("team-sre=rw", agent="bob", session="sb", name="bob")


def test_one_refused_rename_gives_one_conflict_record(alice_long_lease, seeded, editor):
    """(3) A save by rename refused (alice holds the file) is refused twice, the kernel retrying
    it once a few ms later: one refusal, one record. Each save starts a few ms before a second
    of the monotonic clock turns (the offsets sweep across the kernel's round trip), where the
    two attempts of a refusal fall in different seconds: a duplicate filter keyed on the second
    let both through."""
    a, b = alice_long_lease
    (a / "f.md").write_text("v1\n")
    editor.open(a / "f.md", "O_WRONLY", "A")
    per_refusal = []
    for k, ms in enumerate(range(1, 13)):
        (b / "f.md.tmp").write_text(f"bob {k}\n")
        before = len(conflicts_of(seeded))
        busy_until(time.monotonic, int(time.monotonic()) + 1 - ms / 1000)
        assert errno_of(os.rename, b / "f.md.tmp", b / "f.md") == errno.ESTALE
        per_refusal.append(len(conflicts_of(seeded)) - before)
        os.unlink(b / "f.md.tmp")
        if per_refusal[-1] != 1:
            break
    assert editor.close() is None
    assert per_refusal == [1] * len(per_refusal) and len(per_refusal) == 12, per_refusal
    assert stored(seeded, "/f.md") == b"A1\n"
    assert {c.agent for c in conflicts_of(seeded)} == {"bob"}


def test_a_refusal_the_tool_saw_stays_recorded_when_it_retries_the_same_bytes(alice_long_lease, seeded, editor):
    """A write() refused with ESTALE reached the tool (the kernel never retries a write): when the
    agent then writes the very same bytes and they land, its refusal stays in the conflicts
    record. (Found by the convergence torture: the kernel-retry filter for renames also withdrew
    these, so a refusal an agent reported was missing from .memfs/conflicts/.)"""
    a, b = alice_long_lease
    (a / "f.md").write_text("v1\n")
    editor.open(a / "f.md", "O_WRONLY", "A")  # alice holds the file until she closes it
    assert errno_of(lambda: (b / "f.md").write_bytes(b"bob's notes\n")) == errno.ESTALE
    assert editor.close() is None
    assert stored(seeded, "/f.md") == b"A1\n"
    # bob never read the file: his blind rewrite of the same bytes is not stale, and lands
    assert errno_of(lambda: (b / "f.md").write_bytes(b"bob's notes\n")) is None
    assert stored(seeded, "/f.md") == b"bob's notes\n"
    recorded = [c for c in conflicts_of(seeded, "/f.md") if c.agent == "bob"]
    assert len(recorded) == 1 and recorded[0].sha256 == sha(b"bob's notes\n"), recorded


def test_listing_5000_conflicts_takes_under_a_second(seeded, mounter):
    """(4) Listing .memfs/conflicts/ looked every entry up in the whole list (quadratic: minutes
    for a few thousand). The listing runs in a child process, so that a hang fails the test."""
    with Memfs(seeded, identity=Identity(agent="bob", session="sb", actor="agent")) as m:
        with m.db.write():  # one transaction for the setup, not 5,000 fsyncs
            for i in range(5000):
                m.record_conflict("team-sre", f"/notes/n{i % 50}.md", f"refused {i}\n".encode(), base_sha256=None,
                                  reason="stale: test")
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    lister = subprocess.Popen([sys.executable, "-c", "import os, sys, time\n"
                               "t = time.monotonic(); n = len(os.listdir(sys.argv[1]))\n"
                               "print(n, time.monotonic() - t)", str(mnt / ".memfs" / "conflicts")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = lister.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        # the daemon would be busy for minutes more, and the lister cannot die while it waits for
        # the daemon's answer: stop the daemon first (its requests then fail), then the lister
        os.kill(mnt.pid, signal.SIGKILL)
        lister.kill()
        lister.communicate(timeout=30)
        pytest.fail("listing .memfs/conflicts/ with 5,000 records took over 10 s")
    n, took = out.split()
    assert int(n) == 5001  # the records and the log
    assert float(took) < 1.0, f"listing 5,000 conflicts took {float(took):.2f} s"
    first = min(c.id for c in conflicts_of(seeded))
    assert (mnt / ".memfs" / "conflicts" / f"{first}-notes%2Fn0.md").read_bytes() == b"refused 0\n"


def test_a_readers_close_does_not_commit_another_handles_pending_truncation(two_agents, seeded):
    """(5) P1 opened f with O_TRUNC and has not written yet; P2, on the same mount, reads f and
    closes (`cat f`). The truncation is committed only at P1's last release: other mounts keep
    reading the old content, and the history has no empty revision. (P2 is the test process
    reading through its own descriptor: what matters to the mount is a second open file.)"""
    a, b = two_agents
    (b / "f.md").write_text("old\n")
    h = head(seeded)
    fd = os.open(b / "f.md", os.O_WRONLY | os.O_TRUNC)  # P1
    try:
        with open(b / "f.md", "rb") as f:  # P2: cat f
            f.read()
        assert stored(seeded, "/f.md") == b"old\n"
        assert revs(seeded, after=h) == []
        assert (a / "f.md").read_bytes() == b"old\n"
        os.write(fd, b"new\n")
    finally:
        os.close(fd)
    assert stored(seeded, "/f.md") == b"new\n"
    assert [(r.op, r.sha256) for r in revs(seeded, after=h)] == [("write", sha("new\n"))]


def test_a_descriptor_opened_before_a_save_by_rename_never_writes_into_the_new_file(two_agents, seeded):
    """(6) A process keeps f open at its end; another process of the same mount saves f by
    rename. As on a local filesystem, the old descriptor then writes into the replaced file: its
    writes succeed, and never reach the new f (they tore its lines and padded it with NULs)."""
    a, b = two_agents
    (b / "f.md").write_text("line 1\nline 2\n")
    h = head(seeded)
    fd = os.open(b / "f.md", os.O_WRONLY)
    try:
        os.lseek(fd, 0, os.SEEK_END)
        (b / "f.md.tmp").write_text("new\n")
        os.rename(b / "f.md.tmp", b / "f.md")
        assert os.write(fd, b"line 3\n") == 7
    finally:
        closed = errno_of(os.close, fd)
    assert closed is None, errno.errorcode.get(closed, closed)
    assert stored(seeded, "/f.md") == b"new\n"
    assert (b / "f.md").read_bytes() == b"new\n"
    assert (a / "f.md").read_bytes() == b"new\n"
    with Memfs(seeded) as m:
        contents = [m.blob(r.sha256) for r in revs(seeded, after=h) if r.sha256]
    assert not [c for c in contents if b"\0" in c or b"line 3" in c], contents


# ---------------------------------------------------------------------------- extended attributes

XATTR_NAMES = ("user.memfs.sha256", "user.memfs.version", "user.memfs.author", "user.memfs.session",
               "user.memfs.mtime")


@pytest.fixture
def tree(seeded):
    """200 files in 10 folders, written through the store."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        for i in range(200):
            m.write("team-sre", f"/d{i % 10}/f{i}.md", f"file {i}\n".encode())
    return seeded


def test_names_outside_user_are_not_supported(tree, mounter):
    """A namespace memfs does not serve is EOPNOTSUPP (which `ls` remembers per device), not
    ENODATA (which it asks again for every entry); user.* names memfs has not are ENODATA."""
    mnt = mounter("team-sre=rw")
    (mnt / "new.md").write_text("new\n")
    for p in (mnt / "d0" / "f0.md", mnt / "d0", mnt.path, mnt / "new.md", mnt / ".memfs", mnt / ".memfs" / "log"):
        for name in ("security.selinux", "system.posix_acl_access", "system.posix_acl_default", "trusted.x"):
            assert errno_of(os.getxattr, p, name) == errno.EOPNOTSUPP, (p, name)
    assert errno_of(os.getxattr, mnt / "d0" / "f0.md", "user.other") == errno.ENODATA
    assert os.getxattr(mnt / "d0" / "f0.md", "user.memfs.sha256").decode() == sha("file 0\n")
    assert os.getxattr(mnt / "d0" / "f0.md", "user.memfs.author") == b"seed"
    assert int(os.getxattr(mnt / "new.md", "user.memfs.version")) > 0


def test_listxattr_lists_only_what_getxattr_serves(tree, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    (mnt / "new.md").write_text("new\n")
    f = mnt / "d0" / "f0.md"
    assert sorted(os.listxattr(f)) == sorted(XATTR_NAMES)
    for p in (f, mnt / "d0", mnt.path, mnt / "new.md", mnt / ".memfs", mnt / ".memfs" / "log"):
        for name in os.listxattr(p):
            assert name.startswith("user.memfs."), (p, name)
            assert errno_of(os.getxattr, p, name) is None, f"{p} lists {name} but has no such attribute"


def getxattr_requests(mnt, cli) -> int:
    """Unmount, and read how many getxattr requests reached the daemon (its log at unmount)."""
    cli("umount", str(mnt.path))
    [line] = [ln for ln in mnt.log_text().splitlines() if "unmounted" in ln and "requests: " in ln]
    return json.loads(line.split("requests: ", 1)[1].rstrip(")")).get("getxattr", 0)


def test_ls_lR_does_not_ask_unsupported_attributes_for_every_entry(tree, mounter, cli):
    """`ls -l` asks security.selinux and the POSIX ACLs of each entry until it is told the
    namespace is unsupported: over 200 files, a handful of requests, not two per entry."""
    mnt = mounter("team-sre=rw")
    if shutil.which("strace"):
        p = subprocess.run(["strace", "-f", "-e", "trace=getxattr,lgetxattr", "ls", "-lR", str(mnt.path)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr[-2000:]
        asked = [ln for ln in p.stderr.splitlines() if '"security.' in ln or '"system.' in ln]
        assert len(asked) <= 10, f"ls -lR asked {len(asked)} security./system. attributes over 200 files"
    else:
        ok(f"ls -lR {mnt.path} > /dev/null", mnt.path)
    ok(f"ls -lR {mnt.path} > /dev/null", "/")
    n = getxattr_requests(mnt, cli)
    assert n <= 10, f"two ls -lR over 200 files sent the daemon {n} getxattr requests"


def test_a_write_waiting_for_its_lease_keeps_its_buffer_when_the_file_changes_meanwhile(seeded, mounter):
    """bob's first write() of a file he read waits for its lease (the write lock is held); his
    mount meanwhile follows alice's chmod of the file and drops its clean buffer. The write must
    build on the version leased (the content is unchanged), not fail: it was EIO, a TypeError in
    the daemon (CI, on PostgreSQL, where the notification comes while the lease is taken)."""
    if "://" in seeded:
        pytest.skip("the lock holder takes SQLite's lock right after its commit; PostgreSQL's "
                    "notification reaches the follower at once")
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        m.write("team-sre", "/f.md", b"v1\n")
    mnt = mounter("team-sre=rw", agent="bob", session="sb")
    fd = os.open(mnt / "f.md", os.O_RDWR)
    try:
        assert os.read(fd, 100) == b"v1\n"
        # alice's chmod, then the write lock at once, before the follower (polling every 0.2 s
        # on SQLite) can have seen that revision
        holder = LockHolder(seeded, 0.8, chmod_first="/f.md")
        try:
            assert os.pwrite(fd, b"V1 edited by bob\n", 0) == 17
            holder.wait()
        finally:
            holder.kill()
    finally:
        os.close(fd)
    assert stored(seeded, "/f.md") == b"V1 edited by bob\n"
