"""Every tool an agent uses works on the mount, and each leaves the history it should: one revision
per saved file, attributed to the mount's agent and session, and no scratch or temp names in the
store's log."""

import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from memfs import Memfs
from mounting import memfs

from fusehelpers import elapsed_until, head, history, ok, ops, revs, stored, temp_names

VIM = shutil.which("vim.tiny") or shutil.which("vim")


@pytest.fixture
def mnt(seeded, mounter):
    return mounter("team-sre=rw", agent="alice", session="s-tools")


def test_redirect_and_append_one_revision_per_command(mnt, seeded):
    h = head(seeded)
    ok("echo first > notes.md", mnt.path)
    ok("echo second > notes.md", mnt.path)  # O_TRUNC over a longer file must not leave a tail
    ok("echo third >> notes.md", mnt.path)
    assert (mnt / "notes.md").read_bytes() == b"second\nthird\n"
    assert stored(seeded, "/notes.md") == b"second\nthird\n"
    assert ops(revs(seeded, after=h)) == [("create", "/notes.md"), ("write", "/notes.md"), ("write", "/notes.md")]
    assert {(r.agent, r.session) for r in revs(seeded, after=h)} == {("alice", "s-tools")}


def test_cat_grep_find(mnt, seeded):
    ok("mkdir -p runbooks/db && printf 'restart postgres\\nthen check replication\\n' > runbooks/db/pg.md"
       " && printf 'nothing here\\n' > readme.md && printf 'postgres is slow on monday\\n' > runbooks/notes.md",
       mnt.path)
    assert ok("cat runbooks/db/pg.md", mnt.path).stdout == "restart postgres\nthen check replication\n"
    grep = ok("grep -rn postgres .", mnt.path).stdout.splitlines()
    assert sorted(grep) == ["./runbooks/db/pg.md:1:restart postgres", "./runbooks/notes.md:1:postgres is slow on monday"]
    found = ok("find . | sort", mnt.path).stdout.split()
    assert found == [".", "./readme.md", "./runbooks", "./runbooks/db", "./runbooks/db/pg.md", "./runbooks/notes.md"]
    assert ok("find . -type f -name '*.md' | wc -l", mnt.path).stdout.strip() == "3"


def test_sed_in_place_is_one_revision_of_the_target(mnt, seeded):
    ok("printf 'alpha\\nbeta\\n' > f.md", mnt.path)
    h = head(seeded)
    ok("sed -i 's/beta/BETA/' f.md", mnt.path)
    assert (mnt / "f.md").read_text() == "alpha\nBETA\n"
    new = revs(seeded, after=h)
    assert ops(new) == [("write", "/f.md")]
    assert temp_names(new) == []
    assert [r.op for r in history(seeded, "/f.md")] == ["write", "create"]
    assert not [n for n in os.listdir(mnt.path) if n.startswith("sed")]


def test_sed_in_place_many_times(mnt, seeded):
    (mnt / "counter.md").write_text("n=0\n")
    h = head(seeded)
    for i in range(10):
        ok(f"sed -i 's/n=.*/n={i + 1}/' counter.md", mnt.path)
    assert (mnt / "counter.md").read_text() == "n=10\n"
    new = revs(seeded, after=h)
    assert len(new) == 10 and {r.op for r in new} == {"write"} and temp_names(new) == []


def test_mv_file_keeps_its_history(mnt, seeded):
    ok("echo v1 > a.md && echo v2 >> a.md && mkdir sub", mnt.path)
    h = head(seeded)
    ok("mv a.md sub/b.md", mnt.path)
    assert not (mnt / "a.md").exists() and (mnt / "sub" / "b.md").read_text() == "v1\nv2\n"
    assert ops(revs(seeded, after=h)) == [("rename", "/sub/b.md")]
    assert [r.op for r in history(seeded, "/sub/b.md")] == ["rename", "write", "create"]


def test_mv_directory(mnt, seeded):
    ok("mkdir -p d/e && echo x > d/e/f.md && echo y > d/g.md", mnt.path)
    h = head(seeded)
    ok("mv d renamed", mnt.path)
    assert ok("find renamed -type f | sort", mnt.path).stdout.split() == ["renamed/e/f.md", "renamed/g.md"]
    assert not (mnt / "d").exists()
    assert ops(revs(seeded, after=h)) == [("rename", "/renamed")]
    assert stored(seeded, "/renamed/e/f.md") == b"x\n"
    (mnt / "renamed" / "e" / "f.md").write_text("x2\n")  # the moved file is writable at its new path
    assert stored(seeded, "/renamed/e/f.md") == b"x2\n"


