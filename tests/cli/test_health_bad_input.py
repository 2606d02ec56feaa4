"""Bad input to `memfs stats`, `memfs prompt` and `memfs dream run|show|ls`: one line on stderr,
a non-zero exit, never a traceback, and nothing changed (no dream job made)."""

import pytest

from memfs import Identity


@pytest.fixture
def seeded(m, store, memfs_cli):
    m.write(store, "/a.md", b"# A\n\n- check df -h and df -i first\n\n- the log volume is /dev/sdb\n",
            identity=Identity(agent="alice", session="s0", actor="agent"))
    m.write(store, "/b.md", b"# B\n\n- check df -h and df -i first\n\n- rotate the logs weekly\n",
            identity=Identity(agent="bob", session="s1", actor="agent"))
    assert memfs_cli("store", "create", "empty").exit_code == 0  # an operator's, in no session
    return store


BAD = [
    # (exit status, arguments, what the one line says)
    (3, ["stats", "nope"], "no such store: 'nope'"),
    (3, ["stats", "team-sre", "nope"], "no such store: 'nope'"),
    (2, ["stats", "team-sre", "--days", "0"], "'--days': 0 is not in the range 1<=x<=3650"),
    (2, ["stats", "team-sre", "--days", "x"], "'--days': 'x' is not a valid integer"),
    (2, ["stats", "--bogus"], "No such option '--bogus'"),
    (2, ["prompt"], "Missing option '--store'"),
    (3, ["prompt", "--store", "nope"], "no such store: 'nope'"),
    (2, ["prompt", "--store", "team-sre=xx"], "scope must be rw or ro"),
    (2, ["prompt", "--store", "team-sre", "--budget", "-5"], "budget must be 0 or more bytes, got -5"),
    (2, ["prompt", "--store", "team-sre", "--budget", "4k"], "'--budget': '4k' is not a valid integer"),
    (2, ["dream", "run"], "give a STORE, or --all-stores"),
    (3, ["dream", "run", "nope"], "no such store: 'nope'"),
    (2, ["dream", "run", "team-sre", "--all-stores"], "--all-stores takes no STORE"),
    (2, ["dream", "run", "team-sre", "--since", "bogus"], "cannot read 'bogus' as a time"),
    (2, ["dream", "run", "team-sre", "--since", "7d", "--sessions", "s1"], "give --since or --sessions, not both"),
    (2, ["dream", "run", "team-sre", "--budget-tokens", "0"], "--budget-tokens must be a positive number"),
    (2, ["dream", "run", "team-sre", "--min-sessions", "-1"], "'--min-sessions': -1 is not in the range x>=0"),
    (2, ["dream", "run", "team-sre", "--unread-days", "-3"], "'--unread-days': -3.0 is not in the range x>=0"),
    (2, ["dream", "run", "team-sre", "--engine", "gpt"], "'--engine': 'gpt' is not one of 'local', 'claude'"),
    (3, ["dream", "run", "team-sre", "--sessions", "s-typo"], "no such session: s-typo"),
    (2, ["dream", "run", "team-sre", "--apply", "--into-new-store", "x"], "exclude each other"),
    (2, ["dream", "ls", "-n", "-1"], "'-n' / '--limit': -1 is not in the range x>=0"),
    (2, ["dream", "ls", "--status", "bogus"], "'--status': 'bogus' is not one of"),
    (3, ["dream", "show", "latest"], "there are no dream jobs yet"),
    (3, ["dream", "show", "drm_0000"], "no such dream job: 'drm_0000'"),
    (2, ["dream", "explain", "latest"], "No such command 'explain'"),
]


@pytest.mark.parametrize("code,args,says", BAD, ids=[" ".join(a) for _, a, _ in BAD])
def test_bad_input_is_one_line(fails, m, seeded, code, args, says):
    r = fails(code, *args)
    assert says in r.stderr, r.stderr
    assert m.dream_jobs() == []  # refused before any job was made


def test_dream_show_paths_and_json(fails, ok, m, seeded):
    job = ok("dream", "run", "team-sre", "--engine", "local").output.split()[1]
    out = ok("dream", "show", job, "b.md", "--no-color").output  # a path as `dream apply` takes it
    assert "modified: /b.md" in out and "modified: /a.md" not in out
    r = fails(3, "dream", "show", job, "/nope.md")
    assert r.stderr == f"Error: the proposal of {job} does not change /nope.md\n"
    r = fails(2, "dream", "show", job, "/a.md", "--json")
    assert "give PATHs or --json, not both" in r.stderr


def test_a_store_with_no_files(ok, memfs_cli, m, seeded):
    r = ok("stats", "empty")
    assert r.output.startswith("store empty: 0 files, 0 B, 1 revision\n")
    assert "duplicated text: 0 of 0 paragraphs (0.0%) would be merged by a dream" in r.output
    assert "# Pinned memory" not in ok("prompt", "--store", "empty").output
    r = memfs_cli("dream", "run", "empty", "--engine", "local")
    assert r.exit_code == 12 and "nothing to read: no session or transcript touched empty since " in r.output
    assert r.stderr == ""


def test_stats_with_no_store(ok, db_path):
    assert ok("stats").output == "no live store (memfs store create NAME)\n"
    assert ok("stats", "--json").output == "[]\n"
