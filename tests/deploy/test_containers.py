"""The container recipe of docs/containers.md, with mount namespaces standing in for containers
(a container is one, plus cgroups and a root file system that change nothing here):

- the host mounts a store under a shared /mnt/memory; a container started earlier, whose bind
  mount of it is a slave (docker's `bind-propagation=rslave`), sees the mount, its writes are
  revisions, and a remount on the host (a restarted daemon) reaches it without a restart;
- the same bind mount left private (docker's default) does not see the remount: the reason for
  rslave;
- a daemon inside the container mounts there only, and without CAP_SYS_ADMIN it fails clearly."""

import os
import subprocess
import sys

import pytest

from memfs import Memfs
from conftest import Namespace
from mounting import wait_for

MEMFS = os.path.join(os.path.dirname(sys.executable), "memfs")


def ls(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return e.strerror


@pytest.fixture
def host(namespace, tmp_path, seeded):
    """The host: its own mount namespace (so nothing leaks out of the test) with /mnt/memory made a
    shared mount point, as the recipe's first step does (systemd hosts have / shared already)."""
    h = namespace("--propagation", "private")
    memory = tmp_path / "mnt-memory"
    memory.mkdir()
    h.run("mount", "--bind", memory, memory, check=True)
    h.run("mount", "--make-shared", memory, check=True)
    (memory / "team-sre").mkdir()
    return h, memory


def container(h, memory, tmp_path, propagation):
    """A container started from the host: a new mount namespace with the host's /mnt/memory bound
    at its own path (here ROOTFS/mnt/memory) with the given propagation."""
    target = tmp_path / "rootfs" / "mnt" / "memory"
    target.mkdir(parents=True, exist_ok=True)
    # nsenter, unshare and sh each exec the next: the process is the container's `sleep`
    proc = subprocess.Popen(["nsenter", "-t", str(h.pid), "-m", "unshare", "--mount", "--propagation", "unchanged",
                             "sh", "-c", f"mount --bind {memory} {target} && mount --make-{propagation} {target} "
                                         f"&& exec sleep 3600"])
    ns = Namespace(proc)
    assert wait_for(lambda: str(target) in ns.mounts(), timeout=10), "the container did not start"
    return ns, target


def host_mount(h, db, mp, session):
    return h.run(MEMFS, "--db", db, "mount", mp, "--store", "team-sre=rw", "--agent", "host-daemon",
                 "--session", session, check=True)


def test_rslave_bind_mount_follows_remounts_on_the_host(host, tmp_path, seeded):
    h, memory = host
    ctr, target = container(h, memory, tmp_path, "rslave")
    inside = ctr.path(target / "team-sre")
    try:
        assert ls(inside) == []                                   # not mounted yet
        host_mount(h, seeded, memory / "team-sre", "host-1")
        assert wait_for(lambda: ls(inside) == [])  # the mount (an empty store) reached the container
        (inside / "from-container.md").write_text("written in the container\n")
        with Memfs(seeded) as m:
            r = m.history("team-sre", "/from-container.md")[0]
            assert (r.agent, r.session) == ("host-daemon", "host-1")
        # the host restarts its daemon: unmount, mount again (a new session)
        h.run(MEMFS, "--db", seeded, "umount", memory / "team-sre", check=True)
        assert ls(inside) == []                                   # the plain directory again
        with Memfs(seeded) as m:
            m.write("team-sre", "/while-down.md", b"written while unmounted\n")
        host_mount(h, seeded, memory / "team-sre", "host-2")
        assert wait_for(lambda: ls(inside) == ["from-container.md", "while-down.md"])
        assert (inside / "while-down.md").read_text() == "written while unmounted\n"
        (inside / "again.md").write_text("after the remount\n")
        with Memfs(seeded) as m:
            assert m.history("team-sre", "/again.md")[0].session == "host-2"
    finally:
        h.run(MEMFS, "--db", seeded, "umount", memory / "team-sre")
        ctr.proc.kill()
        ctr.proc.wait()


def test_a_private_bind_mount_misses_the_remount(host, tmp_path, seeded):
    h, memory = host
    host_mount(h, seeded, memory / "team-sre", "host-1")
    ctr, target = container(h, memory, tmp_path, "rprivate")
    inside = ctr.path(target / "team-sre")
    try:
        assert ls(inside) == []     # the mount present at start is copied in
        h.run(MEMFS, "--db", seeded, "umount", memory / "team-sre", check=True)
        host_mount(h, seeded, memory / "team-sre", "host-2")
        with Memfs(seeded) as m:
            m.write("team-sre", "/new.md", b"x\n")
        # the host sees it; the container keeps its copy of the old mount, now dead or detached
        assert wait_for(lambda: ls(h.path(memory / "team-sre")) == ["new.md"])
        assert ls(inside) != ["new.md"]
    finally:
        h.run(MEMFS, "--db", seeded, "umount", memory / "team-sre")
        ctr.proc.kill()
        ctr.proc.wait()


def test_a_daemon_inside_the_container(namespace, tmp_path, seeded):
    ctr = namespace("--propagation", "private")
    mp = tmp_path / "in-container"
    mp.mkdir()
    ctr.run(MEMFS, "--db", seeded, "mount", mp, "--store", "team-sre", "--agent", "in-container", check=True)
    try:
        assert ctr.mounts().get(str(mp)) == "fuse.memfs"
        with open("/proc/mounts") as f:
            assert str(mp) not in f.read()                       # the host does not see it
        (ctr.path(mp) / "note.md").write_text("from a daemon in the container\n")
        with Memfs(seeded) as m:
            assert m.history("team-sre", "/note.md")[0].agent == "in-container"
    finally:
        ctr.run(MEMFS, "--db", seeded, "umount", mp, check=True)


def test_without_cap_sys_admin_the_mount_fails_clearly(namespace, tmp_path, seeded):
    ctr = namespace("--propagation", "private")
    mp = tmp_path / "nocap"
    mp.mkdir()
    # a container without --cap-add SYS_ADMIN: the capability is out of the bounding set, so not
    # even the setuid fusermount3 can mount
    p = ctr.run("setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin",
                MEMFS, "--db", seeded, "mount", mp, "--store", "team-sre")
    assert p.returncode == 1
    assert "CAP_SYS_ADMIN" in p.stderr and "--device /dev/fuse" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert str(mp) not in ctr.mounts()