def test_cp_r_and_rm_rf(mnt, seeded, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "one.md").write_text("one\n")
    (src / "a" / "b" / "two.md").write_text("two\n" * 100)
    h = head(seeded)
    ok(f"cp -r {src} copy && cp -r copy copy2", mnt.path)
    assert ok("diff -r copy copy2 && diff -r copy " + str(src), mnt.path).returncode == 0
    created = [r for r in revs(seeded, after=h) if r.op == "create"]
    assert sorted(r.path for r in created) == ["/copy/a/b/two.md", "/copy/a/one.md", "/copy2/a/b/two.md",
                                               "/copy2/a/one.md"]
    h = head(seeded)
    ok("rm -rf copy2", mnt.path)
    assert not (mnt / "copy2").exists()
    gone = revs(seeded, after=h)
    assert sorted(ops(gone)) == sorted([("delete", "/copy2/a/one.md"), ("delete", "/copy2/a/b/two.md"),
                                        ("rmdir", "/copy2/a/b"), ("rmdir", "/copy2/a"), ("rmdir", "/copy2")])
    assert stored(seeded, "/copy/a/one.md") == b"one\n"


def test_mkdir_p(mnt, seeded):
    h = head(seeded)
    ok("mkdir -p x/y/z && mkdir -p x/y/z", mnt.path)
    assert (mnt / "x" / "y" / "z").is_dir()
    assert ops(revs(seeded, after=h)) == [("mkdir", "/x"), ("mkdir", "/x/y"), ("mkdir", "/x/y/z")]


def test_touch_creates_and_updates_mtime_without_a_revision(mnt, seeded):
    h = head(seeded)
    ok("touch empty.md", mnt.path)
    assert (mnt / "empty.md").stat().st_size == 0
    assert elapsed_until(lambda: stored(seeded, "/empty.md") == b"", 2) is not None
    assert ops(revs(seeded, after=h)) == [("create", "/empty.md")]
    h = head(seeded)
    ok("touch -d '2001-02-03 04:05:06 UTC' empty.md", mnt.path)
    assert (mnt / "empty.md").stat().st_mtime == 981173106
    ok("touch empty.md", mnt.path)
    assert abs((mnt / "empty.md").stat().st_mtime - time.time()) < 5
    assert revs(seeded, after=h) == []  # times are not content


def test_tar_x_and_tar_c_round_trip(mnt, seeded, tmp_path):
    src = tmp_path / "src"
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "docs" / "a.md").write_text("a\n")
    (src / "docs" / "deep" / "b.md").write_bytes(bytes(range(256)) * 4)
    os.symlink("a.md", src / "docs" / "link")
    os.chmod(src / "docs" / "a.md", 0o600)
    os.utime(src / "docs" / "deep" / "b.md", (1_000_000_000, 1_000_000_000))
    archive = tmp_path / "in.tar"
    with tarfile.open(archive, "w") as t:
        t.add(src / "docs", "docs")
    h = head(seeded)
    ok(f"tar -xf {archive}", mnt.path)
    assert (mnt / "docs" / "deep" / "b.md").read_bytes() == bytes(range(256)) * 4
    assert os.readlink(mnt / "docs" / "link") == "a.md"
    assert (mnt / "docs" / "a.md").stat().st_mode & 0o777 == 0o600
    assert (mnt / "docs" / "deep" / "b.md").stat().st_mtime == 1_000_000_000
    assert temp_names(revs(seeded, after=h)) == []
    out = tmp_path / "out.tar"
    ok(f"tar -cf {out} docs", mnt.path)
    back = tmp_path / "back"
    back.mkdir()
    subprocess.run(["tar", "-xf", str(out), "-C", str(back)], check=True)
    assert subprocess.run(["diff", "-r", str(src / "docs"), str(back / "docs")]).returncode == 0
    # tar writing its archive into the store, while reading from it
    ok("tar -czf docs.tgz docs && tar -tzf docs.tgz > /dev/null", mnt.path)
    assert len(stored(seeded, "/docs.tgz")) == (mnt / "docs.tgz").stat().st_size > 0


