"""A mount on PostgreSQL while the database server goes away and comes back: writes fail with
EIO and one clear log line, what the mount has read stays readable, nothing half-written lands,
and the mount recovers by itself."""

import os
import subprocess
import time

import pytest

from memfs import Memfs
from mounting import memfs, mounted, wait_for

pytestmark = pytest.mark.postgresql_only


def _try(cmd):
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)


def test_database_outage_fails_writes_serves_reads_and_recovers(seeded, mounter, pg_server):
    mounter.allow_errors = True  # the outage is logged as an error, once
    mount = mounter("team-sre=rw", agent="a1")
    mt = mount.path
    other = mounter("team-sre=ro", agent="a2")
    (mt / "notes").mkdir()
    (mt / "notes" / "a.md").write_text("before\n")
    assert (mt / "notes" / "a.md").read_text() == "before\n"
    assert sorted(p.name for p in (mt / "notes").iterdir()) == ["a.md"]
    with Memfs(seeded) as m:
        head = m.head()

    pg_server.stop("fast")
    try:
        t0 = time.monotonic()
        w = _try(f"echo more >> {mt}/notes/a.md")
        assert w.returncode == 1 and "Input/output error" in w.stderr, w
        c = _try(f"echo new > {mt}/notes/b.md")
        assert c.returncode == 1 and "Input/output error" in c.stderr, c
        assert time.monotonic() - t0 < 15  # the first failure waits for the connect timeout, no more
        # what this mount read before is still served (from the kernel's cache or its own)
        r = _try(f"cat {mt}/notes/a.md && ls {mt}/notes")
        assert r.returncode == 0 and r.stdout == "before\na.md\n", r
        t1 = time.monotonic()
        assert _try(f"echo again >> {mt}/notes/a.md").returncode == 1
        assert time.monotonic() - t1 < 2  # known to be down: fails fast
        # and a mount can still be taken down (its daemon is found without the database)
        u = memfs(seeded, "umount", str(other.path), check=False)
        assert u.returncode == 0 and "unmounted" in u.stdout, u.stderr
        assert os.path.realpath(other.path) not in mounted()
    finally:
        pg_server.restart()

    # back by itself: the next write lands, and nothing of the failed ones did
    assert wait_for(lambda: _try(f"echo after >> {mt}/notes/a.md").returncode == 0, timeout=20)
    assert (mt / "notes" / "a.md").read_text() == "before\nafter\n"
    assert not (mt / "notes" / "b.md").exists()
    with Memfs(seeded) as m:
        assert [(r.op, r.path) for r in m.log("team-sre") if r.id > head] == [("write", "/notes/a.md")]
        assert m.read("team-sre", "/notes/a.md") == b"before\nafter\n"
    log = mount.log_text()
    assert log.count("ERROR memfs.db: the PostgreSQL database is unreachable") == 1, log
    assert "reachable again" in log and "Traceback" not in log
