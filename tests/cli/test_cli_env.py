"""Where the CLI finds its database, who it says is writing, and how it fails: one line on stderr,
a documented exit code, never a traceback. Also the real `memfs` executable in a subprocess."""

import inspect
import json
import os
import re
import subprocess
import sys

import pytest

from memfs import Memfs, errors
from memfs.cli import STATUS_HELP


def _documented_codes():
    return {int(code): meaning.strip() for code, meaning in re.findall(r"(\d+) ([a-z][a-z ()-]*)", STATUS_HELP)}


# ---------------------------------------------------------------- database location


def test_memfs_db_and_db_option(ok, db_path, tmp_path):
    other = str(tmp_path / "other.db")
    third = str(tmp_path / "sub" / "third.db")
    assert ok("init").stdout.strip() == db_path
    assert ok("init", env={"MEMFS_DB": other}).stdout.strip() == other
    ok("store", "create", "in-other", env={"MEMFS_DB": other})
    # --db wins over $MEMFS_DB
    assert ok("--db", third, "init").stdout.strip() == third
    ok("--db", third, "store", "create", "in-third")
    for path, name in ((db_path, None), (other, "in-other"), (third, "in-third")):
        with Memfs(path) as m:
            assert [s.name for s in m.list_stores()] == ([name] if name else [])
    assert ok("--db", third, "path").stdout.strip() == third


def test_default_database_in_the_user_directory(ok, tmp_path, monkeypatch):
    home = tmp_path / "home"  # the autouse fixture points $MEMFS_HOME here
    assert ok("path", env={"MEMFS_DB": None}).stdout.strip() == str(home / "memfs.db")
    ok("init", env={"MEMFS_DB": None})
    ok("store", "create", "x", env={"MEMFS_DB": None})
    assert (home / "memfs.db").exists()
    # without $MEMFS_HOME: the XDG data directory
    xdg = tmp_path / "xdg"
    got = ok("path", env={"MEMFS_DB": None, "MEMFS_HOME": None, "XDG_DATA_HOME": str(xdg)}).stdout.strip()
    assert got == str(xdg / "memfs" / "memfs.db")


# ---------------------------------------------------------------- identity


def test_person_is_operator_agent_is_agent(ok, db_path):
    ok("store", "create", "team")
    ok("put", "team:/by-person", input="x")
    ok("--agent", "claude-1", "--session", "ses-9", "put", "team:/by-flag", input="x")
    ok("put", "team:/by-env", input="x", env={"MEMFS_AGENT": "env-agent", "MEMFS_SESSION": "env-ses"})
    ok("put", "team:/person-with-session", input="x", env={"MEMFS_SESSION": "human-ses"})
    with Memfs(db_path) as m:
        who = {p: m.history("team", p)[0] for p in ("/by-person", "/by-flag", "/by-env", "/person-with-session")}
        store_root = m.log("team", ops=["mkdir"])[0]
    assert who["/by-person"].actor == "operator" and who["/by-person"].agent
    assert store_root.actor == "operator"
    assert (who["/by-flag"].actor, who["/by-flag"].agent, who["/by-flag"].session) == ("agent", "claude-1", "ses-9")
    assert (who["/by-env"].actor, who["/by-env"].agent, who["/by-env"].session) == ("agent", "env-agent", "env-ses")
    assert (who["/person-with-session"].actor, who["/person-with-session"].session) == ("operator", "human-ses")
    # --agent beats $MEMFS_AGENT
    ok("--agent", "flag-agent", "put", "team:/both", input="x", env={"MEMFS_AGENT": "env-agent"})
    with Memfs(db_path) as m:
        assert m.history("team", "/both")[0].agent == "flag-agent"


# ---------------------------------------------------------------- errors


def test_every_error_class_has_a_documented_exit_code():
    documented = _documented_codes()
    assert documented[0] == "ok"
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MemfsError)]
    assert len(classes) > 10
    for c in classes:
        assert c.exit_code in documented and c.exit_code != 0, c.__name__
    assert documented[errors.PreconditionFailed.exit_code].startswith("precondition")
    assert documented[errors.ReadOnly.exit_code].startswith("read-only")
    assert documented[errors.NotFound.exit_code].startswith("not found")
    assert documented[errors.InvalidInput.exit_code].startswith("bad input")
    assert documented[errors.AlreadyExists.exit_code].startswith("already exists")