def test_rsync_a(mnt, seeded, tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "one.md").write_text("one\n")
    (src / "a" / "b" / "two.md").write_text("two\n")
    os.symlink("one.md", src / "a" / "link")
    os.chmod(src / "a" / "one.md", 0o640)
    os.utime(src / "a" / "b" / "two.md", (1_500_000_000, 1_500_000_000))
    h = head(seeded)
    ok(f"rsync -a {src}/ dest/", mnt.path)
    assert subprocess.run(["diff", "-r", str(src), str(mnt / "dest")]).returncode == 0
    assert (mnt / "dest" / "a" / "one.md").stat().st_mode & 0o777 == 0o640
    assert (mnt / "dest" / "a" / "b" / "two.md").stat().st_mtime == 1_500_000_000
    assert os.readlink(mnt / "dest" / "a" / "link") == "one.md"
    first = revs(seeded, after=h)
    assert temp_names(first) == []  # rsync's .one.md.XXXXXX
    assert sorted(r.path for r in first if r.op == "create") == ["/dest/a/b/two.md", "/dest/a/one.md"]
    # a second run finds nothing to do; a changed file becomes one write
    h = head(seeded)
    ok(f"rsync -a {src}/ dest/", mnt.path)
    assert revs(seeded, after=h) == []
    (src / "a" / "one.md").write_text("one, changed\n")
    ok(f"rsync -a {src}/ dest/", mnt.path)
    again = revs(seeded, after=h)
    assert ops(again) == [("write", "/dest/a/one.md")] and temp_names(again) == []
    assert stored(seeded, "/dest/a/one.md") == b"one, changed\n"


PY_OPEN = r"""
import os, sys
os.chdir(sys.argv[1])
with open("w.md", "w") as f:
    f.write("written\n")
with open("w.md", "a") as f:
    f.write("appended\n")
with open("w.md", "r+") as f:
    assert f.read() == "written\nappended\n"
    f.seek(0)
    f.write("WRITTEN")
with open("x.md", "x") as f:
    f.write("exclusive\n")
try:
    open("x.md", "x")
except FileExistsError:
    print("x refused")
with open("w.md", "rb") as f:
    print(f.read().decode(), end="")
"""


