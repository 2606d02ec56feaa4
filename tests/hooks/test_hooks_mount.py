"""Write hooks on a real mount: a refused write fails write() (the first one a handle makes) or
close() with EACCES, the store keeps its content, and the refusal (who, when, which hook, why; never the content) is in `.memfs/conflicts/`."""

import errno
import os
import subprocess

import pytest

from memfs import Memfs


@pytest.fixture
def hooked(seeded, secret_hook):
    with Memfs(seeded) as m:
        m.add_hook("team-sre", secret_hook)
    return seeded


def stored(db, path):
    with Memfs(db) as m:
        n = m.lookup("team-sre", path)
        return None if n is None else m.read("team-sre", path)


def conflicts(db):
    with Memfs(db) as m:
        return [(c.path, c.reason, m.blob(c.sha256) if c.sha256 else None) for c in m.conflicts("team-sre")]


def test_refused_rewrite_is_eacces_at_write(hooked, mounter):
    """The hooks see a handle's first write(): a refusal there is one a shell reports (bash
    ignores close()), and nothing of the content is kept."""
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    (mnt / "f.md").write_text("v1\n")
    fd = os.open(mnt / "f.md", os.O_WRONLY | os.O_TRUNC)
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, b"a SECRET\n")
        assert e.value.errno == errno.EACCES
    finally:
        os.close(fd)
    assert stored(hooked, "/f.md") == b"v1\n"
    assert (mnt / "f.md").read_text() == "v1\n"
    [(path, reason, content)] = conflicts(hooked)
    assert path == "/f.md" and content is None
    assert reason.startswith("refused by write hook 1: ") and "no secrets here (found SECRET)" in reason
    log = (mnt / ".memfs" / "conflicts" / "log").read_text()
    assert "no secrets here (found SECRET)" in log and "a write hook refused this content, so it was not kept" in log
    assert os.listdir(mnt / ".memfs" / "conflicts") == ["log"]


def test_a_secret_in_a_later_write_is_refused_at_close(hooked, mounter):
    """The first write() passed the hooks; the commit runs them again on the whole content."""
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    (mnt / "f.md").write_text("v1\n")
    fd = os.open(mnt / "f.md", os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"harmless\n")
    os.write(fd, b"a SECRET\n")
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EACCES
    assert stored(hooked, "/f.md") == b"v1\n"
    assert [c[2] for c in conflicts(hooked)] == [None]


def _write_error(path, flags, data):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)
    return None


def test_refused_new_file_and_append(hooked, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    assert _write_error(mnt / "new.md", os.O_WRONLY | os.O_CREAT | os.O_EXCL, b"my SECRET\n") == errno.EACCES
    assert stored(hooked, "/new.md") is None
    assert not (mnt / "new.md").exists()
    assert conflicts(hooked)[0][2] is None
    # bash reports the refusal (at write(), which it checks), and the secret never reaches the store
    p = subprocess.run(["bash", "-c", "echo 'SECRET by bash' > b.md"], cwd=mnt.path, capture_output=True, text=True)
    assert p.returncode == 1 and "Permission denied" in p.stderr
    assert stored(hooked, "/b.md") is None
    # an append of a secret is refused too, and leaves the file as it was
    (mnt / "g.md").write_text("start\n")
    assert _write_error(mnt / "g.md", os.O_WRONLY | os.O_APPEND, b"SECRET\n") == errno.EACCES
    assert stored(hooked, "/g.md") == b"start\n"
    assert (mnt / "g.md").read_text() == "start\n"
    assert [c[0] for c in conflicts(hooked)] == ["/new.md", "/b.md", "/g.md"]


def test_redaction_on_the_mount(hooked, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    (mnt / "c.md").write_text("call 555-1234\n")
    assert stored(hooked, "/c.md") == b"call [phone]\n"
    assert (mnt / "c.md").read_text() == "call [phone]\n"
    subprocess.run(["bash", "-c", "echo 'or 555-1234' >> c.md"], cwd=mnt.path, check=True)
    assert stored(hooked, "/c.md") == b"call [phone]\nor [phone]\n"
    assert (mnt / "c.md").read_text() == "call [phone]\nor [phone]\n"


def test_a_write_the_hooks_passed_at_write_is_not_hooked_again_at_commit(seeded, hook, mounter, tmp_path):
    """`echo x > f` is one write(): the hooks see it there, and its commit of the same bytes does
    not run them a second time (a 2 s scanner would make every save take 4 s)."""
    cmd = hook("answer({'decision': 'allow'})", name="counted")
    with Memfs(seeded) as m:
        m.add_hook("team-sre", cmd)
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    subprocess.run(["bash", "-c", "echo 'one write' > once.md"], cwd=mnt.path, check=True)
    requests = [ln for ln in (tmp_path / "counted.requests").read_text().splitlines() if "/once.md" in ln]
    assert len(requests) == 1, requests
    assert stored(seeded, "/once.md") == b"one write\n"
    # two writes: the commit sees the whole content, which the first write() did not
    subprocess.run(["bash", "-c", "{ echo a; echo b; } > twice.md"], cwd=mnt.path, check=True)
    requests = [ln for ln in (tmp_path / "counted.requests").read_text().splitlines() if "/twice.md" in ln]
    assert len(requests) == 2 and stored(seeded, "/twice.md") == b"a\nb\n"
