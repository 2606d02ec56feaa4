"""kill -9 of `memfs replicate` at random moments while a writer keeps writing to the source,
into a database file and into a server: each restart resumes from the cursor kept in the target,
and in the end every source revision is in the target exactly once, in order, with the same
trees and attribution."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from memfs import Memfs
from replhelpers import MEMFS, assert_same_history, memfs, serving


@pytest.mark.parametrize("kind,kills", [("sqlite", 7), ("http", 4)])
def test_kill_9_at_random_moments_loses_and_repeats_nothing(src, src_path, dst_path, tmp_path, kind, kills):
    src.create_store("live", "written while replicated")
    src.write("live", "/seed.md", b"seed\n")
    with contextlib.ExitStack() as stack:
        if kind == "http":
            url, keys = stack.enter_context(serving(dst_path, tmp_path / "serve.log"))
            target = [url, "--key", keys["root"]]
        else:
            target = [dst_path]
        stop = tmp_path / "stop"
        writer = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "writer.py"), src_path,
                                   "7", str(stop)], stderr=subprocess.PIPE, text=True)
        rnd = random.Random(1234)
        cursors = []
        try:
            for _ in range(kills):
                rep = subprocess.Popen([*MEMFS, "--db", src_path, "replicate", "--to", *target],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                time.sleep(rnd.uniform(0.3, 1.2))
                assert rep.poll() is None, f"the replicator stopped by itself: {rep.stderr.read()}"
                rep.send_signal(signal.SIGKILL)
                assert rep.wait(10) == -signal.SIGKILL
                with Memfs(dst_path) as dst:
                    cursors.append(dst.replication_cursor(src.database_id()))
        finally:
            stop.write_text("")
            assert writer.wait(30) == 0, writer.stderr.read()
        assert len(cursors) == kills
        assert cursors == sorted(cursors) and cursors[-1] > cursors[0], cursors  # progress between kills
        p = memfs(src_path, "replicate", "--to", *target, "--once")
        assert p.returncode == 0, p.stderr
    with Memfs(dst_path) as dst:
        sid = src.database_id()
        origins = [r.origin for r in dst.log("live", newest_first=False)]
        # no duplicates, no gaps, in source order
        assert origins == [f"{sid}:{r.id}" for r in src.log("live", newest_first=False)]
        assert dst.replication_cursor(sid) == src.head()
        assert assert_same_history(src, dst, "live") > 100
        assert dst.doctor().ok, dst.doctor().problems
