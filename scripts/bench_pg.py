#!/usr/bin/env python3
"""The PostgreSQL backend beside SQLite, in the same run on the same disk:

  revisions/s  W writer processes (1, 8, 64), each its own Memfs, each writing small files
               (about 1 KB) of its own, every write a durable revision; timed from a start
               barrier to the last writer's last commit
  visibility   two mounts of one store (two daemons, as two hosts would run them): a file is
               written through one, and the other is read in a loop until it shows the new
               content; then a new file is created through one where the other has just looked
               and found nothing (a negative entry the kernel caches until the change feed
               invalidates it); delay from the writer's close() to the first read or lookup that
               shows it (median and 99th percentile of K rounds)

PostgreSQL is a private server (tests/pgserver.py: Debian's binaries, a fresh cluster in a
temporary directory, fsync on, defaults otherwise) reached by its Unix socket; SQLite is a file
with the defaults (WAL, synchronous=FULL).

    python scripts/bench_pg.py [--revisions 4000] [--writers 1,8,64] [--rounds 100] [--json]
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from memfs import Identity, Memfs  # noqa: E402
from memfs.backends import postgres  # noqa: E402
from pgserver import PgServer, pg_bindir  # noqa: E402

MEMFS = [os.path.join(os.path.dirname(sys.executable), "memfs")]


def _writer(url, i, n, barrier, out):
    rng = random.Random(i)
    with Memfs(url, identity=Identity(agent=f"w{i}", session=f"s{i}", actor="agent")) as m:
        m.mkdir("bench", f"/w{i}")
        body = bytes(rng.choice(b"abcdefghij \n") for _ in range(1024))
        barrier.wait()
        for j in range(n):
            m.write("bench", f"/w{i}/f{j % 20}", body + str(j).encode())
        out.put(time.monotonic())


def revisions_per_second(url: str, writers: int, total: int) -> float:
    with Memfs(url) as m:
        m.create_store("bench")
    postgres.close_pool(url)  # no pool threads across fork
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(writers + 1), ctx.Queue()
    n = max(total // writers, 1)
    procs = [ctx.Process(target=_writer, args=(url, i, n, barrier, out)) for i in range(writers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    t0 = time.monotonic()
    ends = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a writer failed ({p.exitcode})")
    return n * writers / (max(ends) - t0)


def visibility(url: str, tmp: str, rounds: int) -> list[float]:
    with Memfs(url) as m:
        m.create_store("vis")
        m.write("vis", "/f.md", b"start\n")
    postgres.close_pool(url)
    mps = []
    try:
        for name in ("a", "b"):
            mp = os.path.join(tmp, f"mnt-{name}")
            os.mkdir(mp)
            subprocess.run([*MEMFS, "--db", url, "mount", mp, "--store", "vis", "--agent", name,
                            "--log", os.path.join(tmp, f"{name}.log")], check=True, capture_output=True)
            mps.append(mp)
        a, b = (os.path.join(mp, "f.md") for mp in mps)
        open(b).read()
        delays = {"content": [], "new_file": []}
        for i in range(rounds):
            # a new version of a file the other mount has read
            want = f"round {i}\n"
            with open(a, "w") as f:
                f.write(want)
            t0 = time.monotonic()
            while True:
                with open(b) as f:
                    if f.read() == want:
                        break
                if time.monotonic() - t0 > 10:
                    raise RuntimeError("the other mount did not see the write within 10 s")
                time.sleep(0.001)
            delays["content"].append(time.monotonic() - t0)
            # a new file where the other mount has just looked and found nothing: the kernel keeps
            # that negative answer until the change feed invalidates it
            name = f"new-{i}.md"
            assert not os.path.exists(os.path.join(mps[1], name))
            with open(os.path.join(mps[0], name), "w") as f:
                f.write(want)
            t0 = time.monotonic()
            while not os.path.exists(os.path.join(mps[1], name)):
                if time.monotonic() - t0 > 10:
                    raise RuntimeError("the other mount did not see the new file within 10 s")
                time.sleep(0.001)
            delays["new_file"].append(time.monotonic() - t0)
            time.sleep(random.uniform(0, 0.05))  # not in step with anyone's polling
        return delays
    finally:
        for mp in mps:
            subprocess.run([*MEMFS, "--db", url, "umount", mp], capture_output=True)


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--revisions", type=int, default=4000, help="revisions per figure (default 4000)")
    ap.add_argument("--writers", default="1,8,64", help="writer process counts (default 1,8,64)")
    ap.add_argument("--rounds", type=int, default=100, help="visibility rounds (default 100)")
    ap.add_argument("--json", action="store_true")
    cfg = ap.parse_args()
    if pg_bindir() is None:
        print("PostgreSQL is not installed (apt-get install postgresql): nothing to compare", file=sys.stderr)
        return 1
    writers = [int(x) for x in cfg.writers.split(",")]
    tmp = tempfile.mkdtemp(prefix="memfs-bench-pg-")
    os.chmod(tmp, 0o755)  # the server runs as the postgres user
    pg = PgServer(os.path.join(tmp, "pg"), durable=True).start()
    res = {"revisions_per_second": {}, "visibility": {}}
    n = 0
    try:
        def db(kind):
            nonlocal n
            n += 1
            if kind == "sqlite":
                return os.path.join(tmp, f"bench{n}.db")
            pg.create_database(f"bench{n}")
            return pg.url(f"bench{n}", socket_path=True)

        for kind in ("sqlite", "postgresql"):
            for w in writers:
                res["revisions_per_second"].setdefault(kind, {})[w] = revisions_per_second(db(kind), w, cfg.revisions)
            for what, vis in visibility(db(kind), tempfile.mkdtemp(dir=tmp), cfg.rounds).items():
                res["visibility"].setdefault(what, {})[kind] = {
                    "median_ms": statistics.median(vis) * 1000, "p99_ms": p99(vis) * 1000, "rounds": len(vis)}
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if cfg.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{'':50} {'SQLite':>12} {'PostgreSQL':>12}")
    for w in writers:
        r = res["revisions_per_second"]
        print(f"{f'revisions/s, {w} writer' + ('s' if w > 1 else ''):50} {r['sqlite'][w]:>12,.0f} {r['postgresql'][w]:>12,.0f}")
    for what, label in (("content", "new content"), ("new_file", "new file")):
        v = res["visibility"][what]
        for k, stat in (("median_ms", "median"), ("p99_ms", "p99")):
            print(f"{f'visible on the other mount, {label} {stat}':50} {v['sqlite'][k]:>9.1f} ms {v['postgresql'][k]:>9.1f} ms")
    print(f"({cfg.revisions:,} revisions of ~1 KB per figure; {cfg.rounds} visibility rounds; PostgreSQL"
          f" {os.path.basename(os.path.dirname(pg.bindir))} private server, fsync on, by Unix socket;"
          " SQLite WAL, synchronous=FULL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
