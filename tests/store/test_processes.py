"""Real processes on one SQLite file: concurrent writers with preconditions (no lost update), a
writer killed with SIGKILL mid-run (the database opens clean, nothing acknowledged is missing), and
processes opening a fresh database at the same moment."""

import collections
import os
import signal
import subprocess
import sys
import time

from memfs import Identity, Memfs

from storehelpers import run_worker

NPROC, CYCLES, NFILES = 8, 25, 3


def _acks(text):
    out = []
    for line in text.splitlines():
        if line.startswith("ACK "):
            _, path, marker, rev = line.split()
            out.append((path, marker, int(rev)))
    return out


def test_concurrent_append_with_if_match_loses_nothing(m, db_path):
    s = m.create_store("conc")
    for i in range(NFILES):
        m.write(s, f"/shared/f{i}", b"")
    start = m.head()
    m.close()  # the workers are the only writers now

    procs = [run_worker("append", db_path, "conc", w, CYCLES, NFILES, stdin=subprocess.PIPE) for w in range(NPROC)]
    for p in procs:  # all open, then all go at once
        assert p.stdout.readline().strip() == "READY", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outputs.append(out)
    acks = [a for out in outputs for a in _acks(out)]
    retries = sum(int(out.strip().splitlines()[-1].split()[1]) for out in outputs)
    assert len(acks) == NPROC * CYCLES
    assert len({rev for _, _, rev in acks}) == len(acks)  # every acknowledged revision is its own

    with Memfs(db_path) as mem:
        per_file = collections.defaultdict(list)
        for path, marker, rev in acks:
            per_file[path].append(marker)
        for path, markers in per_file.items():
            lines = mem.read("conc", path).decode().splitlines()
            counts = collections.Counter(lines)
            # every acknowledged marker is there exactly once, and nothing else is
            assert all(counts[mk] == 1 for mk in markers), path
            assert sorted(lines) == sorted(markers), path

            # the revision chain of the file is unbroken: each write replaced the one before it
            hist = list(reversed(mem.history("conc", path)))
            assert hist[0].op == "create"
            writes = hist[1:]
            assert len(writes) == len(markers)
            for prev, cur in zip(hist, hist[1:]):
                assert cur.op == "write"
                assert cur.prev_sha256 == prev.sha256
                assert cur.base_rev == prev.id and cur.id > prev.id
                # each revision added exactly one line, by the agent that acknowledged it
                before = mem.blob(prev.sha256).decode().splitlines()
                after = mem.blob(cur.sha256).decode().splitlines()
                assert after[:-1] == before
                assert cur.agent == "worker-" + after[-1].split("-")[0][1:]
                assert cur.session == "ses-" + after[-1].split("-")[0][1:]

        # the acknowledged revision ids are exactly the revisions written, and the feed has them all
        feed = mem.changes(after=start, limit=10_000)
        assert sorted(r.id for r in feed) == sorted(rev for _, _, rev in acks)
        assert mem.doctor().ok
    # with 8 writers on 3 files, preconditions must actually have refused stale writes
    assert retries > 0, retries


def _run_and_kill(db_path, rnd, after):
    """Start the writer, read acknowledgements until `after` of them, SIGKILL it mid-run."""
    p = run_worker("killwriter", db_path, "victim", rnd)
    acked, files = [], []
    deadline = time.time() + 30
    try:
        while len(acked) < after:
            assert time.time() < deadline, "the writer made no progress"
            line = p.stdout.readline()
            assert line, p.stderr.read()
            if line.startswith("ACK "):
                acked.append(_acks(line)[0])
            elif line.startswith("ACKFILE "):
                files.append(line.split()[1:])
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
    assert p.returncode == -signal.SIGKILL
    # whatever it printed after our last read was acknowledged too
    rest = p.stdout.read()
    acked += _acks(rest)
    files += [ln.split()[1:] for ln in rest.splitlines() if ln.startswith("ACKFILE ")]
    assert len(acked) >= after
    return acked, files


def test_writer_killed_with_sigkill_loses_nothing_acknowledged(m, db_path):
    m.create_store("victim")
    m.close()
    acked, files = [], []
    for rnd, after in enumerate((60, 150, 90)):
        a, f = _run_and_kill(db_path, rnd, after)
        acked += a
        files += f
        # after every kill the database opens clean and holds everything acknowledged so far
        with Memfs(db_path, identity=Identity(agent="after", session="s", actor="agent")) as mem:
            rep = mem.doctor()
            assert rep.ok, rep.problems
            contents = {}
            for path, marker, rev in acked:
                assert mem.revision(rev).path == path
                if path not in contents:
                    contents[path] = [ln.split(b" ")[0].decode() for ln in mem.read("victim", path).splitlines()]
                assert contents[path].count(marker) == 1, (path, marker)
            for path, marker in files:
                assert mem.read("victim", path).endswith(marker.encode())
            # the revision chains are unbroken
            for i in range(4):
                hist = list(reversed(mem.history("victim", f"/log/f{i}")))
                for prev, cur in zip(hist, hist[1:]):
                    assert cur.prev_sha256 == prev.sha256 and cur.id > prev.id
    # and the database takes writes again
    with Memfs(db_path) as mem:
        assert mem.write("victim", "/after-crash", b"fine").changed
        assert mem.doctor().ok


def test_processes_open_a_fresh_database_at_once(tmp_path):
    """Several mounts starting together on a database nobody created yet: one migration, no error."""
    db = str(tmp_path / "fresh" / "memfs.db")
    code = (
        "import sys\n"
        "from memfs import Memfs\n"
        "m = Memfs(sys.argv[1])\n"
        "s = m.create_store('store-' + sys.argv[2])\n"
        "for i in range(5):\n"
        "    m.write(s, f'/f{i}', sys.argv[2].encode())\n"
        "print('ok', flush=True)\n"
    )
    nproc = 6
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    procs = [subprocess.Popen([sys.executable, "-c", code, db, str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(nproc)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "ok", err
    with Memfs(db) as mem:
        assert sorted(s.name for s in mem.list_stores()) == sorted(f"store-{i}" for i in range(nproc))
        for i in range(nproc):
            assert mem.read(f"store-{i}", "/f4") == str(i).encode()
        from memfs.backends.schema import MIGRATIONS

        assert mem.db.migrations() == sorted(name for name, _ in MIGRATIONS)  # each applied once
        assert mem.doctor().ok
