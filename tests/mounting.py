"""Helpers for tests that mount: run the real CLI, describe a live mount, wait for a condition."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# the installed entry point, as users run it
MEMFS = [os.path.join(os.path.dirname(sys.executable), "memfs")]


def fuse_usable() -> bool:
    return os.path.exists("/dev/fuse") and os.access("/dev/fuse", os.R_OK | os.W_OK) and bool(
        subprocess.run(["which", "fusermount3"], capture_output=True).stdout)


def memfs(db, *args, check=True, env=None, timeout=60, prefix=()):
    """Run the CLI; `prefix` runs it under another command (`unshare --net`: another "host")."""
    p = subprocess.run([*prefix, *MEMFS, "--db", db, *args], capture_output=True, text=True, timeout=timeout,
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


def mounted() -> set:
    with open("/proc/mounts") as f:
        return {line.split()[1] for line in f}


def wait_for(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def interrupt(proc: subprocess.Popen, timeout: float = 15) -> int:
    """Stop a server as Ctrl-C does (SIGINT), killing it if it does not end in time; its status."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
