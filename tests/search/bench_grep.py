"""Scan vs full-text index for memfs grep on a store of N files (default 5,000).

    .venv/bin/python tests/search/bench_grep.py [N] [DB]

Prints, per pattern, the matches and the median time of a scan (use_index=False), of the index
forced (use_index=True) and of the default choice, after the index caught up once (that first
catch-up is timed separately)."""

import os
import random
import statistics
import sys
import tempfile
import time

from memfs import Identity, Memfs


def build(m, n, rnd):
    vocab = [f"w{i:04d}" for i in range(4000)] + ["deploy", "kubectl", "rollback", "postgres", "latency", "oncall"]
    m.create_store("bench")
    with m.atomic():
        for i in range(n):
            lines = [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(6, 14))) for _ in range(rnd.randint(10, 40))]
            if i % 500 == 7:
                lines.insert(3, f"incident INC-{i}: the needle-in-a-haystack outage")
            m.write("bench", f"/area{i % 50}/note{i}.md", ("\n".join(lines) + "\n").encode())


def timed(f, runs=5):
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    db = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "bench.db")
    m = Memfs(db, identity=Identity(agent="bench", actor="agent"), synchronous="NORMAL")
    rnd = random.Random(8)
    t = time.perf_counter()
    build(m, n, rnd)
    size = m.usage("bench")["bytes"]
    print(f"{n} files, {size / 1e6:.1f} MB of text, written in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    m.grep("bench", "needle")
    print(f"first search: index caught up with {n} blobs in {time.perf_counter() - t:.2f}s")
    print(f"{'pattern':<34} {'matches':>7} {'scan':>8} {'forced FTS':>10} {'auto':>8} {'auto vs scan':>12}")
    for pat, kw in [("needle-in-a-haystack", {}), (r"INC-\d+: the", {}), ("kubectl", {}),
                    ("w0042 w0043", {}), ("KUBECTL rollback", {"ignore_case": True}),
                    (r"deploy\s+\w+\s+oncall", {}), (r"w00\d\d w01", {}), ("needle", {"history": True})]:
        ts, a = timed(lambda: m.grep("bench", pat, use_index=False, **kw), 3)
        ti, b = timed(lambda: m.grep("bench", pat, **kw), 5)
        tf, _ = timed(lambda: m.grep("bench", pat, use_index=True, **kw), 5)
        assert [(x.path, x.line) for x in a] == [(x.path, x.line) for x in b]
        label = pat + (" (history)" if kw.get("history") else "") + (" (-i)" if kw.get("ignore_case") else "")
        print(f"{label:<34} {len(a):>7} {ts * 1000:>6.0f}ms {tf * 1000:>8.0f}ms {ti * 1000:>6.0f}ms {ts / ti:>11.1f}x")
    m.close()


if __name__ == "__main__":
    main()