def test_help_lists_exit_codes(ok):
    out = ok("--help").stdout
    assert "Exit codes" in out and "precondition failed" in out
    for cmd in ("init", "store", "put", "cat", "ls", "rm", "mv", "mkdir", "log", "show", "diff", "blame", "revert",
                "doctor", "sessions"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd
    for sub in ("create", "list", "show", "rename", "archive", "rm"):
        assert re.search(rf"^\s+{sub}\s", ok("store", "--help").stdout, re.M), sub


@pytest.mark.parametrize("args,err", [
    (("cat", "ghost:/f"), errors.StoreNotFound),
    (("cat", "team:/missing"), errors.PathNotFound),
    (("show", "424242"), errors.RevisionNotFound),
    (("store", "create", "team"), errors.AlreadyExists),
    (("put", "team:../x"), errors.InvalidName),
    (("put", "team:/" + "n" * 300), errors.NameTooLong),
    (("put", "team:/f", "--if-match", "0" * 64), errors.PreconditionFailed),
    (("rm", "-r", "team:/"), errors.NotPermitted),
    (("rm", "team:/"), errors.IsADirectory),
])
def test_errors_are_one_line_with_their_exit_code(ok, fails, db_path, args, err):
    ok("store", "create", "team")
    with Memfs(db_path) as m:
        before = m.head()
    r = fails(err.exit_code, *args, input="content")
    assert r.stdout == ""
    with Memfs(db_path) as m:
        assert m.head() == before


def test_damaged_or_unusable_database_is_one_line(fails, ok, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an SQLite database, not at all" * 100)
    r = fails(2, "--db", str(junk), "store", "list")
    assert r.stderr == f"Error: {junk} is not a memfs database (not an SQLite file)\n"
    fails(1, "--db", str(tmp_path), "store", "list")  # a directory
    # a memfs database damaged inside: its pages overwritten past the header
    bad = str(tmp_path / "bad.db")
    ok("--db", bad, "init")
    ok("--db", bad, "store", "create", "s")
    with Memfs(bad) as m:
        m.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(open(bad, "rb").read())
    data[100:] = b"\xa5" * (len(data) - 100)
    open(bad, "wb").write(bytes(data))
    r = fails(1, "--db", bad, "store", "list")
    assert "the database is damaged" in r.stderr and "memfs doctor" in r.stderr


def test_only_init_creates_a_database(ok, fails, tmp_path):
    """Issue 17: a typo in --db made a new empty database (parent folders too), so every listing
    came back empty. Every command but `memfs init` needs the database to be there."""
    typo = tmp_path / "typo" / "memfs.db"
    for args in (("store", "list"), ("ls", "s:"), ("log",), ("put", "s:/f"), ("dream", "ls"), ("transcripts", "ls"),
                 ("keys", "list"), ("hooks", "ls"), ("sessions",), ("serve",), ("mcp", "--store", "s=rw"),
                 ("grep", "s", "x"), ("doctor",), ("mounts",), ("mount", str(tmp_path), "--store", "s")):
        r = fails(3, "--db", str(typo), *args, input="x")
        assert r.stderr == f"Error: no database at {typo} (run `memfs init`)\n", args
    fails(3, *("store", "list"), env={"MEMFS_DB": f"sqlite:///{typo}"})
    assert not typo.parent.exists()
    assert ok("--db", str(typo), "path").stdout.strip() == str(typo)  # says where it would be
    assert ok("--db", str(typo), "init").stdout.strip() == str(typo)
    assert ok("--db", str(typo), "store", "list").stdout == ""


def test_a_file_that_is_not_a_memfs_database(fails, tmp_path):
    """`--db /etc/passwd` is not a damaged database but another file; another application's
    SQLite database is left alone (memfs does not add its tables to it)."""
    import sqlite3

    r = fails(2, "--db", "/etc/passwd", "store", "list")
    assert r.stderr == "Error: /etc/passwd is not a memfs database (not an SQLite file)\n"
    fails(2, "--db", "/etc/passwd", "init")
    other = tmp_path / "app.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (name TEXT)")
    con.commit()
    con.close()
    r = fails(2, "--db", str(other), "init")
    assert r.stderr == f"Error: {other} is not a memfs database (an SQLite database of something else)\n"
    con = sqlite3.connect(other)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["users"]


def test_usage_errors_exit_2(memfs_cli):
    r = memfs_cli("show", "not-a-number")
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = memfs_cli("no-such-command")
    assert r.exit_code == 2


# ---------------------------------------------------------------- the real executable


def _memfs_exe():
    exe = os.path.join(os.path.dirname(sys.executable), "memfs")
    if not os.path.exists(exe):
        pytest.skip("the memfs entry point is not installed next to this interpreter")
    return exe


def _run(*args, input=None, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ("MEMFS_AGENT", "MEMFS_SESSION")}
    e.update(env or {})
    return subprocess.run([_memfs_exe(), *args], input=input, capture_output=True, env=e, timeout=60)


def test_real_executable_round_trip(tmp_path):
    db = str(tmp_path / "real.db")
    assert _run("--db", db, "init").returncode == 0
    assert _run("--db", db, "store", "create", "real").returncode == 0
    p = _run("--db", db, "put", "real:/notes/today.md", "-", input=b"line one\n",
             env={"MEMFS_AGENT": "sub-agent", "MEMFS_SESSION": "sub-ses"})
    assert p.returncode == 0, p.stderr
    assert _run("--db", db, "cat", "real:/notes/today.md").stdout == b"line one\n"
    # $MEMFS_DB works for a real process as well
    log = _run("log", "real", "--json", env={"MEMFS_DB": db})
    assert log.returncode == 0
    revs = json.loads(log.stdout)
    assert revs[0]["path"] == "/notes/today.md" and (revs[0]["agent"], revs[0]["session"], revs[0]["actor"]) == (
        "sub-agent", "sub-ses", "agent")
    assert revs[-1]["actor"] == "operator"
    with Memfs(db) as m:
        assert m.read("real", "/notes/today.md") == b"line one\n"


def test_real_executable_errors(tmp_path):
    db = str(tmp_path / "real.db")
    _run("--db", db, "init")
    _run("--db", db, "store", "create", "real")
    _run("--db", db, "put", "real:/f", input=b"v1")
    for args, code in ((("cat", "real:/nope"), errors.PathNotFound.exit_code),
                       (("put", "real:/f", "--if-match", "f" * 64), errors.PreconditionFailed.exit_code),
                       (("put", "real:/a/../../x"), errors.InvalidName.exit_code),
                       (("cat", "nostore:/f"), errors.StoreNotFound.exit_code)):
        p = _run("--db", db, *args, input=b"v2")
        err = p.stderr.decode()
        assert p.returncode == code, (args, err)
        assert err.count("\n") == 1 and err.startswith("Error: ") and "Traceback" not in err
        assert p.stdout == b""
    assert _run("--db", db, "cat", "real:/f").stdout == b"v1"


# ---------------------------------------------------------------- settings from the environment

BAD_SETTINGS = {"MEMFS_LEASE_SECONDS": "x", "MEMFS_BUSY_TIMEOUT": "ten", "MEMFS_SYNC": "fast", "MEMFS_PG_POOL": "0",
                "MEMFS_DREAM_ENGINE": "gpt", "MEMFS_DREAM_CONCURRENCY": "1.5", "MEMFS_DREAM_BATCH_CHARS": "-3",
                "MEMFS_DREAM_MAX_RETRIES": "many", "MEMFS_DREAM_RETRY_BASE": "nan",
                "MEMFS_READ_COUNTS": "yes"}
# read as plain strings: any value is a value
STRING_SETTINGS = {"MEMFS_DB", "MEMFS_HOME", "MEMFS_AGENT", "MEMFS_SESSION", "MEMFS_DREAM_MODEL", "MEMFS_REPLICATE_KEY",
                   "MEMFS_HOOK_ID", "MEMFS_HOOK_STORE"}  # the last two are set for a hook, not read


def test_every_setting_read_from_the_environment_is_checked():
    """Every MEMFS_* name the package reads is a plain string or a setting of memfs.settings (which
    the CLI checks at start), and each checked one has a bad value below."""
    from memfs import settings

    src = os.path.join(os.path.dirname(inspect.getfile(errors)))
    read = set()
    for folder, _, files in os.walk(src):
        for f in files:
            if f.endswith(".py"):
                read |= set(re.findall(r"\"(MEMFS_[A-Z_]+)\"", open(os.path.join(folder, f)).read()))
    assert read - STRING_SETTINGS == set(settings.SETTINGS), read
    assert set(BAD_SETTINGS) == set(settings.SETTINGS)


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_a_bad_setting_is_one_line_naming_it(tmp_path, name):
    """Issue 17, bug 3: `MEMFS_LEASE_SECONDS=x memfs ls s:` was a ValueError traceback at import."""
    db = str(tmp_path / "real.db")
    assert _run("--db", db, "init").returncode == 0
    for args in (("ls", "s:"), ("store", "list"), ("init",), ("mounts",)):
        p = _run("--db", db, *args, env={name: BAD_SETTINGS[name]})
        err = p.stderr.decode()
        assert p.returncode == errors.InvalidInput.exit_code, (args, err)
        assert err.startswith(f"Error: {name} must be ") and err.endswith(f", not {BAD_SETTINGS[name]!r}\n"), err
        assert err.count("\n") == 1 and p.stdout == b""
    # importing memfs and its front ends never reads them: only what uses a setting checks it
    code = ("import memfs, memfs.cli, memfs.fuse.ops, memfs.fuse.daemon, memfs.http.app, memfs.mcp_server, "
            "memfs.dream.engines.claude; print('imported')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, name: "x"})
    assert p.returncode == 0 and p.stdout == "imported\n", p.stderr


def test_good_settings_are_accepted(tmp_path):
    db = str(tmp_path / "real.db")
    good = {"MEMFS_LEASE_SECONDS": "0.5", "MEMFS_BUSY_TIMEOUT": "2", "MEMFS_SYNC": "Normal", "MEMFS_PG_POOL": "4",
            "MEMFS_DREAM_ENGINE": "local", "MEMFS_DREAM_CONCURRENCY": "2", "MEMFS_DREAM_BATCH_CHARS": "1000",
            "MEMFS_DREAM_MAX_RETRIES": "0", "MEMFS_DREAM_RETRY_BASE": "0.1", "MEMFS_SESSION": ""}
    for args in (("init",), ("store", "create", "s"), ("ls", "s:")):
        p = _run("--db", db, *args, env=good)
        assert p.returncode == 0, p.stderr
