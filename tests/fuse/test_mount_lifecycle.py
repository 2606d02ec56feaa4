"""A mount's life: `memfs mount` returns once it is ready, `memfs mounts` lists it, a session row
spans it, `memfs umount` commits what is still open; a daemon killed with SIGKILL loses nothing
it acknowledged and the mountpoint mounts again; bad input fails in one line and mounts nothing."""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from memfs import Memfs

from fusehelpers import elapsed_until, errno_of, stored


def mounted(path) -> bool:
    with open("/proc/mounts") as f:
        return os.path.realpath(path) in {line.split()[1] for line in f}


def session(db, session_id):
    with Memfs(db) as m:
        [s] = [s for s in m.sessions() if s.session_id == session_id]
        return s


def alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


HOLDER = r"""
import sys, time
f = open(sys.argv[1], "w")
f.write("written, never closed\n")
f.flush()
print("ready", flush=True)
time.sleep(60)
"""


def test_umount_commits_files_still_open(seeded, mounter, cli):
    mnt = mounter("team-sre=rw", agent="alice", session="s-umount")
    (mnt / "closed.md").write_text("closed\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(mnt / "open.md")], stdout=subprocess.PIPE,
                              text=True, cwd=mnt.path)
    try:
        assert holder.stdout.readline() == "ready\n"
        assert stored(seeded, "/open.md") is None  # not committed until close...
        p = cli("umount", str(mnt.path))
        assert p.returncode == 0 and "unmounted" in p.stdout
        assert not mounted(mnt.path)
    finally:
        holder.kill()
        holder.wait()
    assert stored(seeded, "/open.md") == b"written, never closed\n"  # ... or unmount
    assert stored(seeded, "/closed.md") == b"closed\n"
    with Memfs(seeded) as m:
        r = m.history("team-sre", "/open.md")[0]
    assert (r.agent, r.session) == ("alice", "s-umount")
    assert session(seeded, "s-umount").ended_at is not None
    assert elapsed_until(lambda: not alive(mnt.pid), 5) is not None


WRITER = r"""
import os, sys
d, i = sys.argv[1], 0
while True:
    try:
        with open(os.path.join(d, f"f{i}.md"), "w") as f:
            f.write(f"content {i}\n" * 10)
    except OSError as e:
        print("stopped", e.errno, flush=True)
        break
    print(i, flush=True)  # close() has returned: the write is acknowledged
    i += 1
"""


def test_sigkill_loses_nothing_acknowledged_and_the_mountpoint_mounts_again(seeded, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="s-kill", name="victim")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(mnt.path)], stdout=subprocess.PIPE, text=True)
    acked = []
    for line in writer.stdout:
        acked.append(int(line))
        if len(acked) >= 30:
            os.kill(mnt.pid, signal.SIGKILL)
            break
    rest, _ = writer.communicate(timeout=30)
    for line in rest.splitlines():
        if line.startswith("stopped"):
            assert int(line.split()[1]) in (errno.ENOTCONN, errno.ECONNABORTED, errno.ENOENT), line
        else:
            acked.append(int(line))
    assert elapsed_until(lambda: not alive(mnt.pid), 5) is not None
    assert errno_of(os.stat, mnt / "f0.md") == errno.ENOTCONN
    with Memfs(seeded) as m:
        assert m.doctor().ok, m.doctor().problems
        missing = [i for i in acked if m.lookup("team-sre", f"/f{i}.md") is None]
        assert missing == [], f"acknowledged writes lost: {missing}"
        assert all(m.read("team-sre", f"/f{i}.md") == f"content {i}\n".encode() * 10 for i in acked)
    # after fusermount3 -u -z the same mountpoint mounts again, and shows everything
    subprocess.run(["fusermount3", "-u", "-z", str(mnt.path)], check=True)
    again = mounter("team-sre=rw", agent="alice", name="victim")
    assert again.path == mnt.path and mounted(again.path)
    assert all((again / f"f{i}.md").read_text() == f"content {i}\n" * 10 for i in acked)
    (again / "after.md").write_text("after the crash\n")
    assert stored(seeded, "/after.md") == b"after the crash\n"


def test_mounts_lists_live_mounts(seeded, mounter, cli):
    a = mounter("team-sre=rw", agent="alice", session="s-a")
    b = mounter("team-sre=rw", "org-knowledge=ro", agent="bob", session="s-b")
    rows = {r["mountpoint"]: r for r in json.loads(cli("mounts", "--json").stdout)}
    assert {os.path.realpath(a.path), os.path.realpath(b.path)} <= set(rows)
    ra, rb = rows[os.path.realpath(a.path)], rows[os.path.realpath(b.path)]
    assert (ra["state"], ra["agent"], ra["session"], ra["pid"]) == ("live", "alice", "s-a", a.pid)
    assert rb["stores"] == {"team-sre": "rw", "org-knowledge": "ro"}
    text = cli("mounts").stdout
    assert str(a.path) in text and str(b.path) in text and "live" in text
    cli("umount", str(a.path))
    rows = {r["mountpoint"]: r for r in json.loads(cli("mounts", "--json").stdout)}
    assert os.path.realpath(a.path) not in rows and rows[os.path.realpath(b.path)]["state"] == "live"


