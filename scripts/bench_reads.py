#!/usr/bin/env python3
"""What read counting costs a warm `grep -r` on a memfs mount.

Two mounts of the same store run side by side, one daemon counting reads (the default), one with
MEMFS_READ_COUNTS=0; warm `grep -r` rounds alternate between them (so machine load hits both
alike) and the medians are compared. Target: counting costs at most 5%.

    python scripts/bench_reads.py [--files 2000] [--rounds 15] [--json]"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from memfs import Identity, Memfs  # noqa: E402

PATTERN = "needle-[0-9]+"
TARGET = 0.05


def memfs_bin() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "memfs")
    return cand if os.path.exists(cand) else (shutil.which("memfs") or cand)


def seed(db: str, n: int) -> int:
    matches = 0
    with Memfs(db, identity=Identity(agent="bench", actor="operator")) as m:
        st = m.create_store("bench", "read-count bench")
        for i in range(n):
            body = "".join(f"line {k} of note {i}: the quick brown fox jumps over the lazy dog\n" for k in range(30))
            if i % 10 == 0:
                body += f"needle-{i} is here\n"
                matches += 1
            m.write(st, f"/d{i % 20:02d}/note-{i:05d}.md", body.encode())
    return matches


def mount(db, mp, session, env) -> None:
    os.makedirs(mp, exist_ok=True)
    subprocess.run([memfs_bin(), "--db", db, "mount", mp, "--store", "bench", "--agent", "bench", "--session",
                    session], check=True, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   start_new_session=True)


def grep(mp: str, expect: int) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(["grep", "-rE", PATTERN, "."], cwd=mp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    secs = time.perf_counter() - t0
    got = len(p.stdout.splitlines())
    if got != expect:
        raise SystemExit(f"grep -r in {mp} found {got} lines, expected {expect}: {p.stderr.decode()[:200]}")
    return secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="memfs-bench-reads-")
    db = os.path.join(tmp, "memfs.db")
    env = dict(os.environ, MEMFS_HOME=os.path.join(tmp, "home"))
    for v in ("MEMFS_DB", "MEMFS_AGENT", "MEMFS_SESSION", "MEMFS_READ_COUNTS"):
        env.pop(v, None)
    on, off = os.path.join(tmp, "counting"), os.path.join(tmp, "not-counting")
    mounted = []
    try:
        expect = seed(db, a.files)
        mount(db, on, "bench-counting", env)
        mounted.append(on)
        mount(db, off, "bench-not-counting", dict(env, MEMFS_READ_COUNTS="0"))
        mounted.append(off)
        for mp in (on, off):  # warm up: the kernel's page and attribute caches, the daemons' caches
            grep(mp, expect), grep(mp, expect)
        t_on, t_off = [], []
        for r in range(a.rounds):
            order = (on, off) if r % 2 == 0 else (off, on)
            for mp in order:
                (t_on if mp == on else t_off).append(grep(mp, expect))
        for mp in mounted:
            subprocess.run([memfs_bin(), "--db", db, "umount", mp], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        mounted = []
        with Memfs(db) as m:
            counted = m.file_reads("bench")
        reads = sum(r.reads for r in counted.values())
        med_on, med_off = statistics.median(t_on), statistics.median(t_off)
        overhead = med_on / med_off - 1
        res = {"files": a.files, "rounds": a.rounds, "grep_warm_counting_s": round(med_on, 4),
               "grep_warm_not_counting_s": round(med_off, 4), "overhead": round(overhead, 4),
               "target": TARGET, "ok": overhead <= TARGET, "reads_recorded": reads,
               "files_with_reads": len(counted)}
        if a.json:
            print(json.dumps(res, indent=2))
        else:
            print(f"read counting, warm grep -r over {a.files} files, median of {a.rounds} alternating rounds:")
            print(f"  counting reads {med_on * 1000:.1f} ms, not counting {med_off * 1000:.1f} ms: "
                  f"overhead {overhead:+.1%} (target <= {TARGET:.0%}: {'ok' if res['ok'] else 'OVER'})")
            print(f"  the counting mount recorded {reads} reads of {len(counted)} files")
        return 0 if res["ok"] else 1
    finally:
        for mp in mounted:
            subprocess.run(["fusermount3", "-u", "-z", mp], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
