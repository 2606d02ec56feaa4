"""Shared by the replication tests: a store with every kind of change, the memfs command as a
real process, and the comparison of two histories revision by revision."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from memfs import Identity, Memfs

# the memfs command, as its console script runs it
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]
ATTRIBUTION = ("op", "kind", "path", "old_path", "sha256", "prev_sha256", "size", "mode", "created_at", "agent",
               "session", "actor", "dream_job", "api_key_id", "message", "redacted_at", "redacted_by")

ALICE = Identity(agent="alice", session="ses_a", actor="agent")
BOB = Identity(agent="bob", session="ses_b", actor="agent")
OPS = Identity(agent="ops", actor="operator")
DREAM = Identity(agent="dreamer", actor="dream", dream_job="drm_0001")
API = Identity(agent="pipeline", actor="api", api_key_id="apikey_0001")


def memfs(db, *args, timeout=60, env=None):
    """Run `memfs --db DB ARGS` as a process -> CompletedProcess (text)."""
    return subprocess.run([*MEMFS, "--db", db, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(p, code=None):
    assert p.returncode != 0, p
    if code is not None:
        assert p.returncode == code, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    return lines[0]


def build_history(m: Memfs) -> dict:
    """Two stores whose history holds every operation: creates and writes by several agents,
    sessions and actors, a binary file, symlinks, chmods of files and directories, a directory
    rename, a rename replacing a file, deletes, a recursive removal, a revert, a redaction and
    a message. Returns {'redacted': revision id}."""
    s = m.create_store("kb", "what the team knows", metadata={"team": "sre"}, identity=OPS)
    m.write(s, "/notes/a.md", b"alpha\n", identity=ALICE, message="first note")
    m.write(s, "/notes/a.md", b"alpha\nbeta\n", identity=BOB)
    m.mkdir(s, "/dir/sub", parents=True, identity=ALICE)
    m.write(s, "/dir/sub/c.txt", b"c\n", identity=ALICE)
    m.write(s, "/bin.dat", bytes(range(256)), mode=0o640, identity=BOB)
    m.symlink(s, "/dir/link", "sub/c.txt", identity=ALICE)
    m.chmod(s, "/notes/a.md", 0o600, identity=OPS)
    m.chmod(s, "/dir", 0o700, identity=OPS)
    m.rename(s, "/dir", "/moved", identity=BOB)
    m.rename(s, "/notes/a.md", "/notes/b.md", identity=ALICE, message="renamed")
    m.write(s, "/notes/c.md", b"to be replaced\n", identity=ALICE)
    m.rename(s, "/notes/b.md", "/notes/c.md", identity=BOB)  # replaces c.md (its deletion, then the rename)
    m.delete(s, "/bin.dat", identity=OPS)
    secret = m.write(s, "/secret.txt", b"token=hunter2\n", identity=API).revision.id
    m.write(s, "/secret.txt", b"token=<removed>\n", identity=API)
    m.redact(secret, identity=OPS)
    mid = m.store_head(s)
    m.remove_tree(s, "/moved/sub", identity=DREAM)
    m.write(s, "/moved/summary.md", "résumé ✓\n".encode(), identity=DREAM, message="dream applied")
    m.delete(s, "/notes/c.md", identity=OPS)
    m.rmdir(s, "/notes", identity=OPS)
    m.revert(s, mid, identity=OPS)  # brings /moved/sub and /notes back, removes summary.md
    o = m.create_store("other", identity=BOB)
    m.write(o, "/x.md", b"x\n", identity=BOB)
    return {"redacted": secret}


def entries(tree: dict) -> dict:
    return {p: (e.kind, e.sha256, e.size, e.mode) for p, e in tree.items()}


def assert_same_history(src: Memfs, dst: Memfs, store, dst_store=None, *, trees=True) -> int:
    """The two stores have the same revisions, one for one and in order, with the same
    attribution, and the same tree at every revision. Returns the number of revisions."""
    a = src.log(store, newest_first=False)
    b = dst.log(dst_store or store, newest_first=False)
    assert [r.op for r in a] == [r.op for r in b], "the histories differ"
    for ra, rb in zip(a, b):
        for f in ATTRIBUTION:
            assert getattr(ra, f) == getattr(rb, f), f"revision {ra.id} -> {rb.id}: {f} {getattr(ra, f)!r} != {getattr(rb, f)!r}"
        if trees:
            assert entries(src.tree(store, ra.id)) == entries(dst.tree(dst_store or store, rb.id)), \
                f"trees differ at revision {ra.id} -> {rb.id}"
    assert entries(src.tree(store)) == entries(dst.tree(dst_store or store))
    for p, e in src.tree(store).items():
        if e.kind != "dir":
            assert src.read(store, p) == dst.read(dst_store or store, p)
    return len(a)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(db, log_path):
    """(url, keys by name) of a real `memfs serve` process over the database `db`."""
    with Memfs(db) as m:
        keys = {"root": m.create_api_key(all_stores="rw", name="root")[1],
                "reader": m.create_api_key(all_stores="ro", name="reader")[1],
                "one-store": m.create_api_key(stores={m.create_store("elsewhere").name: "rw"}, name="one-store")[1]}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "w")
    p = subprocess.Popen([*MEMFS, "--db", db, "serve", "--port", str(port), "--log-level", "warning"],
                         stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                req = urllib.request.Request(url + "/v1/memfs/replication", headers={"x-api-key": keys["root"]})
                with urllib.request.urlopen(req, timeout=2) as r:
                    assert json.loads(r.read())["database_id"].startswith("db_")
                break
            except OSError:
                assert p.poll() is None and time.monotonic() < deadline, open(log_path).read()
                time.sleep(0.1)
        yield url, keys
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        log.close()
    assert "Traceback" not in open(log_path).read()
