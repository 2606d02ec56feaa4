#!/usr/bin/env python3
"""Requests per second of `memfs serve` with N concurrent clients (default 16).

Starts a real `memfs serve` (its own process) on a throwaway database, then runs plain threads,
each with its own keep-alive HTTP connection (http.client: the lightest client, so the figure is
the server's), for a fixed time per phase:

  reads   GET a memory (view=full), each client its own memory
  writes  POST a new content with a `content_sha256` precondition, each client its own memory,
          chaining the hash it got back (every write is a real revision: fsync'd by default)
  shared  the same, all clients on ONE memory: most preconditions fail (409), as they should

    python scripts/bench_api.py [--clients 16] [--seconds 5] [--sync full|normal] [--json]
"""

import argparse
import hashlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from memfs import Memfs  # noqa: E402

# the memfs command, as its console script runs it (not `python -m memfs.cli`)
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def start_server(db, sync):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MEMFS_DB": db, "MEMFS_SYNC": sync,
           "PYTHONPATH": os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen([*MEMFS, "serve", "--port", str(port), "--log-level", "warning"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json").read()
            return p, port
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("memfs serve did not start: " + p.stderr.read().decode())
            time.sleep(0.05)


def phase(port, key, clients, seconds, make_request):
    """Run `clients` threads for `seconds`; make_request(i, state) -> (method, path, body, on_response)."""
    lat, counts, errors = [[] for _ in range(clients)], [dict() for _ in range(clients)], []
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"x-api-key": key, "content-type": "application/json"}
        state = {}
        start.wait()
        try:
            while time.monotonic() < stop_at[0]:
                method, path, body, done = make_request(i, state)
                t = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                lat[i].append(time.perf_counter() - t)
                counts[i][resp.status] = counts[i].get(resp.status, 0) + 1
                if resp.status >= 500:
                    errors.append(data)
                done(resp.status, data, state)
        except Exception as e:  # a bench must say what broke, not hang
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    every = sorted(x for l in lat for x in l)
    status = {}
    for c in counts:
        for k, v in c.items():
            status[k] = status.get(k, 0) + v
    q = statistics.quantiles(every, n=100) if len(every) > 1 else [0] * 99
    return {"requests": len(every), "seconds": round(elapsed, 2), "rps": round(len(every) / elapsed, 1),
            "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2), "status": status,
            "server_errors": len(errors), "first_error": (errors[0] if errors else None)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sync", choices=["full", "normal"], default="full", help="MEMFS_SYNC of the server")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="memfs-bench-api-")
    db = os.path.join(tmp, "memfs.db")
    with Memfs(db) as m:
        s = m.create_store("bench")
        own = [m.write(s, f"/clients/{i:02}.md", f"client {i}\n".encode() * 20).node for i in range(a.clients)]
        shared = m.write(s, "/shared.md", b"shared\n").node
        key = m.create_api_key(all_stores="rw", name="bench")[1]
    server, port = start_server(db, a.sync)
    base = f"/v1/memory_stores/{s.uid}/memories"
    results = {}
    try:
        def read(i, state):
            return "GET", f"{base}/mem_{own[i].id}?view=full", None, lambda st, d, s_: None

        def write_own(i, state):
            state.setdefault("sha", own[i].sha256)
            state["n"] = state.get("n", 0) + 1
            content = f"client {i} write {state['n']}\n" * 20
            body = json.dumps({"content": content,
                               "precondition": {"type": "content_sha256", "content_sha256": state["sha"]}})

            def done(status, data, st, new=sha(content.encode())):
                if status == 200:
                    st["sha"] = new
            return "POST", f"{base}/mem_{own[i].id}", body, done

        def write_shared(i, state):
            state.setdefault("sha", shared.sha256)
            state["n"] = state.get("n", 0) + 1
            content = f"client {i} write {state['n']}\n"
            body = json.dumps({"content": content,
                               "precondition": {"type": "content_sha256", "content_sha256": state["sha"]}})

            def done(status, data, st, new=sha(content.encode())):
                if status == 200:
                    st["sha"] = new
                elif status == 409:  # stale: read the current hash, as a careful client does
                    st["sha"] = "refresh"
            if state["sha"] == "refresh":
                def refreshed(status, data, st):
                    st["sha"] = json.loads(data)["content_sha256"]
                return "GET", f"{base}/mem_{shared.id}?view=basic", None, refreshed
            return "POST", f"{base}/mem_{shared.id}", body, done

        phase(port, key, a.clients, 1.0, read)  # warm up
        results["reads"] = phase(port, key, a.clients, a.seconds, read)
        results["precondition writes (own memory each)"] = phase(port, key, a.clients, a.seconds, write_own)
        results["precondition writes (one shared memory)"] = phase(port, key, a.clients, a.seconds, write_shared)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    with Memfs(db) as m:
        rep = m.doctor(read_data=False)
        revisions = len(m.log("bench"))
    if a.json:
        print(json.dumps({"clients": a.clients, "sync": a.sync, "results": results, "revisions": revisions,
                          "doctor_ok": rep.ok}, indent=2))
    else:
        print(f"memfs serve, {a.clients} concurrent clients, {a.seconds:g} s per phase, MEMFS_SYNC={a.sync}, "
              f"{os.cpu_count()} CPUs")
        for name, r in results.items():
            st = ", ".join(f"{k}: {v}" for k, v in sorted(r["status"].items()))
            print(f"  {name:<42} {r['rps']:>8.1f} req/s   p50 {r['p50_ms']:>6.2f} ms   p99 {r['p99_ms']:>7.2f} ms"
                  f"   ({r['requests']} requests; {st})")
        print(f"  {revisions} revisions written; doctor {'ok' if rep.ok else 'FAILED'}")
    bad = sum(r["server_errors"] for r in results.values())
    if bad or not rep.ok:
        print(f"FAILED: {bad} server errors; first: {next(r['first_error'] for r in results.values() if r['first_error'])}"
              if bad else "FAILED: doctor found problems", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
