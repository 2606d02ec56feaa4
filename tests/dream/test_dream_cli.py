"""`memfs dream …` from the command line: run, ls, show, apply, reject, revert, cancel; the
per-store lock held by another real process; cron over all stores."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from memfs import Identity, dream

from test_dream_local import DISK, DISK_BOB


@pytest.fixture
def planted(m, store, alice, bob):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    return store


def job_id(out: str) -> str:
    return next(w for w in out.split() if w.startswith("drm_"))


def test_run_show_apply(memfs_cli, m, planted, git_error_sessions):
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d")
    assert r.exit_code == 0, r.output
    jid = job_id(r.output)
    assert f"dream {jid} of team-sre completed: 6 sessions, 3 changes proposed" in r.output
    assert f"review: memfs dream show {jid}" in r.output
    assert m.lookup(planted, "/notes/disk-alerts.md") is not None  # proposing changes nothing
    show = memfs_cli("dream", "show", jid, "--no-color").output
    assert "deleted: /notes/disk-alerts.md" in show and "new file: /lessons/recurring-errors.md" in show
    assert "# why: merged into /runbooks/disk.md: a near-duplicate note" in show
    assert "# why: new lesson: Bash: exit code <n>: ! [rejected]" in show
    assert "#   evidence: session sess-bob, agent bob, " in show and "sess-bob.jsonl:3" in show
    assert "+- Seen 3 times in 3 sessions" in show and "\x1b[" not in show
    colored = memfs_cli("dream", "show", jid, "--color").output
    assert "\x1b[32m+" in colored and "\x1b[31m-" in colored
    rows = json.loads(memfs_cli("dream", "ls", "--json").output)
    assert [(x["id"], x["status"], x["review"], x["changes"]) for x in rows] == [(jid, "completed", "proposed", 3)]
    r = memfs_cli("dream", "apply", jid, "/lessons/recurring-errors.md")
    assert r.exit_code == 0 and "applied  create /lessons/recurring-errors.md  revision" in r.output
    assert "1 path changed, 0 conflicts" in r.output
    r = memfs_cli("dream", "show", jid, "--json")
    assert json.loads(r.output)["review"] == "partially_applied"


def test_apply_conflict_exit_code_and_merge(memfs_cli, m, planted, bob):
    jid = job_id(memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d").output)
    m.write(planted, "/runbooks/disk.md", DISK.replace("# Disk alerts", "# Disk alerts!").encode(), identity=bob)
    r = memfs_cli("dream", "apply", jid)
    assert r.exit_code == 5
    assert "conflict modify /runbooks/disk.md: changed since the dream's base" in r.output
    assert r.stderr.strip() == (f"Error: 1 file changed since the dream's base was not applied (1 can be merged: "
                                f"memfs dream apply {jid} --merge)")
    r = memfs_cli("dream", "apply", jid, "--merge")
    assert r.exit_code == 0 and "merged   modify /runbooks/disk.md" in r.output
    r = memfs_cli("dream", "revert", jid)
    assert r.exit_code == 0 and "2 paths reverted, 0 conflicts" in r.output
    assert m.read(planted, "/runbooks/disk.md").decode().startswith("# Disk alerts!")


def test_errors_are_one_line(memfs_cli, planted):
    for code, args in [(3, ["dream", "show", "drm_nope"]), (3, ["dream", "run", "nope", "--engine", "local"]),
                       (2, ["dream", "run"]), (2, ["dream", "run", "team-sre", "--since", "1d", "--sessions", "x"])]:
        r = memfs_cli(*args)
        assert r.exit_code == code, (args, r.output)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: "), r.stderr


def test_reject_then_apply_is_refused(memfs_cli, planted):
    jid = job_id(memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d").output)
    assert memfs_cli("dream", "reject", jid).output.strip() == f"rejected dream {jid}"
    r = memfs_cli("dream", "apply", jid)
    assert r.exit_code == 2 and r.stderr.strip() == f"Error: dream job {jid} was rejected"


HOLDER = """
import os, socket, sys, time
from memfs import Memfs
m = Memfs(sys.argv[1])
assert m.acquire_dream_lock("team-sre", None, host=socket.gethostname(), pid=os.getpid(), user="x") is None
print("held", flush=True)
time.sleep(60)
"""


def test_lock_second_run_exits_zero_and_stale_lock_is_broken(memfs_cli, m, planted, db_path):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, db_path], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        rec = m.dream_lock(planted)
        assert (rec["host"], rec["pid"]) == (socket.gethostname(), p.pid) and rec["acquired_at"] <= time.time()
        r = memfs_cli("dream", "run", "team-sre", "--engine", "local")
        assert r.exit_code == 0
        assert r.output.startswith(f"skipped: team-sre is being dreamed by pid {p.pid} on {socket.gethostname()} "
                                   f"since ")
        # cron over all stores: the store being dreamed elsewhere is skipped, and that is not "nothing to read"
        r = memfs_cli("dream", "run", "--all-stores", "--engine", "local")
        assert r.exit_code == 0 and r.output.startswith(f"team-sre: skipped: team-sre is being dreamed by pid {p.pid}")
        assert m.dream_jobs() == []
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # the holder is gone: its lock is stale and the next run takes it
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d")
    assert r.exit_code == 0 and " completed: " in r.output
    assert m.dream_lock(planted) is None  # released after the run


def test_two_real_processes_one_dream(tmp_path, db_path, m, planted):
    """Two `memfs dream run` processes at once: one dreams, the other exits 0 saying so, or both
    complete one after the other; never an error."""
    env = {**os.environ, "MEMFS_DB": db_path}
    exe = os.path.join(os.path.dirname(sys.executable), "memfs")
    procs = [subprocess.Popen([exe, "dream", "run", "team-sre", "--engine", "local", "--since", "3650d"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(("completed" in o) or ("skipped: team-sre is being dreamed" in o) for o, _ in outs), outs
    assert 1 <= len(m.dream_jobs()) <= 2


def test_all_stores_for_cron(memfs_cli, m, planted, git_error_sessions):
    m.create_store("quiet")
    r = memfs_cli("dream", "run", "--all-stores", "--since", "3650d", "--min-sessions", "5", "--engine", "local")
    assert r.exit_code == 0, r.output  # team-sre was dreamed
    lines = r.output.splitlines()
    assert lines[0].startswith("quiet: skipped: 1 session since ") and lines[0].endswith(", fewer than --min-sessions 5")
    assert lines[1].startswith("team-sre: dreamed: drm_") and lines[1].endswith(", 6 sessions, 3 changes proposed")
    # run again: it resumes from the last dream; quiet's one session is enough now, team-sre has nothing new
    r = memfs_cli("dream", "run", "--all-stores", "--since", "3650d", "--min-sessions", "1", "--engine", "local")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].startswith("quiet: dreamed: drm_")
    assert r.output.splitlines()[1].startswith("team-sre: nothing to read: nothing new since revision ")
    # and again: nothing new anywhere, no store dreamed: 12, for cron to log
    r = memfs_cli("dream", "run", "--all-stores", "--since", "3650d", "--min-sessions", "1", "--engine", "local")
    assert r.exit_code == 12, r.output
    assert [ln.split(": ")[1] for ln in r.output.splitlines()] == ["nothing to read"] * 2
    # a new session arrives: the next run dreams again
    m.write(planted, "/new.md", b"fresh\n", identity=Identity(agent="dan", session="s-dan", actor="agent"))
    r = memfs_cli("dream", "run", "--all-stores", "--since", "3650d", "--min-sessions", "1", "--engine", "local")
    assert r.exit_code == 0 and "team-sre: dreamed: drm_" in r.output and ", 1 session, " in r.output


def test_all_stores_exit_status(memfs_cli, m):
    """0 when a store was dreamed, 12 when none had anything to read (a dream over the files
    alone, or nothing new), one line per store saying which and why; --json: one object a line."""
    for name in ("ops", "team-sre"):  # an operator's commands, in no session
        assert memfs_cli("store", "create", name).exit_code == 0
    assert memfs_cli("put", "ops:/a.md", "-", input="# A\n\n- check df -h and df -i first\n").exit_code == 0
    r = memfs_cli("dream", "run", "--all-stores", "--engine", "local")
    assert r.exit_code == 12, r.output
    lines = r.output.splitlines()
    assert len(lines) == 2, r.output
    for name, line in zip(("ops", "team-sre"), lines):
        assert line.startswith(f"{name}: nothing to read: no session or transcript touched {name} since "), line
        assert "; dreamed the files only: drm_" in line and line.endswith(", 0 sessions, 0 changes proposed")
    # nothing new since: still 12, and no new job
    jobs = len(m.dream_jobs())
    r = memfs_cli("dream", "run", "--all-stores", "--engine", "local", "--json")
    assert r.exit_code == 12, r.output
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [(x["store"], x["outcome"]) for x in rows] == [("ops", "nothing_to_read"), ("team-sre", "nothing_to_read")]
    assert rows[0]["reason"].startswith("nothing new since revision ") and len(m.dream_jobs()) == jobs
    # a session writes to one store: 0, that store dreamed, the other still has nothing to read
    m.write("team-sre", "/b.md", b"# B\n\n- check df -h and df -i first\n",
            identity=Identity(agent="bob", session="s1", actor="agent"))
    r = memfs_cli("dream", "run", "--all-stores", "--engine", "local", "--min-sessions", "1")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        f"ops: nothing to read: nothing new since revision {m.dream_jobs('ops')[0].base_rev} "
        f"(job {m.dream_jobs('ops')[0].id})",
        f"team-sre: dreamed: {m.dream_jobs('team-sre')[0].id}, 1 session, 0 changes proposed"]
    # --min-sessions with no session at all is nothing to read too, for one store as for all
    r = memfs_cli("dream", "run", "ops", "--engine", "local", "--min-sessions", "1")
    assert r.exit_code == 12 and r.output.startswith("ops: nothing to read: no session or transcript touched ops since ")
    # one new session where two are asked for: skipped, and no store dreamed: 12
    m.write("team-sre", "/c.md", b"# C\n\n- rotate the logs weekly\n",
            identity=Identity(agent="bob", session="s2", actor="agent"))
    r = memfs_cli("dream", "run", "--all-stores", "--engine", "local", "--min-sessions", "2")
    assert r.exit_code == 12, r.output
    assert r.output.splitlines()[1].startswith("team-sre: skipped: 1 session since ")
    assert r.output.splitlines()[1].endswith(", fewer than --min-sessions 2")


def test_all_stores_with_no_store(tmp_path):
    db = str(tmp_path / "empty.db")
    env = {**os.environ, "MEMFS_DB": db}
    exe = os.path.join(os.path.dirname(sys.executable), "memfs")
    assert subprocess.run([exe, "init"], env=env, capture_output=True).returncode == 0
    p = subprocess.run([exe, "dream", "run", "--all-stores"], env=env, capture_output=True, text=True)
    assert (p.returncode, p.stdout, p.stderr) == (12, "no live store to dream (memfs store ls)\n", "")


def test_cancel_a_running_job(m, planted, git_error_sessions):
    seen = []

    def progress(what, done, total):
        seen.append(what)
        if what == "checking facts":
            m.cancel_dream_job(m.dream_jobs()[0].id)

    res = dream.run(m, planted, engine="local", since=0.0, progress=progress)
    assert res.job.status == "canceled" and res.job.error["type"] == "canceled"
    assert "mining transcripts" not in seen
    assert m.dream_lock(planted) is None


def test_local_engine_with_an_operator_write_and_a_session_write(db_path):
    """Issue 17, bug 1, as reported: one copy of a paragraph written by an operator (no session),
    one in a session; sorting the evidence compared None with a str and the dream failed."""
    from mounting import memfs

    memfs(db_path, "init")
    memfs(db_path, "store", "create", "s")
    p = subprocess.run([*memfs_exe(), "--db", db_path, "put", "s:/a.md", "-"],
                       input="# A\n\n- check df -h and df -i first\n", capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([*memfs_exe(), "--db", db_path, "--agent", "bob", "--session", "s1", "put", "s:/b.md", "-"],
                       input="# B\n\n- check df -h and df -i first\n", capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r = memfs(db_path, "dream", "run", "s", "--engine", "local", check=False)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert " completed: 1 session, 2 changes proposed" in r.stdout, r.stdout
    assert "Merged 1 group of near-duplicate notes: /a.md + /b.md" in r.stdout
    show = memfs(db_path, "dream", "show", job_id(r.stdout), "--no-color").stdout
    assert "#   evidence: session s1, agent bob, revision 3" in show, show


def memfs_exe():
    from mounting import MEMFS

    return MEMFS


def test_dry_runs_and_reverts_say_what_they_do(memfs_cli, m, planted):
    """Issue 17: `dream apply --dry-run` and `dream revert` printed "applied" on every line."""
    jid = job_id(memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d").output)
    head = m.head()
    r = memfs_cli("dream", "apply", jid, "--dry-run")
    lines = r.output.splitlines()
    assert r.exit_code == 0 and lines[:-1] and all(ln.startswith("would apply ") for ln in lines[:-1]), r.output
    assert lines[-1] == f"{len(lines) - 1} paths would change, 0 conflicts" and m.head() == head
    r = memfs_cli("dream", "apply", "latest")
    assert all(ln.startswith("applied ") for ln in r.output.splitlines()[:-1]), r.output
    r = memfs_cli("dream", "revert", "latest", "--dry-run")
    lines = r.output.splitlines()
    assert all(ln.startswith("would revert ") and "would be reverted" not in ln for ln in lines[:-1]), r.output
    assert lines[-1].endswith("paths would be reverted, 0 conflicts")
    r = memfs_cli("dream", "revert", "latest")
    lines = r.output.splitlines()
    assert all(ln.startswith("reverted ") and " revision " in ln for ln in lines[:-1]), r.output
    assert "applied" not in r.output


def test_cancel_latest(memfs_cli, fails, m, planted):
    """`latest` works for cancel as for show, apply, reject and revert."""
    fails(3, "dream", "cancel", "latest")  # no job yet
    jid = job_id(memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "3650d").output)
    r = memfs_cli("dream", "cancel", "latest")
    assert r.exit_code == 0 and r.output == f"dream {jid} is completed\n"
