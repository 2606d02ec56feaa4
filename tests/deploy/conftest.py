"""A private mount namespace per test (`unshare --mount`): what is mounted in it stays in it, so
tests can bind-mount over /usr/local/bin (mount(8) runs helpers with a fixed PATH) or play a
container whose mounts follow the host's."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mounting import wait_for

BIN = os.path.dirname(sys.executable)


class Namespace:
    def __init__(self, proc: subprocess.Popen):
        self.proc, self.pid = proc, proc.pid

    def run(self, *cmd, check=False, **kw):
        """Run a command inside the namespace (PATH leads to this venv's memfs, as on the host)."""
        env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], **kw.pop("env", {})}
        p = subprocess.run(["nsenter", "-t", str(self.pid), "-m", *map(str, cmd)], capture_output=True,
                           text=True, timeout=60, env=env, **kw)
        if check:
            assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed ({p.returncode}): {p.stdout}{p.stderr}"
        return p

    def path(self, p) -> Path:
        """The namespace's view of an absolute path, from outside it."""
        return Path(f"/proc/{self.pid}/root") / str(p).lstrip("/")

    def mounts(self) -> dict:
        with open(f"/proc/{self.pid}/mounts") as f:
            return {line.split()[1]: line.split()[2] for line in f}


def start_namespace(*unshare_args) -> Namespace:
    mine = os.readlink("/proc/self/ns/mnt")
    proc = subprocess.Popen(["unshare", "--mount", *unshare_args, "sleep", "3600"])
    assert wait_for(lambda: os.readlink(f"/proc/{proc.pid}/ns/mnt") != mine, timeout=10)
    return Namespace(proc)


def stop_namespace(ns: Namespace):
    # unmount whatever memfs left there (a failed test), so its daemon ends with the namespace
    for mp, kind in sorted(ns.mounts().items(), key=lambda kv: -len(kv[0])):
        if kind == "fuse.memfs":
            ns.run("fusermount3", "-u", "-z", mp)
    ns.proc.kill()
    ns.proc.wait()


@pytest.fixture
def namespace():
    if not os.path.exists("/dev/fuse") or os.geteuid() != 0:
        pytest.skip("needs root and /dev/fuse (mount namespaces, mount(8))")
    made = []

    def make(*unshare_args):
        ns = start_namespace(*unshare_args)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        stop_namespace(ns)
