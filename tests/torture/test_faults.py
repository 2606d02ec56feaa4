"""Fault injection: a full disk under the database, a database locked by another process for a
long time, a corrupted blob. Each must give a clear error, leave nothing half-written, and heal."""

import errno
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from memfs import Identity, Memfs, errors
from memfs.store import sha256
from mounting import MEMFS, memfs


@pytest.fixture
def small_disk(tmpfs_dir):
    """A 4 MiB tmpfs: the database's file system, to fill up."""
    return tmpfs_dir("4m", mode="0700", name="small")


def fill(disk, leave: int):
    """Fill the file system with a filler file until about `leave` bytes are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_full_disk_through_the_api(small_disk, record):
    db = str(small_disk / "m.db")
    m = Memfs(db, identity=Identity(agent="filler", actor="agent"))
    store = m.create_store("s", max_content_bytes=64 * 1024)
    filler = fill(small_disk, leave=256 * 1024)
    acked, failures = {}, 0
    for i in range(200):
        content = os.urandom(32 * 1024)  # incompressible, distinct: each needs new space
        head = m.head()
        try:
            m.write(store, f"/f{i}", content)
            acked[f"/f{i}"] = sha256(content)
        except errors.StorageFull as e:
            failures += 1
            assert e.errno == errno.ENOSPC and "space" in str(e)
            assert m.head() == head, "a failed write left a revision behind"
            if failures >= 3:
                break
    assert failures >= 3, "the disk never filled up"
    # nothing half-written: every acknowledged file is whole, the database is sound
    found = sum(1 for p, h in acked.items() if sha256(m.read(store, p)) == h)
    assert m.doctor().ok
    # once space is freed, writes succeed again (same connection, no restart)
    filler.unlink()
    r = m.write(store, "/after", b"space again\n")
    assert r.revision is not None and m.read(store, "/after") == b"space again\n"
    record(ops=len(acked) + failures + 1, faults=failures, acked=len(acked) + 1, found=found + 1,
           lost=len(acked) - found)
    assert found == len(acked)
    m.close()


def test_full_disk_through_the_mount(small_disk, tmp_path, mounter, record):
    db = str(small_disk / "m.db")
    with Memfs(db) as m:
        m.create_store("s", max_content_bytes=64 * 1024)
    mounter.allow_errors = True  # the daemon may log the failed commits
    mp = tmp_path / "mnt"
    mp.mkdir()
    out = memfs(db, "mount", str(mp), "--store", "s", "--agent", "filler", "--log", str(tmp_path / "full.log")).stdout
    pid = int(out.split("pid ")[1].split(",")[0])
    try:
        filler = fill(small_disk, leave=256 * 1024)
        acked, failures = {}, 0
        for i in range(200):
            content = os.urandom(32 * 1024)
            try:
                with open(mp / f"f{i}", "wb") as f:
                    f.write(content)
                acked[f"/f{i}"] = sha256(content)
            except OSError as e:
                assert e.errno == errno.ENOSPC, f"expected ENOSPC, got {e}"
                failures += 1
                if failures >= 3:
                    break
        assert failures >= 3
        with Memfs(db) as m:
            found = sum(1 for p, h in acked.items() if sha256(m.read("s", p)) == h)
            assert m.doctor().ok
        filler.unlink()
        (mp / "after").write_bytes(b"space again\n")  # the mount recovers on its own
        assert (mp / "after").read_bytes() == b"space again\n"
        record(ops=len(acked) + failures + 1, faults=failures, acked=len(acked) + 1, found=found + 1,
               lost=len(acked) - found)
        assert found == len(acked)
    finally:
        memfs(db, "umount", str(mp), check=False)
        subprocess.run(["fusermount3", "-u", "-z", str(mp)], capture_output=True)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def test_long_lock_makes_writers_wait_then_fail_clearly(db_path, record):
    with Memfs(db_path) as m:
        m.create_store("s")
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, db_path, "4"], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        t = time.monotonic()
        p = subprocess.run([*MEMFS, "--db", db_path, "put", "s:/x"], input="x",
                           capture_output=True, text=True, env={**os.environ, "MEMFS_BUSY_TIMEOUT": "1"})
        waited = time.monotonic() - t
        assert p.returncode == 7, p.stderr
        assert p.stderr.startswith("Error: the database stayed locked") and p.stderr.count("\n") == 1
        assert 0.9 <= waited < 3.5, f"waited {waited:.2f} s for a 1 s bound"
        with Memfs(db_path) as m:  # reads go on while it is locked
            assert m.lookup("s", "/x") is None
    finally:
        locker.wait(timeout=10)
    # the lock is gone: the same write goes through
    with Memfs(db_path) as m:
        assert m.write("s", "/x", b"x").revision is not None
    record(ops=2, faults=1, acked=1, found=1, lost=0)


def test_corrupted_blob_is_found_and_named(db_path, record):
    with Memfs(db_path) as m:
        s = m.create_store("s")
        good = m.write(s, "/good", b"fine\n").node.sha256
        bad = m.write(s, "/bad", b"this will rot\n").node.sha256
    c = sqlite3.connect(db_path)
    c.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (b"this will r0t\n", bad))
    c.commit()
    c.close()
    p = memfs(db_path, "doctor", check=False)
    assert p.returncode == 1
    assert bad in p.stdout and good not in p.stdout and "corrupt_blob" in p.stdout
    record(ops=3, faults=1)  # nothing to count as lost: the damage was injected, the test is that it is named
