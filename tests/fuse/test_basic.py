import errno
import os
import subprocess

import pytest

from memfs import Memfs


def test_echo_cat_and_history(seeded, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="s-alice")
    subprocess.run("echo hello > notes.md && echo more >> notes.md", shell=True, cwd=mnt.path, check=True)
    assert (mnt / "notes.md").read_text() == "hello\nmore\n"
    with Memfs(seeded) as m:
        hist = m.history("team-sre", "/notes.md")
    assert [r.op for r in hist] == ["write", "create"]
    assert {(r.agent, r.session) for r in hist} == {("alice", "s-alice")}


def test_stale_write_refused_in_bash(seeded, mounter):
    a = mounter("team-sre=rw", agent="alice", session="sa")
    b = mounter("team-sre=rw", agent="bob", session="sb")
    (a / "f.md").write_text("v1\n")
    assert (b / "f.md").read_text() == "v1\n"
    (a / "f.md").write_text("v2 by alice\n")
    p = subprocess.run(["bash", "-c", "echo 'bob stale' > f.md"], cwd=b.path, capture_output=True, text=True)
    assert p.returncode == 1 and "Stale file handle" in p.stderr
    assert (a / "f.md").read_text() == "v2 by alice\n"


def test_readonly_scope(seeded, mounter):
    mnt = mounter("team-sre=rw", "org-knowledge=ro")
    f = mnt / "org-knowledge" / "policies" / "oncall.md"
    assert f.read_text().startswith("Page")
    with pytest.raises(OSError) as e:
        f.write_text("x")
    assert e.value.errno == errno.EROFS
    assert not os.stat(f).st_mode & 0o222
