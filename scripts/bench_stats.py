#!/usr/bin/env python3
"""Benchmark of `memfs stats STORE` on a store of 2,000 ops notes (about 12,000 paragraphs of
plain English around identifiers: hosts, paths, environment variables, versions; one note in 25
repeats a paragraph of another word for word, one in 25 restates another's fact in other words).

Times a real `memfs stats STORE` process (median of --repeat runs), beside two baselines from
the same run: the same process with the duplicated-text figure left out (`--no-duplicates`: the
other figures and the start of Python), and `memfs --version` (the start alone). Also the
duplicated-text figure in-process, on the first call and again. Target: under 2 s.

    .venv/bin/python scripts/bench_stats.py [--files 2000] [--repeat 3] [--json] [--keep DIR]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from memfs import Identity, Memfs  # noqa: E402

TARGET_S = 2.0

WORDS = """service deploy deploys restart restarts database connection connections replica primary cache
queue worker workers job jobs build builds release releases branch merge review test tests alert alerts
page pager dashboard metric metrics log logs error errors timeout timeouts retry retries limit limits
disk memory cpu node nodes cluster region zone backup backups snapshot snapshots restore token tokens
key keys secret secrets certificate certificates proxy gateway bastion tunnel port ports endpoint
request requests response latency throughput traffic load balancer health check checks probe script
cron schedule window freeze rollout rollback canary config configuration setting settings flag flags
migration migrations schema index table query queries lock locks upgrade version package dependency
image container pod volume mount storage bucket object file files directory team owner runbook incident
on-call escalation ticket customer report reports nightly daily weekly hour hours minute minutes second
seconds slow fast stale fresh broken healthy degraded full empty large small old new first last only
always never before after during when until unless every each some most many few the a an and or but
is are was were be been has have had do does did will would should can could must may might not no
to of in on at by for with from into over under through about against between across behind via
this that these those it its they them their we our you your he she one two three four five ten
takes need needs keep keeps run runs start starts stop stops check checked use used uses set sets
fails failed works worked breaks broke moved changed added removed cleaned rotated renewed expired""".split()
HOSTS = [f"{a}-{b}-{n}" for a in ("api", "db", "cache", "queue", "web", "batch") for b in ("eu", "us", "ap")
         for n in range(1, 41)]
PATHS = [f"/{a}/{b}/{c}" for a in ("etc", "var", "srv", "opt") for b in ("app", "nginx", "billing", "reports",
                                                                           "search", "auth", "mail", "ci")
         for c in ("main.conf", "queue.yml", "run.sh", "data", "cache", "limits.conf", "tls", "hooks", "spool")]
ENVS = [f"{a}_{b}" for a in ("APP", "DB", "CACHE", "REPORT", "BILLING", "AUTH", "MAIL", "SEARCH", "CI", "EDGE")
        for b in ("URL", "TIMEOUT", "POOL_SIZE", "TOKEN", "REGION", "RETRIES", "MAX_CONN", "LOG_LEVEL")]
VERSIONS = [f"{a}.{b}.{c}" for a in (1, 2, 3, 14, 18) for b in range(0, 6) for c in range(0, 4)]
SYN = {"restart": "bounce", "fails": "breaks", "database": "db", "connection": "link", "needs": "requires",
       "slow": "sluggish", "stale": "outdated", "use": "go through", "before": "prior to", "large": "big"}


def rare_words(rng: random.Random, n: int = 5000) -> list[str]:
    """Names of things (products, teams, tables, customers): what makes a note's text its own."""
    return ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randrange(2, 5)))
            for _ in range(n)]


def sentence(rng: random.Random, zipf: list[float], rare: list[str]) -> str:
    ws = rng.choices(WORDS, weights=zipf, k=rng.randrange(8, 20))
    for _ in range(rng.randrange(1, 4)):
        ws.insert(rng.randrange(len(ws)), rng.choice(rare))
    for _ in range(rng.randrange(0, 3)):
        ws.insert(rng.randrange(len(ws)), rng.choice(rng.choice((HOSTS, PATHS, ENVS, VERSIONS))))
    return ws[0].capitalize() + " " + " ".join(ws[1:]) + "."


