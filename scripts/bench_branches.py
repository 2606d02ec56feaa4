#!/usr/bin/env python3
"""Branches: the time to create a branch of a store of N files (default 2,000, in 20
directories, about 1 KB each), and to merge a branch that changed 100 of them (half of those
also changed in the store meanwhile, in other lines, so that they merge line by line), on SQLite
and on PostgreSQL (a private server from tests/pgserver.py, fsync on; skipped when PostgreSQL is
not installed or with --sqlite-only).

    python scripts/bench_branches.py [--files 2000] [--changed 100] [--repeat 3] [--sqlite-only] [--json]

Each figure is the median of --repeat runs (a new branch each run). The merge figure includes
computing the three-way plan (reading the three trees) and applying it in one transaction; the
dry run is the plan alone. Baselines from the same run: writing the N files once (one
transaction; a branch should cost far less), and the branch's own edit of the changed files (read
and rewrite each, one transaction; a merge writes as many revisions).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from memfs import Identity, Memfs  # noqa: E402


def body(i: int) -> bytes:
    lines = [f"line {k} of note {i}: some remembered fact about service {i % 37}" for k in range(16)]
    return ("\n".join(lines) + "\n").encode()


def run(url: str, files: int, changed: int, repeat: int) -> dict:
    with Memfs(url, identity=Identity(agent="bench", actor="operator")) as m:
        s = m.create_store("bench")
        t = time.perf_counter()
        with m.atomic():  # the baseline for creating a branch: writing the files once, in one transaction
            for i in range(files):
                m.write(s, f"/d{i % 20:02d}/note-{i:05d}.md", body(i))
        seed = time.perf_counter() - t
        create, plan, merge, edit = [], [], [], []
        for r in range(repeat):
            t = time.perf_counter()
            b = m.create_branch(s, f"try-{r}")
            create.append(time.perf_counter() - t)
            t = time.perf_counter()
            with m.atomic():  # the baseline for a merge: the branch's own edit of those files
                for i in range(changed):  # the branch appends a line
                    p = f"/d{i % 20:02d}/note-{i:05d}.md"
                    m.write(b.store, p, m.read(b.store, p) + f"branch {r}\n".encode())
            edit.append(time.perf_counter() - t)
            with m.atomic():
                for i in range(0, changed, 2):  # the store changes half of them too, at the top
                    p = f"/d{i % 20:02d}/note-{i:05d}.md"
                    m.write(s, p, f"store {r}\n".encode() + m.read(s, p))
            t = time.perf_counter()
            p, _ = m.plan_merge(b.store)
            plan.append(time.perf_counter() - t)
            assert len(p.files) == changed and not p.conflicts, (len(p.files), [(f.path, f.status, f.reason) for f in p.files[:3]])
            t = time.perf_counter()
            rep = m.merge_branch(b.store)
            merge.append(time.perf_counter() - t)
            assert rep.applied and len(rep.revisions) == changed
    return {"create_s": statistics.median(create), "plan_s": statistics.median(plan),
            "merge_s": statistics.median(merge), "runs": repeat,
            "seed_s": seed, "edit_s": statistics.median(edit)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--changed", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--json", action="store_true")
    cfg = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="memfs-bench-branches-")
    os.chmod(tmp, 0o755)  # a PostgreSQL server runs as the postgres user
    res, pg = {}, None
    try:
        res["sqlite"] = run(os.path.join(tmp, "bench.db"), cfg.files, cfg.changed, cfg.repeat)
        if not cfg.sqlite_only:
            from pgserver import PgServer, pg_bindir

            if pg_bindir() is not None:
                pg = PgServer(os.path.join(tmp, "pg"), durable=True).start()
                pg.create_database("bench")
                res["postgresql"] = run(pg.url("bench", socket_path=True), cfg.files, cfg.changed, cfg.repeat)
    finally:
        if pg is not None:
            from memfs.backends.postgres import close_pool

            close_pool(pg.url("bench", socket_path=True))
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if cfg.json:
        print(json.dumps({"files": cfg.files, "changed": cfg.changed, **res}, indent=2))
        return 0
    kinds = list(res)
    print(f"{'':58}" + "".join(f"{k:>12}" for k in kinds))
    for key, label in (("create_s", f"create a branch of {cfg.files:,} files"),
                       ("seed_s", f"  baseline: write the {cfg.files:,} files, 1 transaction"),
                       ("plan_s", f"merge plan (dry run), {cfg.changed} changed files"),
                       ("merge_s", f"merge {cfg.changed} changed files ({cfg.changed // 2} line-merged)"),
                       ("edit_s", f"  baseline: the branch's edit of those {cfg.changed}, 1 transaction")):
        print(f"{label:58}" + "".join(f"{res[k][key] * 1000:>9.0f} ms" for k in kinds))
    runs = "one run" if cfg.repeat == 1 else f"median of {cfg.repeat} runs"
    print(f"({runs}; the write of the {cfg.files:,} files: one run; files of ~1 KB in 20 directories)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
