"""Fixtures shared by every layer: a throwaway user directory and database, a store, a CLI runner,
and real FUSE mounts (`mounter`), always unmounted at the end."""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfs import Identity, Memfs
from mounting import Mount, fuse_usable, memfs, mounted


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    """Tests never touch the real home: the user directory and database live in tmp_path."""
    monkeypatch.setenv("MEMFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMFS_DB", str(tmp_path / "memfs.db"))
    for var in ("MEMFS_AGENT", "MEMFS_SESSION"):
        monkeypatch.delenv(var, raising=False)


# The store, mount, hook, dream and HTTP suites run against both backends; the rest against SQLite
# only (transcript readers, replication files, the CLI, the console, the torture suite but its
# multi-host test).
BOTH_BACKENDS = ("store", "fuse", "hooks", "dream", "http")


def pytest_generate_tests(metafunc):
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker
    if marker("postgresql_only"):
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    elif Path(metafunc.definition.fspath).parent.name in BOTH_BACKENDS and not marker("sqlite_only"):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: a store/mount test about SQLite itself (files, pragmas)")
    config.addinivalue_line("markers", "postgresql_only: a test of what only a database server does (outages, hosts)")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A private PostgreSQL server for the whole run (tests/pgserver.py), with a template
    database that already has memfs's schema, so each test's database is a cheap copy."""
    from pgserver import PgServer, pg_bindir

    if pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (make test installs it: scripts/setup-system)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    # not under pytest's own temporary directory: that is private to root, and the server runs
    # as the postgres user
    base = tempfile.mkdtemp(prefix="memfs-test-pg-")
    pg = PgServer(base).start()
    url = pg.create_database("memfs_template")
    Memfs(url).close()
    from memfs.backends.postgres import close_pool

    close_pool(url)  # a template must have no connections when it is copied
    yield pg
    pg.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def backend(request):
    return getattr(request, "param", "sqlite")


_pg_databases = iter(range(1, 1 << 30))


@pytest.fixture
def db_path(backend, tmp_path, request, monkeypatch):
    """The test's database, created: a SQLite file, or (backend=postgresql) a fresh PostgreSQL
    database. MEMFS_DB names it too, for the CLI and the daemons."""
    if backend == "sqlite":
        path = str(tmp_path / "memfs.db")
        Memfs(path).close()  # as `memfs init` makes it: the CLI opens only an existing database
        yield path
        return
    pg = request.getfixturevalue("pg_server")
    name = f"t{next(_pg_databases)}"
    pg.create_database(name, template="memfs_template")
    # by its Unix socket: a file, so daemons in other network namespaces ("hosts") reach it too
    url = pg.url(name, socket_path=True)
    monkeypatch.setenv("MEMFS_DB", url)
    yield url
    from memfs.backends.postgres import close_pool

    close_pool(url)
    pg.drop_database(name)


@pytest.fixture
def m(db_path):
    with Memfs(db_path, identity=Identity(agent="tester", session="s-test", actor="agent")) as mem:
        yield mem


@pytest.fixture
def store(m):
    return m.create_store("team-sre", "SRE notes")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def memfs_cli(runner, db_path):
    """Run the real CLI in-process: memfs_cli('ls', 'team-sre:') -> click Result."""
    from memfs.cli import cli

    def run(*args, input=None, env=None):
        return runner.invoke(cli, list(args), input=input, env={"MEMFS_DB": db_path, **(env or {})},
                             catch_exceptions=False)

    return run


@pytest.fixture
def ok(memfs_cli):
    """ok('ls', 'team-sre:') -> result; fails the test unless the command exits 0."""

    def run(*args, **kw):
        r = memfs_cli(*args, **kw)
        assert r.exit_code == 0, f"memfs {' '.join(args)} -> {r.exit_code}\n{r.output}"
        return r

    return run


@pytest.fixture
def fails(memfs_cli):
    """fails(code, 'cat', 'x:/y') -> result; the command must exit with `code` and print exactly
    one line, `Error: ...`, on stderr, and no traceback anywhere."""

    def run(code, *args, **kw):
        r = memfs_cli(*args, **kw)
        assert r.exit_code == code, f"memfs {' '.join(args)} -> {r.exit_code}, expected {code}\n{r.output}"
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and len(lines[0]) > len("Error: "), r.stderr
        assert "Traceback" not in r.output
        return r

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that mounted shows the end of each daemon's log (refusals are logged with
    their reason): a flake under load can then be read, not guessed."""
    outcome = yield
    rep = outcome.get_result()
    mounts = getattr(item, "memfs_mounts", None)
    if rep.when == "call" and rep.failed and mounts:
        for m in mounts:
            tail = "\n".join(m.log_text().splitlines()[-40:])
            rep.sections.append((f"mount log {m.path.name} (last 40 lines)", tail))


