#!/usr/bin/env python3
"""Benchmark of `memfs dream` with the local engine: 1,000 synthetic Claude Code transcripts
(about 100 MB) against a store of 2,000 notes. Reports the time and peak memory of the dream
itself (a real `memfs dream run` process), and, separately, of registering the transcripts.
Target: under 60 s and under 1 GiB.

    .venv/bin/python scripts/bench_dream.py [--transcripts 1000] [--files 2000] [--keep DIR]
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from memfs import Identity, Memfs  # noqa: E402
from memfs.transcripts import register  # noqa: E402

ERRORS = [
    ("Bash", "Exit code 1\nerror: failed to push some refs to 'git@example.com:team/app{n}.git'"),
    ("Bash", "Exit code 2\nmake: *** No rule to make target 'deploy-{n}'.  Stop."),
    ("Edit", "<tool_use_error>String to replace not found in file.\nString: foo_{n}</tool_use_error>"),
    ("Read", "<tool_use_error>File does not exist. Current working directory: /work/app{n}</tool_use_error>"),
    ("Bash", "Exit code 137\nKilled: the build of service-{n} ran out of memory"),
    ("Bash", "Exit code 1\npsql: error: connection to server at \"db{n}.internal\" (10.0.0.{n}), port 5432 failed: timeout"),
]
HOOK = ("Stop hook feedback:\n[${{CLAUDE_PLUGIN_ROOT}}/scripts/hooks/stop.sh]: # Uncommitted Changes Detected\n\n"
        "Cannot exit with untracked files.\n\n  .coverage\n  src/__pycache__/m{n}.cpython-312.pyc\n")


def words(rng, vocab, n):
    return " ".join(rng.choice(vocab) for _ in range(n))


def make_transcript(path, k, rng, vocab, size=100_000):
    sid = f"bench-{k:05d}"
    t0 = 1_795_000_000 + k * 60
    lines, parent, n = [], None, 0

    def rec(typ, message, **extra):
        nonlocal parent, n
        n += 1
        uid = f"{sid}-{n}"
        r = {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": "/work/app",
             "sessionId": sid, "version": "2.1.14", "type": typ, "message": message, "uuid": uid,
             "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + n))}
        r.update(extra)
        parent = uid
        lines.append(json.dumps(r))

    rec("user", {"role": "user", "content": words(rng, vocab, 30)})
    total, step = 0, 0
    while total < size:
        step += 1
        tid = f"toolu_{sid}_{step}"
        roll = rng.random()
        if roll < 0.04:
            tool, text = ERRORS[rng.randrange(len(ERRORS))]
            res, err, inp = text.format(n=rng.randrange(50)), True, {"command": f"run step {step}"}
        elif roll < 0.05:
            rec("user", {"role": "user", "content": HOOK.format(n=step)}, isMeta=True)
            continue
        else:
            tool = rng.choice(["Bash", "Read", "Grep", "Edit"])
            inp = {"command": f"ls -la /work/app/{rng.choice(vocab)}"} if tool == "Bash" else \
                {"file_path": f"/work/app/{rng.choice(vocab)}.py"}
            res, err = words(rng, vocab, rng.randrange(40, 160)), False
        rec("assistant", {"id": f"msg_{sid}_{step}", "type": "message", "role": "assistant", "model": "claude-x",
                          "content": [{"type": "text", "text": words(rng, vocab, 12)},
                                      {"type": "tool_use", "id": tid, "name": tool, "input": inp}]})
        rec("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": res,
                                                  "is_error": err}]})
        total = sum(len(x) for x in lines)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return sid


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=int, default=1000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--keep", help="Build in this directory and keep it.")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="memfs-bench-dream-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "memfs.db")
    tdir = os.path.join(work, "transcripts")
    os.makedirs(tdir, exist_ok=True)
    rng = random.Random(7)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 10))) for _ in range(20000)]
    try:
        t = time.monotonic()
        env = {**os.environ, "MEMFS_DB": db, "MEMFS_SYNC": "normal"}
        os.environ["MEMFS_SYNC"] = "normal"
        with Memfs(db, identity=Identity(agent="bench", session="bench-setup", actor="operator")) as m:
            st = m.create_store("bench", max_content_bytes=1024 * 1024)
            prev = ""
            for i in range(args.files):
                paras = [words(rng, vocab, rng.randrange(20, 60)) for _ in range(rng.randrange(3, 8))]
                body = f"# Note {i}\n\n" + "\n\n".join(paras) + "\n"
                if i % 100 == 1:  # planted near-duplicates of the previous note
                    body = prev.replace("# Note", "# Copy of note") + words(rng, vocab, 10) + "\n"
                if i % 100 == 2:  # references to a note that goes away
                    body += "\nSee /notes/gone-%d.md for the old procedure.\n" % i
                    m.write(st, f"/notes/gone-{i}.md", b"old\n")
                    m.delete(st, f"/notes/gone-{i}.md")
                m.write(st, f"/notes/{i // 100:02d}/note-{i:04d}.md", body.encode(),
                        identity=Identity(agent=f"agent-{i % 7}", session=f"setup-{i % 13}", actor="agent"))
                prev = body
            build_store = time.monotonic() - t
            t = time.monotonic()
            size = 0
            for k in range(args.transcripts):
                p = os.path.join(tdir, f"bench-{k:05d}.jsonl")
                make_transcript(p, k, rng, vocab)
                size += os.path.getsize(p)
            gen = time.monotonic() - t
            t = time.monotonic()
            regs = register(m, [tdir], stores=["bench"], agent=None)
            reg_time = time.monotonic() - t
        print(f"store: {args.files} files in {build_store:.1f} s; transcripts: {args.transcripts} files, "
              f"{size / 1e6:.1f} MB generated in {gen:.1f} s, registered in {reg_time:.1f} s ({len(regs)} files)")
        exe = os.path.join(os.path.dirname(sys.executable), "memfs")
        cmd = [exe, "dream", "run", "bench", "--engine", "local", "--since", "3650d", "--json"]
        t = time.monotonic()
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - t
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if p.returncode:
            print(p.stdout[-2000:], p.stderr[-2000:])
            sys.exit(1)
        job = json.loads(p.stdout)
        changes = job["proposal"]["changes"]
        kinds = {}
        for c in changes:
            for a in c["annotations"]:
                kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
        print(f"dream (local engine, a real `memfs dream run` process): {wall:.1f} s, peak RSS {peak_kib / 1024:.0f} MiB;"
              f" {len(job['inputs']['sessions'])} sessions, {len(changes)} files changed: "
              + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        ok = wall < 60 and peak_kib < 1024 * 1024
        print(f"target < 60 s and < 1 GiB: {'met' if ok else 'MISSED'}")
        sys.exit(0 if ok else 1)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
