"""contrib/systemd/memfs-mount@.service: `systemd-analyze verify` (no warning either), and its
commands run the way systemd would run them (PID 1 here is not systemd): the instance's
EnvironmentFile, ExecStart with $VAR split on spaces, ExecStartPost waiting for the mount, SIGTERM
on stop (commit, unmount, exit 0), and a start after the daemon was killed -9 (Restart=on-failure)."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memfs import Memfs
from mounting import fuse_usable, mounted, wait_for

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "memfs-mount@.service"
EXAMPLE = ROOT / "contrib" / "systemd" / "memfs-mount.conf.example"
MEMFS = os.path.join(os.path.dirname(sys.executable), "memfs")


def unit_text():
    # the unit names the usual install location; verify checks that the program exists
    return UNIT.read_text().replace("/usr/local/bin/memfs", MEMFS)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("name", ["memfs-mount@.service", "memfs-dream.service", "memfs-dream.timer"])
def test_systemd_analyze_verify(tmp_path, name):
    units = tmp_path / "units"
    units.mkdir()
    for f in (ROOT / "contrib" / "systemd").iterdir():
        (units / f.name).write_text(f.read_text().replace("/usr/local/bin/memfs", MEMFS))
    target = units / name.replace("@.", "@memory.")
    p = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # unknown keys and bad values are only warnings to systemd: fail on them too
    assert not [line for line in p.stderr.splitlines() if str(units) in line], p.stderr


def directive(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def expand(cmdline, env):
    """systemd's rules: ${VAR} is one word, a bare $VAR is split on whitespace."""
    words = []
    for w in cmdline.split():
        m = re.fullmatch(r"\$(\w+)", w)
        if m:
            words += env.get(m.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda mm: env.get(mm.group(1), ""), w))
    return words


def read_env_file(path):
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines()
                if line.strip() and not line.startswith("#"))


@pytest.mark.skipif(not fuse_usable(), reason="FUSE is not usable here")
def test_the_unit_commands_mount_restart_and_stop_cleanly(seeded, tmp_path):
    text = unit_text()
    assert directive(text, "Restart") == ["on-failure"] and directive(text, "KillSignal") == ["SIGTERM"]
    mp = tmp_path / "memory"
    mp.mkdir()
    conf = tmp_path / "memory.conf"  # the example, pointed at this test's database and directory
    conf.write_text(EXAMPLE.read_text().replace("/var/lib/memfs/memfs.db", seeded).replace("/mnt/memory", str(mp)))
    env = {**os.environ, **read_env_file(conf)}
    env.pop("MEMFS_AGENT", None)
    start, = (expand(c, env) for c in directive(text, "ExecStart"))
    post, = directive(text, "ExecStartPost")
    pre, = (expand(c.lstrip("-"), env) for c in directive(text, "ExecStartPre"))

    def start_unit():
        subprocess.run(pre, env=env, capture_output=True)  # "-": its failure is ignored
        proc = subprocess.Popen(start, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sh = re.fullmatch(r"/bin/sh -c '(.*)'", post).group(1)
        assert subprocess.run(["/bin/sh", "-c", sh], env=env, timeout=60).returncode == 0, "ExecStartPost failed"
        return proc

    proc = start_unit()
    assert sorted(os.listdir(mp)) == ["org-knowledge", "team-sre"]
    # the daemon dies: the mount is left dead until the restart clears it
    proc.kill()
    proc.wait()
    proc = start_unit()
    try:
        assert proc.poll() is None, proc.stderr.read()
        fd = os.open(mp / "team-sre" / "boot.md", os.O_WRONLY | os.O_CREAT)  # still open when the unit stops
        os.write(fd, b"written before stop\n")
        proc.send_signal(signal.SIGTERM)  # systemctl stop
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        with pytest.raises(OSError):  # the file system is gone; what was written is committed
            os.close(fd)
    except BaseException:
        proc.kill()
        print(proc.stderr.read())
        subprocess.run(["fusermount3", "-u", "-z", str(mp)])
        raise
    assert wait_for(lambda: str(mp) not in mounted())
    with Memfs(seeded) as m:
        assert m.read("team-sre", "/boot.md") == b"written before stop\n"
        assert m.history("team-sre", "/boot.md")[0].agent == "build-bot"
