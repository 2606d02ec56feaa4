"""Fixtures of the mount tests (the mount itself: `mounter` and `seeded` in tests/conftest.py)."""

import pytest

from memfs import Identity, Memfs
from mounting import memfs


@pytest.fixture
def cli(db_path):
    """cli('mounts', check=False) -> CompletedProcess of the real `memfs` command on the test database."""

    def run(*args, **kw):
        return memfs(db_path, *args, **kw)

    return run


@pytest.fixture
def two_agents(seeded, mounter):
    """Two mounts of team-sre in two daemons: alice (session sa) and bob (session sb)."""
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    return a, b


@pytest.fixture
def small_store(seeded):
    """A store 'small' that accepts at most 100 bytes per file."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        m.create_store("small", "tiny files only", max_content_bytes=100)
    return "small"
