"""Crash at every point: the mount daemon is killed with SIGKILL at random moments while a writer
works through it, many times over. After each kill the database is sound (`memfs doctor`), the
mount comes back on the same directory, and every write whose close() returned is stored."""

import json
import os
import random
import signal
import subprocess
import sys
import time

from memfs import Memfs
from mounting import memfs, mounted, wait_for

ROUNDS = int(os.environ.get("MEMFS_TORTURE_ROUNDS", "12"))

# Writes through the mount and prints each write after close() returned: an acknowledgement.
WRITER = r"""
import hashlib, json, os, sys
root, tag = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(root, tag), exist_ok=True)
i = 0
while True:
    i += 1
    kind = i % 3
    path = f"{tag}/f{i % 40}"
    data = (f"{tag} write {i} " * (1 + i % 50) + "\n").encode()
    try:
        if kind == 0:                       # append to a shared log
            with open(os.path.join(root, tag, "log"), "ab") as f:
                f.write(data)
            rec = {"op": "append", "path": f"/{tag}/log", "data": data.decode()}
        else:                               # create or overwrite
            with open(os.path.join(root, path), "wb") as f:
                f.write(data)
            rec = {"op": "write", "path": "/" + path, "sha": hashlib.sha256(data).hexdigest()}
    except OSError:
        break
    print(json.dumps(rec), flush=True)
"""


def test_kill_9_the_mount_daemon_mid_write(seeded, tmp_path, record):
    db = seeded
    mp = tmp_path / "mnt"
    mp.mkdir()
    rng = random.Random(1234)
    acked = found = lost = ops = 0
    for rnd in range(ROUNDS):
        out = memfs(db, "mount", str(mp), "--store", "team-sre", "--agent", f"crash-{rnd}",
                    "--log", str(tmp_path / "crash.log")).stdout
        pid = int(out.split("pid ")[1].split(",")[0])
        w = subprocess.Popen([sys.executable, "-c", WRITER, str(mp), f"r{rnd}"], stdout=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.05, 0.8))
        os.kill(pid, signal.SIGKILL)
        try:
            out, _ = w.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()
            out, _ = w.communicate()
        recs = [json.loads(line) for line in out.splitlines() if line.strip()]
        ops += len(recs) + 1
        # the dead mount answers ENOTCONN until unmounted; then the same directory mounts again
        assert wait_for(lambda: subprocess.run(["fusermount3", "-u", "-z", str(mp)]).returncode == 0
                        or str(mp) not in mounted(), timeout=10)
        with Memfs(db) as m:
            rep = m.doctor()
            assert rep.ok, rep.problems
            for r in recs:
                acked += 1
                if r["op"] == "write":
                    ok = any(v.sha256 == r["sha"] for v in m.log("team-sre", r["path"], ops=["create", "write"]))
                else:
                    ok = r["data"].encode() in m.read("team-sre", r["path"])
                found += ok
                lost += not ok
    # and a clean mount at the end still works
    memfs(db, "mount", str(mp), "--store", "team-sre", "--agent", "after")
    try:
        (mp / "after.md").write_text("alive\n")
        assert (mp / "after.md").read_text() == "alive\n"
    finally:
        memfs(db, "umount", str(mp))
    record(ops=ops, faults=ROUNDS, acked=acked, found=found, lost=lost)
    assert acked > ROUNDS, "the writer never got going"
    assert lost == 0, f"{lost} acknowledged writes are missing"
