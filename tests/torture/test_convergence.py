"""Convergence under contention: agents on several mounts of one store do read-modify-write
cycles with plain shell tools (no xattrs), while clients of the HTTP API (`memfs serve`) do the
same with preconditions. When they settle, every acknowledged marker is in the file exactly once, every
refused write was refused with ESTALE (or PreconditionFailed) and its content is in the conflicts
record, and each file's revision chain is unbroken."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from memfs import Memfs
from mounting import MEMFS, wait_for

MOUNTS = int(os.environ.get("MEMFS_TORTURE_MOUNTS", "4"))
API_WRITERS = 2
CYCLES = int(os.environ.get("MEMFS_TORTURE_CYCLES", "40"))
FILES = ["notes.md", "lessons.md"]

# One agent: read the file, add a marker line, write it back with `>`; on "Stale file handle"
# read again and retry. Prints ACK/REFUSED lines. ($TMPDIR is outside the mount.)
SHELL_AGENT = r"""
cd "$1"; tag=$2; cycles=$3
for i in $(seq 1 $cycles); do
  f=$([ $((i % 2)) -eq 0 ] && echo notes.md || echo lessons.md)
  m="MARK-$tag-$i"
  for try in $(seq 1 200); do
    # read, add a line, write the new version back with one write() (cat), so that a refusal
    # holds the whole attempted content
    { cat $f; echo "$m"; } > "$TMPDIR/$tag.new"
    if err=$( { cat "$TMPDIR/$tag.new" > $f; } 2>&1 ); then echo "ACK $f $m"; break; fi
    case "$err" in *"Stale file handle"*) echo "REFUSED $f $m";; *) echo "ERROR $f $m $err"; exit 1;; esac
    sleep 0.0$((RANDOM % 5))
  done
done
"""

API_AGENT = r"""
import http.client, json, random, sys, time
port, key, store, cycles = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[5])
tag, ids = sys.argv[4], json.loads(sys.argv[6])

def call(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"x-api-key": key, "content-type": "application/json"})
    r = c.getresponse()
    out = (r.status, json.loads(r.read()))
    c.close()
    return out

for i in range(1, cycles + 1):
    name = "notes.md" if i % 2 == 0 else "lessons.md"
    url = f"/v1/memory_stores/{store}/memories/{ids[name]}"
    mark = f"MARK-{tag}-{i}"
    while True:
        status, mem = call("GET", url)
        assert status == 200, mem
        new = mem["content"].rstrip("\n") + "\n" + mark + "\n"
        status, body = call("POST", url, {"content": new, "precondition": {
            "type": "content_sha256", "content_sha256": mem["content_sha256"]}})
        if status == 200:
            print("ACK", name, mark, flush=True)
            break
        assert status == 409 and body["error"]["type"] == "memory_precondition_failed_error", (status, body)
        print("REFUSED", name, mark, flush=True)
        time.sleep(random.random() / 50)
"""


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def port_open(port):
    with socket.socket() as sk:
        return sk.connect_ex(("127.0.0.1", port)) == 0


def test_no_lost_update_across_mounts_and_api(seeded, mounter, record, tmp_path, request):
    _converge(seeded, mounter, record, tmp_path, request)


def _other_host() -> list:
    """The prefix that starts a daemon in a network namespace of its own, where the machine
    allows it (it then reaches PostgreSQL by its Unix socket, as another host would by TCP)."""
    ok = subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
    return ["unshare", "--net"] if ok else []


@pytest.mark.postgresql_only
def test_no_lost_update_across_hosts_sharing_postgresql(seeded, mounter, record, tmp_path, request):
    """The same contention with each mount daemon as a separate host: its own process and
    caches, its own network namespace, one PostgreSQL between them (changes reach the others by
    NOTIFY and the revision feed, preconditions are decided in the database)."""
    prefix = _other_host()
    mounts = _converge(seeded, mounter, record, tmp_path, request, prefix=prefix)
    if prefix:
        nets = {os.readlink(f"/proc/{mt.pid}/ns/net") for mt in mounts}
        assert len(nets) == len(mounts) and os.readlink("/proc/self/ns/net") not in nets


def _converge(db, mounter, record, tmp_path, request, prefix=()):
    with Memfs(db) as m:
        s = m.create_store("s")
        ids = {f: "mem_%d" % m.write(s, "/" + f, b"# shared\n").node.id for f in FILES}
        _, key = m.create_api_key(stores={"s": "rw"}, name="convergence")
        head0 = m.head()
    port = free_port()
    server = subprocess.Popen([*MEMFS, "--db", db, "serve", "--port", str(port), "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    request.addfinalizer(server.kill)
    assert wait_for(lambda: port_open(port), timeout=15), "memfs serve did not start"
    mounts = [mounter("s=rw", agent=f"agent{i}", session=f"sess{i}", name=f"m{i}", prefix=prefix)
              for i in range(MOUNTS)]
    procs = [subprocess.Popen(["bash", "-c", SHELL_AGENT, "agent", str(mt.path), f"sh{i}", str(CYCLES)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
             for i, mt in enumerate(mounts)]
    procs += [subprocess.Popen([sys.executable, "-c", API_AGENT, str(port), key, s.uid, f"api{i}", str(CYCLES),
                                json.dumps(ids)], stdout=subprocess.PIPE, text=True) for i in range(API_WRITERS)]
    lines = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-2000:]
        lines += out.splitlines()
    acked = [ln.split()[1:] for ln in lines if ln.startswith("ACK")]
    refused = [ln.split()[1:] for ln in lines if ln.startswith("REFUSED")]
    assert not [ln for ln in lines if ln.startswith("ERROR")]
    assert len(acked) == (MOUNTS + API_WRITERS) * CYCLES

    with Memfs(db) as m:
        found = lost = 0
        missing_marks = []
        for f in FILES:
            text = m.read("s", f"/{f}").decode()
            marks = re.findall(r"MARK-\S+", text)
            assert len(marks) == len(set(marks)), f"a marker appears twice in {f}"
            for ff, mark in acked:
                if ff == f:
                    ok = mark in marks
                    found += ok
                    lost += not ok
                    if not ok:
                        missing_marks.append(mark)
            # each file's chain: every revision builds on the one before
            hist = list(reversed(m.history("s", f"/{f}")))
            for prev, cur in zip(hist, hist[1:]):
                assert cur.prev_sha256 == prev.sha256 and cur.base_rev == prev.id
        # every refusal through a mount left its content in the conflicts record
        conflicts = m.conflicts("s")
        kept = " ".join(m.blob(c.sha256).decode() for c in conflicts if c.sha256)
        mount_refusals = [(f, mark) for f, mark in refused if mark.startswith("MARK-sh")]
        api_writes = [r for r in m.log("s") if r.id > head0 and r.actor == "api"]
        missing = [mark for _, mark in mount_refusals if mark not in kept]
        writes = len([r for r in m.log("s") if r.id > head0 and r.op == "write"])
    record(ops=len(acked) + len(refused), faults=len(refused), acked=len(acked), found=found, lost=lost)
    assert lost == 0, f"{lost} acknowledged markers are missing: {missing_marks[:30]}"
    assert refused, "no contention happened: the test proved nothing"
    assert missing == [], f"refused content not in .memfs/conflicts: {missing[:5]}"
    assert writes == len(acked), "a write landed that nobody acknowledged, or one was counted twice"
    assert len(api_writes) == API_WRITERS * CYCLES and all(r.api_key_id for r in api_writes)
    return mounts
