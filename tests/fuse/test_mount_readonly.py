"""A read-only scope refuses every change with EROFS, shows no write bits, and changes nothing in
the store; an archived store mounts read-only whatever scope was asked for."""

import errno
import os
import stat

import pytest

from memfs import Identity, Memfs

from fusehelpers import bash, errno_of, head, name, revs

RO = "org-knowledge"
FILE = f"{RO}/policies/oncall.md"


@pytest.fixture
def mnt(seeded, mounter):
    m = mounter("team-sre=rw", f"{RO}=ro", agent="alice", session="s-ro")
    (m / "team-sre" / "mine.md").write_text("mine\n")
    return m


def _open(path, flags):
    os.close(os.open(path, flags, 0o644))


def test_readonly_refuses_every_change_inside_the_store(mnt, seeded):
    f, d = mnt / FILE, mnt / RO / "policies"
    h = head(seeded)
    attempts = {
        "open O_WRONLY": lambda: _open(f, os.O_WRONLY),
        "open O_RDWR": lambda: _open(f, os.O_RDWR),
        "open O_APPEND": lambda: _open(f, os.O_WRONLY | os.O_APPEND),
        "open O_TRUNC": lambda: _open(f, os.O_WRONLY | os.O_TRUNC),
        "create": lambda: _open(d / "new.md", os.O_WRONLY | os.O_CREAT),
        "create O_EXCL": lambda: _open(d / "new.md", os.O_WRONLY | os.O_CREAT | os.O_EXCL),
        "mkdir": lambda: os.mkdir(d / "sub"),
        "unlink": lambda: os.unlink(f),
        "rmdir": lambda: os.rmdir(d),
        "rename within": lambda: os.rename(f, d / "moved.md"),
        "rename dir within": lambda: os.rename(d, mnt / RO / "pol2"),
        "truncate": lambda: os.truncate(f, 0),
        "chmod": lambda: os.chmod(f, 0o644),
        "chmod dir": lambda: os.chmod(d, 0o755),
        "utime": lambda: os.utime(f, (1, 1)),
        "setxattr if-match": lambda: os.setxattr(f, "user.memfs.if-match", b"0" * 64),
        "setxattr user": lambda: os.setxattr(f, "user.note", b"x"),
        "removexattr": lambda: os.removexattr(f, "user.memfs.if-match"),
        "symlink": lambda: os.symlink("oncall.md", d / "link"),
    }
    got = {what: name(errno_of(fn)) for what, fn in attempts.items()}
    assert got == {what: "EROFS" for what in attempts}
    assert errno_of(os.mkfifo, d / "fifo") in (errno.EROFS, errno.EPERM)  # special files: refused anyway
    assert revs(seeded, RO, after=h) == [] and revs(seeded, after=h) == []
    assert f.read_text() == "Page the secondary after 15 minutes.\n"


def test_readonly_refuses_rename_and_link_into_and_out_of_the_store(mnt, seeded):
    """The issue: 'every write, create, delete, rename, truncate, chmod, setxattr, link into or out
    of the store fails with EROFS' (EXDEV would make mv copy, EPERM hides the reason)."""
    f, mine = mnt / FILE, mnt / "team-sre" / "mine.md"
    h = head(seeded)
    attempts = {
        "rename out": lambda: os.rename(f, mnt / "team-sre" / "taken.md"),
        "rename in": lambda: os.rename(mine, mnt / RO / "mine.md"),
        "link within": lambda: os.link(f, mnt / RO / "policies" / "hard"),
        "link out": lambda: os.link(f, mnt / "team-sre" / "hard"),
        "link in": lambda: os.link(mine, mnt / RO / "hard"),
    }
    got = {what: name(errno_of(fn)) for what, fn in attempts.items()}
    assert got == {what: "EROFS" for what in attempts}
    assert revs(seeded, RO, after=h) == [] and revs(seeded, after=h) == []


def test_readonly_shell_tools_fail_and_change_nothing(mnt, seeded):
    h = head(seeded)
    for script in ("echo x > oncall.md", "echo x >> oncall.md", "sed -i s/Page/Call/ oncall.md", "rm -f oncall.md",
                   "touch new.md", "mv oncall.md x.md", "mkdir -p a/b", "cp oncall.md copy.md"):
        p = bash(script, mnt / RO / "policies")
        assert p.returncode != 0, script
        assert "Read-only file system" in p.stderr, (script, p.stderr)
    assert revs(seeded, RO, after=h) == []
    assert (mnt / FILE).read_text() == "Page the secondary after 15 minutes.\n"


def test_readonly_modes_show_no_write_bits(mnt):
    for p in (mnt / RO, mnt / RO / "policies", mnt / FILE):
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o222 == 0, p
    assert stat.S_IMODE(os.stat(mnt / "team-sre" / "mine.md").st_mode) & 0o200
    # reading works, xattrs too
    assert (mnt / FILE).read_text().startswith("Page")
    assert len(os.getxattr(mnt / FILE, "user.memfs.sha256")) == 64


def test_multi_store_root_is_read_only(mnt):
    assert sorted(os.listdir(mnt.path)) == ["org-knowledge", "team-sre"]
    assert errno_of(_open, mnt / "top.md", os.O_WRONLY | os.O_CREAT) == errno.EROFS
    assert errno_of(os.mkdir, mnt / "newstore") == errno.EROFS
    assert errno_of(os.rename, mnt / "team-sre", mnt / "renamed") == errno.EROFS
    assert errno_of(os.rmdir, mnt / "team-sre") in (errno.EROFS, errno.EBUSY, errno.EPERM)


def test_archived_store_mounts_read_only(seeded, mounter, cli):
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        old = m.create_store("old-notes", "archived")
        m.write(old, "/a.md", b"kept\n")
        m.archive_store(old)
    mnt = mounter("old-notes=rw", agent="alice")
    assert (mnt / "a.md").read_text() == "kept\n"
    assert errno_of(lambda: (mnt / "a.md").write_text("x")) == errno.EROFS
    assert errno_of(_open, mnt / "b.md", os.O_WRONLY | os.O_CREAT) == errno.EROFS
    assert stat.S_IMODE(os.stat(mnt / "a.md").st_mode) & 0o222 == 0
    assert stat.S_IMODE(os.stat(mnt.path).st_mode) & 0o222 == 0
    assert "old-notes=ro" in cli("mounts").stdout