@pytest.fixture
def mounter(db_path, tmp_path, request):
    """mounter('team-sre=rw', 'org=ro', agent='a1', session='s1', extra=('--at', '5')) -> Mount (a live mount). Skips the
    test where FUSE is unusable. Fails the test if a daemon logged an error, unless the test set
    `mounter.allow_errors = True` (fault injection)."""
    if not fuse_usable():
        pytest.skip("FUSE is not usable here (/dev/fuse, fusermount3)")
    mounts: list[Mount] = []
    request.node.memfs_mounts = mounts

    def mount(*stores, agent="agent-1", session=None, name=None, prefix=(), extra=()):
        mp = tmp_path / (name or f"mnt{len(mounts)}")
        mp.mkdir(exist_ok=True)
        log = str(tmp_path / f"{mp.name}.log")
        args = ["mount", str(mp), "--agent", agent, "--log", log]
        for s in stores:
            args += ["--store", s]
        if session:
            args += ["--session", session]
        p = memfs(db_path, *args, *extra, prefix=prefix)  # extra: more `memfs mount` options (--at)
        # "mounted ... (session S, pid N, log L)"
        info = p.stdout.rsplit("(", 1)[1].rstrip(")\n")
        fields = dict(part.strip().split(" ", 1) for part in info.split(","))
        m = Mount(db_path, mp, int(fields["pid"]), fields["session"], log)
        mounts.append(m)
        return m

    mount.allow_errors = False
    yield mount
    for m in mounts:
        if os.path.realpath(m.path) in mounted():
            memfs(db_path, "umount", str(m.path), check=False, timeout=30)
        if os.path.realpath(m.path) in mounted():
            subprocess.run(["fusermount3", "-u", "-z", str(m.path)], capture_output=True)
        try:
            os.kill(m.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    bad = [m for m in mounts if "Traceback" in m.log_text() or "ERROR" in m.log_text()]
    assert mount.allow_errors or not bad, "a mount daemon logged an error:\n" + "\n".join(m.log_text() for m in bad)


@pytest.fixture
def seeded(db_path):
    """A database with a store 'team-sre' and an 'org-knowledge' store holding one file."""
    with Memfs(db_path, identity=Identity(agent="seed", actor="operator")) as m:
        m.create_store("team-sre", "SRE notes")
        org = m.create_store("org-knowledge", "What the org knows")
        m.write(org, "/policies/oncall.md", b"Page the secondary after 15 minutes.\n")
    return db_path


# The project's own transcripts (synthetic, written by tests/transcripts/make_samples.py), and the
# public samples in ../shared when that folder sits beside the checkout: an extra check, never a
# reason to skip. Both have the same file names and shapes, so the same assertions hold on each.
PROJECT_SAMPLES = Path(__file__).resolve().parent / "data" / "transcripts"
# beside the checkout (../shared), or beside the folder of git worktrees (../../shared)
SHARED_SAMPLES = next((p for p in (Path(__file__).resolve().parents[i] / "shared" / "data" / "transcripts"
                                   for i in (2, 3)) if p.is_dir()), Path("/nonexistent"))


@pytest.fixture(params=["project"] + (["shared"] if SHARED_SAMPLES.is_dir() else []))
def samples(request):
    """The folder of sample transcripts: tests/data/transcripts, then ../shared's when present."""
    return PROJECT_SAMPLES if request.param == "project" else SHARED_SAMPLES


@pytest.fixture
def tmpfs_dir(tmp_path):
    """tmpfs_dir(size="16m", mode=None) -> a fresh tmpfs mounted under tmp_path (unmounted after)."""
    mounted_here = []

    def make(size="16m", mode=None, name="tmpfs"):
        d = tmp_path / name
        d.mkdir()
        opts = f"size={size}" + (f",mode={mode}" if mode else "")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
        mounted_here.append(d)
        return d

    yield make
    for d in mounted_here:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
