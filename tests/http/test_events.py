"""The change feed: `GET /v1/events` (long poll and server-sent events) and `memfs log --follow`."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from httphelpers import raw_error

# the memfs command, as its console script runs it (not `python -m memfs.cli`)
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]


@pytest.fixture
def two(sdk, admin, m):
    ms = sdk.beta.memory_stores
    a, b = ms.create(name="A"), ms.create(name="B")
    return a, b, admin(stores={"A": "ro"})


def get(server, key, query, **headers):
    code, body, _ = server.raw("GET", "/v1/events?" + query, headers={"x-api-key": key, **headers})
    assert code == 200, body
    return body


def test_long_poll(server, sdk, two, root_key, agent_m):
    a, b, key_a = two
    ms = sdk.beta.memory_stores
    mem = ms.memories.create(a.id, path="/x/one.md", content="1")
    ms.memories.create(b.id, path="/two.md", content="2")
    agent_m.write("A", "/x/one.md", b"1 again")

    every = get(server, root_key, "after=0&timeout=0")
    ops = [(e["store_name"], e["operation"], e["path"]) for e in every["data"]]
    assert ops == [("A", "mkdir", "/"), ("B", "mkdir", "/"), ("A", "mkdir", "/x"), ("A", "create", "/x/one.md"),
                   ("B", "create", "/two.md"), ("A", "write", "/x/one.md")]
    last = every["data"][-1]
    assert every["next_cursor"] == last["cursor"] == str(last["revision"])
    assert (last["memory_id"], last["memory_store_id"], last["created_by"]) == (
        mem.id, a.id, {"type": "session_actor", "session_id": "ses_mount1"})
    assert last["memory_version_id"] == "memver_" + last["cursor"] and last["agent_id"] == "agent-7"
    assert every["data"][2]["memory_id"] is None  # a directory
    assert get(server, root_key, f"after={every['next_cursor']}&timeout=0") == {"data": [],
                                                                                "next_cursor": every["next_cursor"]}
    full = get(server, root_key, "after=0&timeout=0&view=full")["data"]
    assert [e["content"] for e in full if e["kind"] == "file"] == ["1", "2", "1 again"]

    # a key for A sees A only; its cursor still moves past B
    mine = get(server, key_a, "after=0&timeout=0")
    assert {e["store_name"] for e in mine["data"]} == {"A"} and mine["next_cursor"] == every["next_cursor"]
    only_b = get(server, root_key, f"after=0&timeout=0&memory_store_id={b.id}")
    assert {e["store_name"] for e in only_b["data"]} == {"B"}
    raw_error(server.raw("GET", f"/v1/events?memory_store_id={b.id}", headers={"x-api-key": key_a}),
              404, "not_found_error")

    # waiting: the answer comes as soon as a revision is committed
    got = {}

    def wait():
        t = time.monotonic()
        got["body"] = get(server, key_a, f"after={every['next_cursor']}&timeout=20")
        got["took"] = time.monotonic() - t

    th = threading.Thread(target=wait)
    th.start()
    time.sleep(0.4)
    ms.memories.create(b.id, path="/invisible.md", content="b")  # not for this key: it keeps waiting
    time.sleep(0.4)
    assert th.is_alive()
    ms.memories.create(a.id, path="/new.md", content="n")
    th.join(10)
    assert [e["path"] for e in got["body"]["data"]] == ["/new.md"] and 0.7 < got["took"] < 5
    t = time.monotonic()
    assert get(server, key_a, f"after={got['body']['next_cursor']}&timeout=0.5")["data"] == []
    assert 0.4 < time.monotonic() - t < 3


def test_bad_requests(server, two, root_key):
    for q in ("after=-1", "after=abc", "after=1.5", "after=" + "9" * 30, "timeout=61", "timeout=-1", "view=x"):
        raw_error(server.raw("GET", "/v1/events?" + q, headers={"x-api-key": root_key}), 400, "invalid_request_error")
    raw_error(server.raw("GET", "/v1/events?after=0"), 401, "authentication_error")
    raw_error(server.raw("GET", "/v1/events?memory_store_id=memstore_nope", headers={"x-api-key": root_key}),
              404, "not_found_error")


def read_sse(resp, n, deadline=10):
    """The next n `revision` events of a text/event-stream response."""
    out, cur = [], {}
    end = time.monotonic() + deadline
    while len(out) < n and time.monotonic() < end:
        line = resp.fp.readline().decode()
        if not line:
            break
        line = line.rstrip("\n")
        if not line:
            if cur.get("event") == "revision":
                out.append((cur["id"], json.loads(cur["data"])))
            cur = {}
        elif not line.startswith(":") and ":" in line:
            k, _, v = line.partition(":")
            cur[k] = v.lstrip()
    return out


def test_server_sent_events(server, sdk, two, root_key):
    a, b, key_a = two
    ms = sdk.beta.memory_stores
    start = get(server, root_key, "after=0&timeout=0")["next_cursor"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", f"/v1/events?after={start}", headers={"x-api-key": key_a, "accept": "text/event-stream"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    m1 = ms.memories.create(b.id, path="/b.md", content="hidden")
    m2 = ms.memories.create(a.id, path="/a.md", content="seen")
    ms.memories.update(m2.id, memory_store_id=a.id, path="/moved.md")
    evs = read_sse(resp, 2)
    assert [(e["operation"], e["path"], e["old_path"]) for _, e in evs] == [("create", "/a.md", None),
                                                                             ("rename", "/moved.md", "/a.md")]
    assert all(i == e["cursor"] for i, e in evs) and m1.id not in {e["memory_id"] for _, e in evs}
    conn.close()
    # resume where it stopped, by Last-Event-ID
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/v1/events", headers={"x-api-key": root_key, "accept": "text/event-stream",
                                               "last-event-id": evs[0][0]})
    again = read_sse(conn.getresponse(), 1)
    assert again[0][1]["path"] == "/moved.md"
    conn.close()


def test_memfs_log_follow_json(db_path, m, store, tmp_path):
    m.write(store, "/before.md", b"0")
    head = m.head()
    env = {**os.environ, "MEMFS_DB": db_path}
    out = open(tmp_path / "follow.out", "w+")
    p = subprocess.Popen([*MEMFS, "log", "--follow", "--json", "team-sre"], env=env,
                         stdout=out, stderr=subprocess.PIPE)
    def printed():
        return [json.loads(x) for x in open(tmp_path / "follow.out").read().splitlines()]

    try:
        deadline = time.monotonic() + 20
        n = 0
        while not printed():  # probe until it follows (it starts from now, whenever now is)
            assert time.monotonic() < deadline and p.poll() is None
            n += 1
            m.write(store, "/probe.md", str(n).encode())
            time.sleep(0.1)
        w1 = m.write(store, "/a.md", b"1").revision
        other = m.create_store("other")
        m.write(other, "/elsewhere.md", b"x")  # another store: filtered out
        w2 = m.rename(store, "/a.md", "/b.md")
        while time.monotonic() < deadline and printed()[-1]["id"] != w2.id:
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
    lines = printed()
    probes = [x for x in lines if x["path"] == "/probe.md"]
    assert probes and "/before.md" not in {x["path"] for x in lines}
    assert [x["id"] for x in lines] == sorted(x["id"] for x in lines)  # oldest first, each once
    assert [(x["id"], x["op"], x["path"]) for x in lines[len(probes):]] == [(w1.id, "create", "/a.md"),
                                                                             (w2.id, "rename", "/b.md")]
    assert p.returncode == 130 and b"Traceback" not in p.stderr.read()
    # resume from a cursor: everything after it, then follow
    p = subprocess.Popen([*MEMFS, "log", "-f", "--nl", "--after", str(head)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # every probe written (n), also those written before the first follower started
        got = [json.loads(p.stdout.readline()) for _ in range(n + 4)]
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
    assert [x["id"] for x in got] == sorted(x["id"] for x in got) and got[0]["path"] == "/probe.md"
    assert {x["store_name"] for x in got} == {"team-sre", "other"}
    r = subprocess.run([*MEMFS, "log", "-f", "--csv"], env=env, capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and r.stderr.startswith("Error: --follow prints")
