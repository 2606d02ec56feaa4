"""Fixtures shared by every layer: a throwaway user directory and database, a store, a CLI runner."""

import os

import pytest
from click.testing import CliRunner

from memfs import Identity, Memfs


@pytest.fixture(autouse=True)
def _user_dir(tmp_path, monkeypatch):
    """Tests never touch the real home: the user directory and database live in tmp_path."""
    monkeypatch.setenv("MEMFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEMFS_DB", str(tmp_path / "memfs.db"))
    for var in ("MEMFS_AGENT", "MEMFS_SESSION"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "memfs.db")


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
