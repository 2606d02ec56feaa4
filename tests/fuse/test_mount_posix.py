"""POSIX behaviour the tools rely on, checked through the kernel on a real mount, and in the store
behind it (what the kernel cache shows is not enough: a second mount or the store API must agree)."""

import errno
import hashlib
import os
import stat
import subprocess
import time
from datetime import datetime

import pytest

from memfs import Memfs

from fusehelpers import (RENAME_EXCHANGE, RENAME_NOREPLACE, bash, elapsed_until, errno_of, head, history, ok, ops,
                         renameat2, revs, stored)


@pytest.fixture
def mnt(seeded, mounter):
    return mounter("team-sre=rw", agent="alice", session="s-posix")


@pytest.fixture
def fresh(seeded, mounter):
    """mount a second, cold view of team-sre (nothing of it in the kernel cache yet)."""
    return lambda: mounter("team-sre=rw", agent="reader", session="s-reader")


# ---------------------------------------------------------------------------- open flags


def test_o_trunc_leaves_no_old_tail(mnt, seeded, fresh):
    (mnt / "t.md").write_text("hello world, a long first line\n")
    fd = os.open(mnt / "t.md", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"hi\n")
    os.close(fd)
    assert (mnt / "t.md").read_bytes() == b"hi\n"
    assert stored(seeded, "/t.md") == b"hi\n"
    assert (fresh() / "t.md").read_bytes() == b"hi\n"


def test_o_trunc_alone_empties_the_file(mnt, seeded):
    (mnt / "t.md").write_text("content\n")
    os.close(os.open(mnt / "t.md", os.O_WRONLY | os.O_TRUNC))
    assert (mnt / "t.md").stat().st_size == 0
    assert stored(seeded, "/t.md") == b""


def test_o_append_goes_to_the_stored_end(mnt, seeded, mounter):
    other = mounter("team-sre=rw", agent="bob", session="s-other")
    (mnt / "log.md").write_text("one\n")
    assert (mnt / "log.md").stat().st_size == 4  # the kernel now caches size 4
    with open(other / "log.md", "a") as f:  # another session appends behind this mount's back
        f.write("two from bob\n")
    fd = os.open(mnt / "log.md", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"three\n")
    os.close(fd)
    assert stored(seeded, "/log.md") == b"one\ntwo from bob\nthree\n"


def test_o_append_with_several_writes_and_seek(mnt, seeded):
    (mnt / "a.md").write_text("start\n")
    fd = os.open(mnt / "a.md", os.O_RDWR | os.O_APPEND)
    os.write(fd, b"x\n")
    os.lseek(fd, 0, os.SEEK_SET)  # O_APPEND ignores the position
    os.write(fd, b"y\n")
    os.close(fd)
    assert stored(seeded, "/a.md") == b"start\nx\ny\n"


