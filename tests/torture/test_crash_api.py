"""Crash at every point, for the HTTP API: `memfs serve` is killed with SIGKILL at random moments
while clients create and update memories with preconditions; after each kill the database is
sound and every write the server answered 2xx for is stored."""

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time

from memfs import Identity, Memfs
from memfs.store import sha256
from mounting import MEMFS, wait_for

ROUNDS = int(os.environ.get("MEMFS_TORTURE_ROUNDS", "12")) // 2 or 1


def port_open(port):
    with socket.socket() as sk:
        return sk.connect_ex(("127.0.0.1", port)) == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, key, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"x-api-key": key, "content-type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def writer(port, key, store_uid, tag, acked, stop):
    """Create a memory, then keep updating it with a precondition; record every 2xx answer."""
    base = f"/v1/memory_stores/{store_uid}/memories"
    mem_id, sha, i = None, None, 0
    while not stop.is_set():
        i += 1
        content = f"{tag} version {i}\n" * (1 + i % 20)
        try:
            if mem_id is None:
                status, body = request(port, key, "POST", base, {"path": f"/{tag}.md", "content": content})
                if status == 409:  # created before a crash, answer lost: pick it up
                    mem_id = body["error"].get("conflicting_memory_id")
                    continue
            else:
                status, body = request(port, key, "POST", f"{base}/{mem_id}", {
                    "content": content, "precondition": {"type": "content_sha256", "content_sha256": sha}})
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.01)  # the server is down: retry until stopped
            continue
        if 200 <= status < 300:
            acked.append((f"/{tag}.md", sha256(content.encode())))
            mem_id, sha = body["id"], body["content_sha256"]
        elif status == 409 and mem_id is not None:
            _, cur = request(port, key, "GET", f"{base}/{mem_id}")
            sha = cur["content_sha256"]  # reread after a lost answer, then try again
        elif status >= 500:
            raise AssertionError(f"server error {status}: {body}")


def test_kill_9_the_api_server_mid_write(db_path, record):
    with Memfs(db_path, identity=Identity(agent="setup", actor="operator")) as m:
        store = m.create_store("api")
        _, key = m.create_api_key(all_stores="rw", name="torture")
    rng = random.Random(99)
    acked, stop = [], threading.Event()
    port = free_port()
    threads = [threading.Thread(target=writer, args=(port, key, store.uid, f"w{i}", acked, stop)) for i in range(4)]
    for t in threads:
        t.start()
    kills = 0
    try:
        for _ in range(ROUNDS):
            srv = subprocess.Popen([*MEMFS, "--db", db_path, "serve", "--port", str(port), "--log-level", "warning"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # killed a random while after it answers (not after it starts: on a loaded machine a
            # server can take longer to start than the window, and no write would be in flight)
            assert wait_for(lambda: port_open(port), timeout=30), "memfs serve did not start"
            time.sleep(rng.uniform(0.3, 1.0))
            srv.send_signal(signal.SIGKILL)
            srv.wait()
            kills += 1
            with Memfs(db_path) as m:
                assert m.doctor(read_data=False).ok
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    with Memfs(db_path) as m:
        assert m.doctor().ok
        stored = {(r.path, r.sha256) for r in m.log("api") if r.sha256}
    found = sum(1 for a in acked if a in stored)
    record(ops=len(acked), faults=kills, acked=len(acked), found=found, lost=len(acked) - found)
    assert len(acked) > kills, "the clients never got going"
    assert found == len(acked), f"{len(acked) - found} acknowledged API writes are missing"