def test_python_open_modes(mnt, seeded):
    h = head(seeded)
    p = subprocess.run([sys.executable, "-c", PY_OPEN, str(mnt.path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "x refused\nWRITTEN\nappended\n"
    assert stored(seeded, "/w.md") == b"WRITTEN\nappended\n"
    assert stored(seeded, "/x.md") == b"exclusive\n"
    assert ops(revs(seeded, after=h)) == [("create", "/w.md"), ("write", "/w.md"), ("write", "/w.md"),
                                          ("create", "/x.md")]


@pytest.mark.parametrize("tmpname", ["notes.md.tmp", ".notes.md.swp", "tmpab12cd_x", "#notes.md#"])
def test_editor_save_write_temp_then_rename_over(mnt, seeded, tmpname):
    (mnt / "notes.md").write_text("old\n")
    assert (mnt / "notes.md").read_text() == "old\n"
    h = head(seeded)
    with open(mnt / tmpname, "w") as f:
        f.write("new content\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(mnt / tmpname, mnt / "notes.md")
    assert (mnt / "notes.md").read_text() == "new content\n"
    assert not (mnt / tmpname).exists()
    new = revs(seeded, after=h)
    assert ops(new) == [("write", "/notes.md")], "the save must be one revision of the target"
    assert [r.op for r in history(seeded, "/notes.md")] == ["write", "create"]


def test_editor_save_truncate_and_rewrite(mnt, seeded):
    (mnt / "notes.md").write_text("a fairly long first version\n")
    h = head(seeded)
    fd = os.open(mnt / "notes.md", os.O_RDWR)
    try:
        assert os.read(fd, 100) == b"a fairly long first version\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"short\n", 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (mnt / "notes.md").read_bytes() == b"short\n"
    assert ops(revs(seeded, after=h)) == [("write", "/notes.md")]


@pytest.mark.skipif(VIM is None, reason="vim is not installed (scripts/setup-system installs vim-tiny)")
@pytest.mark.parametrize("settings", ["", "set backupskip= writebackup backupcopy=yes"])
def test_vim_wq(mnt, seeded, settings):
    (mnt / "v.md").write_text("line one\nline two\n")
    h = head(seeded)
    cmd = [VIM, "-N", "-u", "NONE", "-i", "NONE", "-es"] + (["-c", settings] if settings else []) + [
        "-c", "%s/one/ONE/", "-c", "wq", "v.md"]
    p = subprocess.run(cmd, cwd=mnt.path, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert (mnt / "v.md").read_text() == "line ONE\nline two\n"
    new = revs(seeded, after=h)
    assert ops(new) == [("write", "/v.md")] and temp_names(new) == []
    assert sorted(os.listdir(mnt.path)) == ["v.md"]  # no swap file or backup left


@pytest.mark.skipif(VIM is None, reason="vim is not installed (scripts/setup-system installs vim-tiny)")
def test_vim_save_that_renames_the_original_to_a_backup(mnt, seeded):
    """vim with backupcopy=no (and emacs by default) saves by renaming f to f~, writing a new f and
    removing f~. The history of f must go on, and f~ must not enter the log."""
    (mnt / "v.md").write_text("v1\n")
    h = head(seeded)
    cmd = [VIM, "-N", "-u", "NONE", "-i", "NONE", "-es", "-c", "set backupskip= writebackup backupcopy=no",
           "-c", "%s/v1/v2/", "-c", "wq", "v.md"]
    p = subprocess.run(cmd, cwd=mnt.path, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert (mnt / "v.md").read_text() == "v2\n"
    new = revs(seeded, after=h)
    assert temp_names(new) == [], f"backup name in the store log: {ops(new)}"
    assert [r.op for r in history(seeded, "/v.md")] == ["write", "create"]


GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "agent", "GIT_AUTHOR_EMAIL": "agent@example.com",
           "GIT_COMMITTER_NAME": "agent", "GIT_COMMITTER_EMAIL": "agent@example.com"}


def _git_env(tmp_path):
    home = tmp_path / "githome"
    home.mkdir(exist_ok=True)
    return {**GIT_ENV, "HOME": str(home)}


def test_git_init_add_commit(mnt, seeded, tmp_path):
    env = _git_env(tmp_path)
    ok("mkdir -p proj/sub && echo notes > proj/n.md && echo deep > proj/sub/d.md", mnt.path)
    ok("git init -q -b main && git add -A && git commit -qm first", mnt / "proj", env=env)
    assert ok("git log --oneline", mnt / "proj", env=env).stdout.strip().endswith("first")
    assert ok("git status --porcelain", mnt / "proj", env=env).stdout == ""
    ok("echo more >> n.md && git commit -qam second", mnt / "proj", env=env)
    assert [line.split(" ", 1)[1] for line in ok("git log --oneline", mnt / "proj", env=env).stdout.splitlines()] == [
        "second", "first"]
    assert ok("git status --porcelain", mnt / "proj", env=env).stdout == ""
    assert ok("git fsck --no-progress 2>&1", mnt / "proj", env=env).returncode == 0
    assert stored(seeded, "/proj/.git/HEAD") == b"ref: refs/heads/main\n"
    assert ok("git show HEAD:n.md", mnt / "proj", env=env).stdout == "notes\nmore\n"


def test_git_init_add_commit_leave_no_temp_names(mnt, seeded, tmp_path):
    env = _git_env(tmp_path)
    ok("mkdir proj && echo notes > proj/n.md", mnt.path)
    h = head(seeded)
    ok("git init -q -b main && git add -A && git commit -qm first && echo x >> n.md && git commit -qam two",
       mnt / "proj", env=env)
    new = revs(seeded, after=h)
    with Memfs(seeded) as m:
        live = set(m.tree("team-sre"))
    transient = sorted({p for r in new for p in (r.path, r.old_path) if p and p not in live})
    assert temp_names(new) == [] and transient == [], f"temp files reached the store log: {transient}"


def test_rename_to_a_backup_name_resolves_truthfully(seeded, mounter):
    """`mv f f~` is held back (an editor may write a new f next). Whatever follows, the store ends
    up as the commands meant: a removed backup is a deletion, a restored one is nothing, one left
    alone is the rename itself (here at unmount), with the file's history kept."""
    mnt = mounter("team-sre=rw", agent="ed")
    for name in ("gone", "back", "kept"):
        (mnt / f"{name}.md").write_text(f"{name} v1\n")
    with Memfs(seeded) as m:
        ids = {name: m.lookup("team-sre", f"/{name}.md").id for name in ("gone", "back", "kept")}
        h = m.head()
    ok("mv gone.md gone.md~ && rm gone.md~ && mv back.md back.md~ && mv back.md~ back.md && mv kept.md kept.md~",
       mnt.path)
    assert sorted(os.listdir(mnt.path)) == ["back.md", "kept.md~"]
    assert (mnt / "back.md").read_text() == "back v1\n" and (mnt / "kept.md~").read_text() == "kept v1\n"
    memfs(seeded, "umount", str(mnt.path))
    with Memfs(seeded) as m:
        assert m.lookup("team-sre", "/gone.md") is None
        assert [r.op for r in m.log("team-sre", "/gone.md", after=h)] == ["delete"]
        assert m.lookup("team-sre", "/back.md").id == ids["back"] and not m.log("team-sre", "/back.md", after=h)
        kept = m.lookup("team-sre", "/kept.md~")
        assert kept.id == ids["kept"] and m.lookup("team-sre", "/kept.md") is None
        assert [r.op for r in m.history("team-sre", "/kept.md~")][:2] == ["rename", "create"]
