"""Security: memory is private. The database and the mount's log are owner-only; a mount is private
to its user unless --allow-other; a read-only scope cannot be escaped by any route; symlinks
cannot point out of the store; the .memfs/ tree cannot be written."""

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from memfs import Memfs
from mounting import memfs, mounted


def other_user_can_list(path) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", "ls", str(path)], capture_output=True, text=True)


def test_database_and_logs_are_owner_only(tmp_path, seeded, mounter):
    mnt = mounter("team-sre=rw")
    (mnt / "x").write_text("x")
    for f in [seeded, seeded + "-wal", mnt.log]:
        assert os.path.exists(f), f
        assert stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0, f"{f} is readable by others"
    fresh = tmp_path / "newdir" / "fresh.db"
    Memfs(str(fresh)).close()
    assert stat.S_IMODE(os.stat(fresh).st_mode) & 0o077 == 0
    assert stat.S_IMODE(os.stat(fresh.parent).st_mode) & 0o077 == 0


def test_mount_is_private_unless_allow_other(seeded):
    if subprocess.run(["id", "nobody"], capture_output=True).returncode != 0:
        pytest.skip("no 'nobody' user here")
    base = Path(tempfile.mkdtemp(prefix="memfs-private-"))  # reachable by other users, unlike tmp_path
    os.chmod(base, 0o755)
    private, shared = base / "private", base / "shared"
    private.mkdir(), shared.mkdir()
    try:
        memfs(seeded, "mount", str(private), "--store", "team-sre", "--agent", "a")
        memfs(seeded, "mount", str(shared), "--store", "team-sre", "--agent", "b", "--allow-other")
        assert other_user_can_list(private).returncode != 0  # the kernel refuses other users
        assert other_user_can_list(shared).returncode == 0
    finally:
        for mp in (private, shared):
            if str(mp) in mounted():
                memfs(seeded, "umount", str(mp), check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_scope_cannot_be_escaped(seeded, mounter):
    mnt = mounter("team-sre=rw", "org-knowledge=ro", agent="escaper")
    ro, rw = mnt / "org-knowledge", mnt / "team-sre"
    target = ro / "policies" / "oncall.md"
    before = target.read_bytes()
    (rw / "mine.md").write_text("mine\n")
    attempts = {
        "write": lambda: target.write_text("x"),
        "append": lambda: open(target, "a").write("x"),
        "O_RDWR": lambda: os.open(target, os.O_RDWR),
        "O_TRUNC": lambda: os.open(target, os.O_RDONLY | os.O_TRUNC),
        "truncate": lambda: os.truncate(target, 0),
        "chmod": lambda: os.chmod(target, 0o777),
        "utime": lambda: os.utime(target, (0, 0)),
        "setxattr if-match": lambda: os.setxattr(target, "user.memfs.if-match", b"0" * 64),
        "unlink": lambda: os.unlink(target),
        "rename within": lambda: os.rename(target, ro / "policies" / "moved.md"),
        "rename out": lambda: os.rename(target, rw / "stolen.md"),
        "rename in": lambda: os.rename(rw / "mine.md", ro / "planted.md"),
        "link out": lambda: os.link(target, rw / "hard.md"),
        "link in": lambda: os.link(rw / "mine.md", ro / "hard.md"),
        "symlink in": lambda: os.symlink("../team-sre/mine.md", ro / "sym.md"),
        "mkdir": lambda: os.mkdir(ro / "newdir"),
        "create": lambda: open(ro / "new.md", "w"),
        "mkfifo": lambda: os.mkfifo(ro / "fifo"),
    }
    wrong = {}
    for name, fn in attempts.items():
        try:
            fn()
            wrong[name] = "succeeded"
        except OSError as e:
            if e.errno != errno.EROFS:
                wrong[name] = errno.errorcode.get(e.errno, e.errno)
    assert wrong == {}, f"not refused with EROFS: {wrong}"
    assert target.read_bytes() == before
    with Memfs(seeded) as m:
        assert sorted(e.path for e in m.walk("org-knowledge")) == ["/", "/policies", "/policies/oncall.md"]


def test_symlinks_stay_inside_the_store_and_memfs_tree_is_read_only(seeded, mounter):
    mnt = mounter("team-sre=rw")
    (mnt / "notes").mkdir()
    for target in ["/etc/passwd", "../../etc/passwd", "../..", "../../x", "../fine/../../x"]:
        with pytest.raises(OSError) as e:
            os.symlink(target, mnt / "notes" / "evil")
        assert e.value.errno == errno.EPERM, target
    os.symlink("../notes", mnt / "notes" / "fine")  # stays inside: allowed
    hidden = mnt / ".memfs"
    for fn in [lambda: (hidden / "log").write_text("forged"), lambda: os.mkdir(hidden / "x"),
               lambda: os.unlink(hidden / "README"), lambda: os.rename(mnt / "notes", hidden / "notes"),
               lambda: os.mkdir(mnt / ".memfs")]:
        with pytest.raises(OSError) as e:
            fn()
        assert e.value.errno in (errno.EROFS, errno.EPERM, errno.EEXIST)
    assert "forged" not in (hidden / "log").read_text()