def test_session_row_spans_the_mount(seeded, mounter, cli):
    mnt = mounter("team-sre=rw", "org-knowledge=ro", agent="alice", session="s-span")
    s = session(seeded, "s-span")
    assert s.ended_at is None and s.agent == "alice" and s.kind == "mount"
    assert s.stores == {"team-sre": "rw", "org-knowledge": "ro"}
    assert s.mountpoint == os.path.realpath(mnt.path) and s.pid == mnt.pid
    (mnt / "team-sre" / "x.md").write_text("x\n")
    with Memfs(seeded) as m:
        assert [(r.agent, r.session) for r in m.log("team-sre", "/x.md")] == [("alice", "s-span")]
        assert "s-span" in {s.session_id for s in m.sessions(active=True)}
    cli("umount", str(mnt.path))
    s = session(seeded, "s-span")
    assert s.ended_at is not None and s.ended_at >= s.started_at
    with Memfs(seeded) as m:
        assert "s-span" not in {s.session_id for s in m.sessions(active=True)}


def test_generated_session_id(seeded, mounter):
    mnt = mounter("team-sre=rw", agent="alice")
    (mnt / "x.md").write_text("x\n")
    assert mnt.session and session(seeded, mnt.session).ended_at is None
    assert os.getxattr(mnt / "x.md", "user.memfs.session").decode() == mnt.session


@pytest.mark.parametrize("stores", [["nope"], ["team-sre", "nope"], ["team-sre=rx"]])
def test_mount_bad_input_is_one_line_and_mounts_nothing(seeded, cli, tmp_path, stores):
    mp = tmp_path / "mp"
    mp.mkdir()
    with Memfs(seeded) as m:
        before = len(m.sessions())
    args = ["mount", str(mp)] + [x for s in stores for x in ("--store", s)]
    p = cli(*args, check=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    if "nope" in stores:
        assert "nope" in lines[0]
    assert "Traceback" not in p.stderr + p.stdout
    assert not mounted(mp)
    with Memfs(seeded) as m:
        assert len(m.sessions()) == before


def test_mount_twice_and_umount_nothing_fail_clearly(seeded, mounter, cli, tmp_path):
    mnt = mounter("team-sre=rw")
    p = cli("mount", str(mnt.path), "--store", "team-sre", check=False)
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and "already mounted" in p.stderr
    (tmp_path / "plain").mkdir()
    p = cli("umount", str(tmp_path / "plain"), check=False)
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1
    (mnt / "still.md").write_text("the first mount is untouched\n")
    assert stored(seeded, "/still.md") == b"the first mount is untouched\n"


def test_prompt(seeded, cli):
    out = cli("prompt", "--store", "team-sre=rw", "--store", "org-knowledge=ro").stdout
    assert "/mnt/memory/team-sre/" in out and "/mnt/memory/org-knowledge/" in out
    [sre] = [ln for ln in out.splitlines() if "/mnt/memory/team-sre/" in ln]
    [org] = [ln for ln in out.splitlines() if "/mnt/memory/org-knowledge/" in ln]
    assert "read-write" in sre and "SRE notes" in sre
    assert "read-only" in org and "What the org knows" in org
    assert "Stale file handle" in out and ".memfs/conflicts" in out and ".memfs/history" in out
    one = cli("prompt", "--store", "team-sre", "--mount-root", "/memory").stdout
    assert "/memory/ " in one or "/memory/ —" in one
    assert "/mnt/memory" not in one
    p = cli("prompt", "--store", "nope", check=False)
    assert p.returncode != 0 and p.stderr.strip().splitlines() == [p.stderr.strip()]


def test_prompt_names_where_the_stores_are_mounted(seeded, cli, mounter):
    """Issue 17: the prompt said /mnt/memory even with the stores mounted elsewhere; it names the
    live mount (memfs mounts) when there is one, unless --mount-root says otherwise."""
    both = mounter("team-sre=rw", "org-knowledge=ro", agent="alice", name="both")
    solo = mounter("team-sre=rw", agent="bob", name="solo")
    out = cli("prompt", "--store", "team-sre=rw", "--store", "org-knowledge=ro").stdout
    assert f"- {both.path}/team-sre/ — store \"team-sre\", read-write. SRE notes" in out
    assert f"- {both.path}/org-knowledge/ — store \"org-knowledge\", read-only." in out
    assert "/mnt/memory" not in out
    # one store: a live mount that holds it
    one = cli("prompt", "--store", "team-sre").stdout
    assert f"- {both.path}/team-sre/ — store" in one or f"- {solo.path}/ — store" in one
    cli("umount", str(both.path))
    assert f"- {solo.path}/ — store \"team-sre\"" in cli("prompt", "--store", "team-sre").stdout
    # a store no live mount shows: the default root; --mount-root always wins
    assert "/mnt/memory/team-sre/" in cli("prompt", "--store", "team-sre", "--store", "org-knowledge").stdout
    assert "- /srv/mem/ — store" in cli("prompt", "--store", "team-sre", "--mount-root", "/srv/mem").stdout


def test_sigterm_commits_and_unmounts(seeded, mounter):
    mnt = mounter("team-sre=rw", agent="alice", session="s-term")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(mnt / "open.md")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        os.kill(mnt.pid, signal.SIGTERM)
        assert elapsed_until(lambda: not mounted(mnt.path) and not alive(mnt.pid), 10) is not None
    finally:
        holder.kill()
        holder.wait()
    assert stored(seeded, "/open.md") == b"written, never closed\n"
    assert session(seeded, "s-term").ended_at is not None
