"""What tools hit at the edges of the mount, each found by trying them on a real mount: paths over
the store's limit, files created with mknod (tar), copying extended attributes (rsync -X, tar
--xattrs), an append under an armed if-match."""

import errno
import os
import shutil
import subprocess

import pytest

from fusehelpers import bash, errno_of, sha, stored


@pytest.fixture
def mnt(seeded, mounter):
    return mounter("team-sre=rw", agent="alice", session="s-edges")


def test_a_path_over_the_limit_is_refused_at_create(mnt, seeded):
    deep = mnt / ("d" * 200)
    os.mkdir(deep)
    for i in range(3):
        deep = deep / ("e" * 200)
        os.mkdir(deep)
    rel = len(str(deep)) - len(str(mnt.path))  # the directory's path in the store
    name = "f" * (1024 - rel - 1 + 10)           # a valid name, a path 10 bytes over the limit
    assert len(name) <= 255
    assert errno_of(lambda: os.close(os.open(deep / name, os.O_CREAT | os.O_WRONLY))) == errno.ENAMETOOLONG
    p = bash(f"echo hi > {name}", str(deep))
    assert p.returncode == 1 and "File name too long" in p.stderr  # bash reports it: nothing silently lost
    assert not (deep / name).exists()


def test_mknod_of_a_regular_file_creates_it(mnt, seeded):
    os.mknod(mnt / "made.md", 0o644)
    assert (mnt / "made.md").read_bytes() == b""
    assert stored(seeded, "/made.md") == b""
    assert errno_of(os.mkfifo, mnt / "fifo") == errno.EPERM


@pytest.mark.skipif(not shutil.which("rsync"), reason="rsync is not installed")
def test_rsync_with_xattrs_copies_into_the_mount(mnt, seeded, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("a\n")
    mid = tmp_path / "mid"
    p = subprocess.run(["rsync", "-aX", f"{mnt.path}/", f"{mid}/"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (mnt / "b.md").write_text("b\n")
    for _ in range(2):  # the second run removes the attributes the source lacks: accepted, ignored
        p = subprocess.run(["rsync", "-aX", f"{src}/", f"{mnt.path}/"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
    assert stored(seeded, "/a.md") == b"a\n"
    os.removexattr(mnt / "a.md", "user.memfs.sha256")  # derived: removing it is a no-op
    assert os.getxattr(mnt / "a.md", "user.memfs.sha256").decode() == sha("a\n")
    assert errno_of(os.removexattr, mnt / "a.md", "user.other") == errno.EOPNOTSUPP


def test_tar_with_xattrs_extracts_into_the_mount(mnt, seeded, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.md").write_text("from tar\n")
    subprocess.run(["tar", "--xattrs", "-cf", str(tmp_path / "a.tar"), "-C", str(src), "t.md"], check=True)
    p = subprocess.run(["tar", "--xattrs", "-xf", str(tmp_path / "a.tar"), "-C", mnt.path], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert stored(seeded, "/t.md") == b"from tar\n"


def test_an_append_under_a_stale_if_match_is_refused_at_write(two_agents, seeded):
    a, b = two_agents
    (a / "n.md").write_text("v1\n")
    os.setxattr(b / "n.md", "user.memfs.if-match", sha("v1\n").encode())
    (a / "n.md").write_text("v2\n")
    p = bash("echo v5 >> n.md", b.path)
    assert p.returncode == 1 and "Stale file handle" in p.stderr  # bash sees it (at write, not close)
    assert stored(seeded, "/n.md") == b"v2\n"
