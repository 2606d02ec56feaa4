"""Real FUSE mounts for tests: the `memfs mount` command starts a daemon in the background on a
directory under tmp_path; every mount is unmounted at the end, whatever happened."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memfs import Identity, Memfs

MEMFS = [sys.executable, "-m", "memfs.cli"]


def fuse_usable() -> bool:
    return os.path.exists("/dev/fuse") and os.access("/dev/fuse", os.R_OK | os.W_OK) and bool(
        subprocess.run(["which", "fusermount3"], capture_output=True).stdout)


pytestmark = pytest.mark.skipif(not fuse_usable(), reason="FUSE is not usable here (/dev/fuse, fusermount3)")


def memfs(db, *args, check=True, env=None, timeout=60):
    p = subprocess.run([*MEMFS, "--db", db, *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"memfs {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


class Mount:
    def __init__(self, db, path: Path, pid: int, session: str, log: str):
        self.db, self.path, self.pid, self.session, self.log = db, path, pid, session, log

    def __truediv__(self, other):
        return self.path / other

    def __fspath__(self):
        return str(self.path)

    def log_text(self):
        try:
            return Path(self.log).read_text()
        except OSError:
            return ""


@pytest.fixture
def mounter(db_path, tmp_path):
    """mounter('team-sre=rw', 'org=ro', agent='a1', session='s1') -> Mount (a live mount)."""
    mounts: list[Mount] = []

    def mount(*stores, agent="agent-1", session=None, name=None):
        mp = tmp_path / (name or f"mnt{len(mounts)}")
        mp.mkdir(exist_ok=True)
        log = str(tmp_path / f"{mp.name}.log")
        args = ["mount", str(mp), "--agent", agent, "--log", log]
        for s in stores:
            args += ["--store", s]
        if session:
            args += ["--session", session]
        p = memfs(db_path, *args)
        # "mounted ... (session S, pid N, log L)"
        info = p.stdout.rsplit("(", 1)[1].rstrip(")\n")
        fields = dict(part.strip().split(" ", 1) for part in info.split(","))
        m = Mount(db_path, mp, int(fields["pid"]), fields["session"], log)
        mounts.append(m)
        return m

    yield mount
    for m in mounts:
        if os.path.realpath(m.path) in _mounted():
            memfs(db_path, "umount", str(m.path), check=False, timeout=30)
        if os.path.realpath(m.path) in _mounted():
            subprocess.run(["fusermount3", "-u", "-z", str(m.path)], capture_output=True)
        try:
            os.kill(m.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    bad = [m for m in mounts if "Traceback" in m.log_text() or "ERROR" in m.log_text()]
    assert not bad, "a mount daemon logged an error:\n" + "\n".join(m.log_text() for m in bad)


def _mounted():
    with open("/proc/mounts") as f:
        return {line.split()[1] for line in f}


@pytest.fixture
def seeded(db_path):
    """A database with a store 'team-sre' and an 'org-knowledge' store holding one file."""
    with Memfs(db_path, identity=Identity(agent="seed", actor="operator")) as m:
        m.create_store("team-sre", "SRE notes")
        org = m.create_store("org-knowledge", "What the org knows")
        m.write(org, "/policies/oncall.md", b"Page the secondary after 15 minutes.\n")
    return db_path


def wait_for(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


@pytest.fixture
def cli(db_path):
    """cli('mounts', check=False) -> CompletedProcess of the real `memfs` command on the test database."""

    def run(*args, **kw):
        return memfs(db_path, *args, **kw)

    return run


@pytest.fixture
def two_agents(seeded, mounter):
    """Two mounts of team-sre in two daemons: alice (session sa) and bob (session sb)."""
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    return a, b


@pytest.fixture
def small_store(seeded):
    """A store 'small' that accepts at most 100 bytes per file."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        m.create_store("small", "tiny files only", max_content_bytes=100)
    return "small"
