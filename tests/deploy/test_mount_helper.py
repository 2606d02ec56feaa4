"""`mount -t fuse.memfs` and /etc/fstab, for real: mount(8) -> mount.fuse3 -> `memfs SOURCE DIR -o ...`,
then `umount`. mount(8) runs helpers with a clean PATH (/usr/local/bin, /usr/bin, ...), so each test
works in a private mount namespace where /usr/local/bin holds a link to this venv's `memfs`, as the
install instructions have the user make on the host (docs/mounting.md)."""

import os
import subprocess
import sys

import pytest

from memfs import Memfs
from memfs import errors
from memfs.mounthelper import parse_options
from mounting import fuse_usable, wait_for

BIN = os.path.dirname(sys.executable)
needs_root = pytest.mark.skipif(not fuse_usable() or os.geteuid() != 0,
                                reason="needs FUSE and root (mount(8) of a fuse.* type)")


@pytest.fixture
def host(namespace, tmp_path):
    """A mount namespace whose /usr/local/bin has `memfs` (a link to this venv's) and nothing else."""
    ns = namespace("--propagation", "private")
    localbin = tmp_path / "usr-local-bin"
    localbin.mkdir()
    os.symlink(os.path.join(BIN, "memfs"), localbin / "memfs")
    ns.run("mount", "--bind", localbin, "/usr/local/bin", check=True)
    return ns


def daemon_pids(mp):
    out = subprocess.run(["pgrep", "-f", f"memfs.fuse.daemon.*{mp}"], capture_output=True, text=True).stdout
    return out.split()


@needs_root
def test_mount_t_fuse_memfs_then_umount(seeded, tmp_path, host):
    mp = tmp_path / "memory"
    mp.mkdir()
    p = host.run("mount", "-t", "fuse.memfs", "-o",
                 "store=team-sre=rw,store=org-knowledge=ro,agent=fstab-agent,session=boot-1,_netdev,nofail",
                 seeded, mp)
    assert p.returncode == 0, p.stderr
    view = host.path(mp)
    try:
        assert host.mounts()[str(mp)] == "fuse.memfs"
        assert sorted(os.listdir(view)) == ["org-knowledge", "team-sre"]
        assert (view / "org-knowledge" / "policies" / "oncall.md").read_text().startswith("Page the secondary")
        (view / "team-sre" / "boot.md").write_text("mounted from fstab\n")
        with pytest.raises(OSError):  # the ro scope holds
            (view / "org-knowledge" / "x.md").write_text("no")
    finally:
        u = host.run("umount", mp)
    assert u.returncode == 0, u.stderr
    assert str(mp) not in host.mounts()
    with Memfs(seeded) as m:
        r = m.history("team-sre", "/boot.md")[0]
        assert (r.agent, r.session) == ("fstab-agent", "boot-1")
    # the daemon ends with its file system
    assert wait_for(lambda: not daemon_pids(mp), timeout=10)


@needs_root
def test_an_fstab_line(seeded, tmp_path, host):
    mp = tmp_path / "mnt"
    mp.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(f"# the line a user adds to /etc/fstab\n"
                     f"{seeded}  {mp}  fuse.memfs  stores=team-sre=rw:org-knowledge=ro,agent=fstab-agent,noauto  0  0\n")
    p = host.run("mount", "--fstab", fstab, mp)
    assert p.returncode == 0, p.stderr
    try:
        assert sorted(os.listdir(host.path(mp))) == ["org-knowledge", "team-sre"]
    finally:
        assert host.run("umount", mp).returncode == 0
    assert str(mp) not in host.mounts()


@needs_root
def test_the_direct_helper_and_ro(seeded, tmp_path, host):
    """mount.fuse.memfs, as mount(8) calls it when installed in /sbin; `ro` narrows every store."""
    mp = tmp_path / "ro"
    mp.mkdir()
    p = host.run("mount.fuse.memfs", "memfs", mp, "-o", f"rw,ro,db={seeded},store=team-sre=rw")
    assert p.returncode == 0, p.stderr
    try:
        with pytest.raises(OSError):
            (host.path(mp) / "x.md").write_text("no")
    finally:
        assert host.run("umount", mp).returncode == 0


@needs_root
def test_bad_options_are_one_line_and_mount_nothing(seeded, tmp_path, host):
    mp = tmp_path / "bad"
    mp.mkdir()
    p = host.run("mount", "-t", "fuse.memfs", "-o", "store=team-sre,colour=blue", seeded, mp)
    assert p.returncode != 0
    assert "Error: unknown mount option 'colour=blue'" in p.stderr and "Traceback" not in p.stderr
    p = host.run("mount", "-t", "fuse.memfs", "-o", "agent=a", seeded, mp)
    assert p.returncode != 0 and "give the stores to mount" in p.stderr
    p = host.run("mount", "-t", "fuse.memfs", "-o", "store=nope", seeded, mp)
    assert p.returncode != 0 and "nope" in p.stderr and "Traceback" not in p.stderr
    assert str(mp) not in host.mounts()


def test_parse_options():
    assert parse_options("/var/lib/memfs/memfs.db", "/mnt/memory", "store=a,store=b=ro,agent=x,allow_other") == [
        "--db", "/var/lib/memfs/memfs.db", "mount", "/mnt/memory", "--store", "a", "--store", "b=ro",
        "--agent", "x", "--allow-other"]
    assert parse_options("memfs", "/m", "stores=a=rw:b,ro,defaults,x-systemd.automount") == [
        "mount", "/m", "--store", "a=ro", "--store", "b=ro"]
    assert parse_options("memfs", "/m", "db=postgresql://h/memfs,store=a")[:2] == ["--db", "postgresql://h/memfs"]
    with pytest.raises(errors.InvalidInput):
        parse_options("memfs", "/m", "store=a,uid=3")


def test_the_cli_is_unchanged_when_not_called_as_a_helper(tmp_path):
    sh = lambda *cmd: subprocess.run(  # noqa: E731
        [os.path.join(BIN, cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=60)
    p = sh("memfs", "--version")
    assert p.returncode == 0 and p.stdout.startswith("memfs, version")
    p = sh("memfs", "nosuchcommand", str(tmp_path))  # no -o: an ordinary usage error, not a mount
    assert p.returncode == 2 and "No such command" in p.stderr
