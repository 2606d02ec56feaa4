"""Fixtures for the HTTP API: a real uvicorn server on a free loopback port over a real SQLite
file, keys made through the store API, the real `anthropic` SDK as the client, and a raw client
(http.client) for what the SDK would never send. A test fails if the server logged an error."""

import logging

import pytest

from memfs import Identity, Memfs
from apiserver import Server  # noqa: F401  (the fixtures below start it)


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def server_errors():
    """Errors the server logged during the test; the `server` fixture fails the test on any."""
    h = _Errors()
    names = ("memfs.http", "uvicorn.error", "uvicorn")
    for n in names:
        logging.getLogger(n).addHandler(h)
    yield h.records
    for n in names:
        logging.getLogger(n).removeHandler(h)


@pytest.fixture
def server(db_path, server_errors):
    with Memfs(db_path):
        pass  # create and migrate the database before the server opens it
    s = Server(db_path).start()
    yield s
    s.stop()
    assert not server_errors, "the server logged errors:\n" + "\n".join(
        r.getMessage() + ("\n" + logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in server_errors)


@pytest.fixture
def admin(m):
    """Make keys through the store API: admin(stores={'a': 'rw'}) or admin(all_stores='rw') -> secret."""

    def make(stores=None, all_stores=None, name=None):
        return m.create_api_key(stores=stores, all_stores=all_stores, name=name)[1]

    return make


@pytest.fixture
def root_key(admin):
    return admin(all_stores="rw", name="root")


@pytest.fixture
def sdk(server, root_key):
    return server.client(root_key)


@pytest.fixture
def agent_m(db_path):
    """Writes as a mount makes them: an agent in a session."""
    with Memfs(db_path, identity=Identity(agent="agent-7", session="ses_mount1", actor="agent")) as mem:
        yield mem