def test_o_excl(mnt, seeded):
    (mnt / "e.md").write_text("exists\n")
    assert errno_of(os.open, mnt / "e.md", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    fd = os.open(mnt / "new.md", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    # still open, not yet committed: it exists all the same
    assert errno_of(os.open, mnt / "new.md", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    os.write(fd, b"mine\n")
    os.close(fd)
    assert stored(seeded, "/new.md") == b"mine\n"
    assert stat.S_IMODE((mnt / "new.md").stat().st_mode) == 0o640
    assert stored(seeded, "/e.md") == b"exists\n"


# ---------------------------------------------------------------------------- offsets and sizes


def test_writes_at_offsets_and_past_eof_zero_fill(mnt, seeded, fresh):
    fd = os.open(mnt / "o.bin", os.O_CREAT | os.O_RDWR)
    os.pwrite(fd, b"abc", 0)
    os.pwrite(fd, b"Z", 10)
    os.pwrite(fd, b"B", 1)
    assert os.pread(fd, 100, 0) == b"aBc" + b"\0" * 7 + b"Z"
    os.close(fd)
    want = b"aBc" + b"\0" * 7 + b"Z"
    assert stored(seeded, "/o.bin") == want
    assert (fresh() / "o.bin").read_bytes() == want
    # a write into the middle of a committed file keeps the rest
    fd = os.open(mnt / "o.bin", os.O_WRONLY)
    os.pwrite(fd, b"mid", 4)
    os.close(fd)
    assert stored(seeded, "/o.bin") == b"aBc\0mid\0\0\0Z"


def test_truncate_up_and_down(mnt, seeded):
    (mnt / "t.bin").write_bytes(b"0123456789")
    os.truncate(mnt / "t.bin", 4)
    assert stored(seeded, "/t.bin") == b"0123"
    os.truncate(mnt / "t.bin", 8)
    assert stored(seeded, "/t.bin") == b"0123\0\0\0\0"
    assert (mnt / "t.bin").read_bytes() == b"0123\0\0\0\0"
    fd = os.open(mnt / "t.bin", os.O_RDWR)
    os.ftruncate(fd, 2)
    assert os.fstat(fd).st_size == 2
    os.close(fd)
    assert stored(seeded, "/t.bin") == b"01"
    assert [r.op for r in history(seeded, "/t.bin")] == ["write", "write", "write", "create"]


def test_unlink_of_an_open_file(mnt, seeded):
    (mnt / "u.md").write_text("still readable\n")
    fd = os.open(mnt / "u.md", os.O_RDONLY)
    os.unlink(mnt / "u.md")
    assert not (mnt / "u.md").exists()
    assert os.read(fd, 100) == b"still readable\n"
    assert os.fstat(fd).st_nlink == 0
    os.close(fd)
    assert stored(seeded, "/u.md") is None
    assert [r.op for r in history(seeded, "/u.md")] == ["delete", "create"]


def test_unlink_of_a_file_open_for_writing_commits_nothing(mnt, seeded):
    (mnt / "u.md").write_text("v1\n")
    h = head(seeded)
    f = open(mnt / "u.md", "a")
    f.write("more\n")
    f.flush()
    os.unlink(mnt / "u.md")
    f.write("even more\n")
    f.close()
    assert stored(seeded, "/u.md") is None
    assert ops(revs(seeded, after=h)) == [("delete", "/u.md")]


# ---------------------------------------------------------------------------- directories and renames


def test_rmdir_of_a_non_empty_directory(mnt, seeded):
    os.makedirs(mnt / "d" / "sub")
    assert errno_of(os.rmdir, mnt / "d") == errno.ENOTEMPTY
    os.mkdir(mnt / "e")
    fd = os.open(mnt / "e" / "open.md", os.O_CREAT | os.O_WRONLY)  # created, not committed yet
    try:
        assert errno_of(os.rmdir, mnt / "e") == errno.ENOTEMPTY
    finally:
        os.close(fd)
    assert (mnt / "d" / "sub").is_dir() and (mnt / "e").is_dir()
    os.rmdir(mnt / "d" / "sub")
    os.rmdir(mnt / "d")
    assert with_store(seeded, lambda m: m.lookup("team-sre", "/d")) is None


def test_rename_over_an_existing_file(mnt, seeded):
    (mnt / "src.md").write_text("new\n")
    (mnt / "dst.md").write_text("old\n")
    os.rename(mnt / "src.md", mnt / "dst.md")
    assert not (mnt / "src.md").exists()
    assert (mnt / "dst.md").read_text() == "new\n"
    assert stored(seeded, "/dst.md") == b"new\n" and stored(seeded, "/src.md") is None


def test_rename_errors(mnt):
    os.makedirs(mnt / "full" / "x")
    os.mkdir(mnt / "empty")
    (mnt / "f").write_text("f")
    assert errno_of(os.rename, mnt / "f", mnt / "full") == errno.EISDIR
    assert errno_of(os.rename, mnt / "full", mnt / "f") == errno.ENOTDIR
    assert errno_of(os.rename, mnt / "empty", mnt / "full") == errno.ENOTEMPTY
    assert errno_of(os.rename, mnt / "full", mnt / "full" / "x" / "y") == errno.EINVAL
    assert errno_of(os.rename, mnt / "nope", mnt / "other") == errno.ENOENT
    os.rename(mnt / "full", mnt / "empty")  # a directory over an empty one
    assert (mnt / "empty" / "x").is_dir() and not (mnt / "full").exists()


def test_rename_noreplace(mnt, seeded):
    (mnt / "a.md").write_text("a\n")
    (mnt / "b.md").write_text("b\n")
    assert errno_of(renameat2, mnt / "a.md", mnt / "b.md", RENAME_NOREPLACE) == errno.EEXIST
    assert stored(seeded, "/a.md") == b"a\n" and stored(seeded, "/b.md") == b"b\n"
    renameat2(mnt / "a.md", mnt / "c.md", RENAME_NOREPLACE)
    assert stored(seeded, "/c.md") == b"a\n" and stored(seeded, "/a.md") is None
    # `mv -n` uses the same flag: it leaves the target alone
    ok("mv -n c.md b.md", mnt.path)
    assert stored(seeded, "/b.md") == b"b\n"


def test_rename_exchange_is_refused_clearly(mnt, seeded):
    (mnt / "a.md").write_text("a\n")
    (mnt / "b.md").write_text("b\n")
    assert errno_of(renameat2, mnt / "a.md", mnt / "b.md", RENAME_EXCHANGE) == errno.EINVAL
    assert stored(seeded, "/a.md") == b"a\n" and stored(seeded, "/b.md") == b"b\n"


def test_write_through_a_descriptor_after_the_file_was_renamed(mnt, seeded):
    """POSIX: a descriptor follows the file, not the name."""
    (mnt / "old.md").write_text("base\n")
    with open(mnt / "old.md", "a") as f:
        f.write("one\n")
        f.flush()
        os.rename(mnt / "old.md", mnt / "new.md")
        f.write("two\n")
    assert (mnt / "new.md").read_text() == "base\none\ntwo\n"
    assert stored(seeded, "/new.md") == b"base\none\ntwo\n" and stored(seeded, "/old.md") is None


# ---------------------------------------------------------------------------- links


def test_symlink_inside_a_store(mnt, seeded):
    os.makedirs(mnt / "docs" / "sub")
    (mnt / "docs" / "target.md").write_text("target\n")
    os.symlink("target.md", mnt / "docs" / "link")
    os.symlink("../target.md", mnt / "docs" / "sub" / "up")
    assert os.readlink(mnt / "docs" / "link") == "target.md"
    assert (mnt / "docs" / "link").read_text() == "target\n"
    assert (mnt / "docs" / "sub" / "up").read_text() == "target\n"
    assert stat.S_ISLNK(os.lstat(mnt / "docs" / "link").st_mode)
    assert with_store(seeded, lambda m: m.read("team-sre", "/docs/link")) == b"target.md"
    assert [r.op for r in history(seeded, "/docs/link")] == ["symlink"]
    os.unlink(mnt / "docs" / "link")
    assert (mnt / "docs" / "target.md").exists()


def test_symlink_escaping_the_store_is_refused(mnt, seeded):
    assert errno_of(os.symlink, "/etc/passwd", mnt / "abs") == errno.EPERM
    assert errno_of(os.symlink, "../outside", mnt / "up") == errno.EPERM
    os.mkdir(mnt / "d")
    assert errno_of(os.symlink, "../../outside", mnt / "d" / "up2") == errno.EPERM
    assert not os.path.lexists(mnt / "abs") and not os.path.lexists(mnt / "d" / "up2")
    assert [r.op for r in revs(seeded)].count("symlink") == 0


def test_hard_links_are_refused(mnt, seeded):
    (mnt / "f.md").write_text("f\n")
    h = head(seeded)
    assert errno_of(os.link, mnt / "f.md", mnt / "g.md") == errno.EPERM
    assert not (mnt / "g.md").exists() and revs(seeded, after=h) == []


# ---------------------------------------------------------------------------- limits


@pytest.mark.parametrize("make", ["create", "mkdir", "symlink", "rename"])
def test_names_over_255_bytes(mnt, seeded, make):
    long, multibyte = "n" * 256, "é" * 128  # 256 bytes either way
    (mnt / "src").write_text("s")
    h = head(seeded)
    for bad in (long, multibyte):
        fn = {"create": lambda p: open(p, "w"), "mkdir": os.mkdir,
              "symlink": lambda p: os.symlink("src", p), "rename": lambda p: os.rename(mnt / "src", p)}[make]
        assert errno_of(fn, mnt / bad) == errno.ENAMETOOLONG
    assert revs(seeded, after=h) == []
    fine = "m" * 255
    {"create": lambda p: open(p, "w").close(), "mkdir": os.mkdir,
     "symlink": lambda p: os.symlink("src", p), "rename": lambda p: os.rename(mnt / "src", p)}[make](mnt / fine)
    assert os.path.lexists(mnt / fine)


def test_content_over_the_store_limit_is_efbig(seeded, mounter, small_store):
    mnt = mounter(f"{small_store}=rw")
    with open(mnt / "ok.md", "wb") as f:
        f.write(b"x" * 100)
    assert stored(seeded, "/ok.md", small_store) == b"x" * 100
    p = ok("head -c 200 /dev/zero > big.md; echo $?", mnt.path)  # bash prints the write error
    assert p.stdout.strip() == "1" and "File too large" in p.stderr
    f = open(mnt / "py.md", "wb")
    f.write(b"y" * 150)
    assert errno_of(f.close) == errno.EFBIG
    assert errno_of(os.truncate, mnt / "ok.md", 101) == errno.EFBIG
    assert errno_of(os.truncate, mnt / "ok.md", 10 ** 15) == errno.EFBIG  # and the mount survives
    fd = os.open(mnt / "ok.md", os.O_WRONLY)
    assert errno_of(os.pwrite, fd, b"z", 100) == errno.EFBIG
    os.close(fd)
    assert (mnt / "ok.md").read_bytes() == b"x" * 100
    assert all(r.size <= 100 for r in revs(seeded, small_store))


def test_content_over_the_store_limit_changes_nothing(seeded, mounter, small_store):
    """Bad input gets a clear error and changes nothing: neither the file it was meant to replace
    nor, for a new name, an empty file left behind."""
    mnt = mounter(f"{small_store}=rw")
    (mnt / "keep.md").write_text("precious\n")
    h = head(seeded)
    p = ok("head -c 200 /dev/zero > keep.md; head -c 200 /dev/zero > new.md; echo $?", mnt.path)
    assert p.stdout.strip() == "1"
    assert stored(seeded, "/keep.md", small_store) == b"precious\n", "the refused write emptied the file"
    assert stored(seeded, "/new.md", small_store) is None
    assert revs(seeded, small_store, after=h) == []


def test_statfs(mnt):
    s = os.statvfs(mnt.path)
    assert s.f_namemax == 255
    assert s.f_bsize >= 4096 and s.f_frsize >= 512
    assert s.f_blocks > 0 and s.f_bavail > 0 and s.f_files > 0
    (mnt / "f").write_text("x")
    assert (mnt / "f").stat().st_blksize >= 4096
    assert "memfs" in ok("df -P .", mnt.path).stdout


# ---------------------------------------------------------------------------- metadata


def test_chmod_is_a_revision(mnt, seeded, fresh):
    (mnt / "c.sh").write_text("echo hi\n")
    h = head(seeded)
    os.chmod(mnt / "c.sh", 0o755)
    assert stat.S_IMODE((mnt / "c.sh").stat().st_mode) == 0o755
    new = revs(seeded, after=h)
    assert [(r.op, r.path, r.mode) for r in new] == [("chmod", "/c.sh", 0o755)]
    assert ok("./c.sh", mnt.path).stdout == "hi\n"
    assert stat.S_IMODE((fresh() / "c.sh").stat().st_mode) == 0o755


def test_xattrs(mnt, seeded):
    content = b"some content\n"
    (mnt / "x.md").write_bytes(content)
    names = set(os.listxattr(mnt / "x.md"))
    assert {"user.memfs.sha256", "user.memfs.version", "user.memfs.author", "user.memfs.session",
            "user.memfs.mtime"} <= names
    get = lambda k: os.getxattr(mnt / "x.md", f"user.memfs.{k}").decode()  # noqa: E731
    assert get("sha256") == hashlib.sha256(content).hexdigest()
    assert get("sha256") == ok("sha256sum x.md", mnt.path).stdout.split()[0]
    rev = history(seeded, "/x.md")[0]
    assert get("version") == str(rev.id)
    assert get("author") == "alice" and get("session") == "s-posix"
    t = datetime.fromisoformat(get("mtime").replace("Z", "+00:00"))
    assert abs(t.timestamp() - rev.created_at) < 2 and t.tzinfo is not None
    # a new version moves them all
    (mnt / "x.md").write_bytes(b"v2\n")
    assert get("sha256") == hashlib.sha256(b"v2\n").hexdigest()
    assert int(get("version")) > rev.id
    # what the kernel and ls ask on every write and listing: not supported, so ls stops asking
    assert errno_of(os.getxattr, mnt / "x.md", "security.capability") == errno.EOPNOTSUPP
    assert errno_of(os.getxattr, mnt / "x.md", "user.memfs.nonsense") == errno.ENODATA


def test_xattrs_of_an_empty_file_and_a_directory(mnt):
    (mnt / "empty").touch()
    os.mkdir(mnt / "d")
    time.sleep(0.2)
    assert os.getxattr(mnt / "empty", "user.memfs.sha256").decode() == hashlib.sha256(b"").hexdigest()
    assert errno_of(os.getxattr, mnt / "d", "user.memfs.sha256") == errno.ENODATA
    assert os.getxattr(mnt / "d", "user.memfs.author") == b"alice"


def test_empty_file_is_committed_when_close_returns(mnt, seeded):
    """close() waits for the commit (flush): once it returns, the store has the file, even an empty
    one (touch, open(O_CREAT) then close)."""
    with Memfs(seeded) as m:
        missing = []
        for i in range(5):
            os.close(os.open(mnt / f"o{i}.md", os.O_CREAT | os.O_WRONLY))
            if m.lookup("team-sre", f"/o{i}.md") is None:
                missing.append(f"/o{i}.md")
        subprocess.run(["touch", mnt / "t.md"], check=True)
        if m.lookup("team-sre", "/t.md") is None:
            missing.append("/t.md")
    assert missing == [], f"not in the store when close() returned: {missing}"


def test_truncation_without_a_write_is_committed_at_release(mnt, seeded):
    """An O_TRUNC open that writes nothing (`: > f`) is committed when the last descriptor is
    released, a moment after close(): the shell's `> f` closes a duplicate descriptor before the
    command writes, and committing there would put an empty revision before every rewrite."""
    (mnt / "e.md").write_text("something\n")
    with Memfs(seeded) as m:
        before = len(m.history("team-sre", "/e.md"))
        os.close(os.open(mnt / "e.md", os.O_WRONLY | os.O_TRUNC))
        assert elapsed_until(lambda: m.read("team-sre", "/e.md") == b"", timeout=1.0) is not None
        assert len(m.history("team-sre", "/e.md")) == before + 1
        bash("echo new > e.md", mnt.path)  # one revision, no empty one before it
        assert m.history("team-sre", "/e.md")[0].sha256 == hashlib.sha256(b"new\n").hexdigest()
        assert len(m.history("team-sre", "/e.md")) == before + 2


def with_store(db, fn):
    with Memfs(db) as m:
        return fn(m)