def reword(rng: random.Random, text: str) -> str:
    """The same identifiers, other words around them: a paraphrase as two agents write them."""
    ws = text.rstrip(".").split()
    ws = [SYN.get(w.lower(), w) for w in ws]
    k = rng.randrange(1, max(2, len(ws) // 2))
    ws = ws[k:] + ws[:k]
    return "Note: " + " ".join(ws) + "."


def build(db: str, n: int, seed: int = 11) -> dict:
    rng = random.Random(seed)
    zipf = [1.0 / (k + 1) for k in range(len(WORDS))]
    rng.shuffle(zipf)
    rare = rare_words(rng)
    paragraphs, planted_exact, planted_para = 0, 0, 0
    with Memfs(db, identity=Identity(agent="bench", session="bench-setup", actor="operator")) as m:
        st = m.create_store("bench")
        made = []
        for i in range(n):
            paras = []
            for _ in range(rng.randrange(3, 10)):
                s = " ".join(sentence(rng, zipf, rare) for _ in range(rng.randrange(1, 4)))
                paras.append(f"- {s}" if rng.random() < 0.4 else s)
            if made and i % 25 == 3:
                paras.append(rng.choice(made[rng.randrange(len(made))]))
                planted_exact += 1
            if made and i % 25 == 7:
                paras.append(reword(rng, rng.choice(made[rng.randrange(len(made))]).lstrip("- ")))
                planted_para += 1
            made.append(paras)
            paragraphs += len(paras)
            body = f"# Note {i}\n\n" + "\n\n".join(paras) + "\n"
            m.write(st, f"/notes/{i // 100:02d}/note-{i:04d}.md", body.encode(),
                    identity=Identity(agent=f"agent-{i % 7}", session=f"setup-{i % 13}", actor="agent"))
    return {"files": n, "paragraphs_written": paragraphs, "planted_exact": planted_exact,
            "planted_paraphrase": planted_para}


def timed(cmd: list[str], env: dict, repeat: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        t = time.monotonic()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.monotonic() - t)
        if p.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        out = p.stdout
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    ap.add_argument("--keep", help="Build in this directory and keep it (a store already there is reused).")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="memfs-bench-stats-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "memfs.db")
    env = {**os.environ, "MEMFS_DB": db, "MEMFS_SYNC": "normal"}
    os.environ["MEMFS_SYNC"] = "normal"
    try:
        t = time.monotonic()
        info = build(db, args.files) if not os.path.exists(db) else {"files": args.files}
        build_s = time.monotonic() - t
        exe = os.path.join(os.path.dirname(sys.executable), "memfs")
        stats_s, out = timed([exe, "stats", "bench", "--json"], env, args.repeat)
        without_s, _ = timed([exe, "stats", "bench", "--json", "--no-duplicates"], env, args.repeat)
        start_s, _ = timed([exe, "--version"], env, args.repeat)
        figures = json.loads(out)
        with Memfs(db) as m:
            t = time.monotonic()
            m.duplicated_text("bench")
            first_s = time.monotonic() - t
            t = time.monotonic()
            m.duplicated_text("bench")
            again_s = time.monotonic() - t
        res = {**info, "build_s": round(build_s, 2), "repeat": args.repeat, "stats_s": round(stats_s, 3),
               "no_duplicates_s": round(without_s, 3), "start_s": round(start_s, 3),
               "duplicated_first_s": round(first_s, 3), "duplicated_again_s": round(again_s, 3),
               "duplicated": figures["duplicated"], "target_s": TARGET_S, "ok": stats_s < TARGET_S}
        if args.json:
            print(json.dumps(res))
        else:
            d = figures["duplicated"]
            print(f"store: {res['files']} files built in {build_s:.1f} s; duplicated text: {d['duplicated']} of "
                  f"{d['paragraphs']} paragraphs ({d['share']:.1%}), {d.get('method', '')}")
            print(f"memfs stats bench (a real process, median of {args.repeat}): {stats_s:.2f} s; "
                  f"without the duplicated-text figure {without_s:.2f} s; memfs --version {start_s:.2f} s")
            print(f"duplicated-text figure in-process: {first_s:.2f} s, again (cached) {again_s:.3f} s")
            print(f"target memfs stats < {TARGET_S:g} s: {'met' if res['ok'] else 'MISSED'}")
        sys.exit(0 if res["ok"] else 1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
