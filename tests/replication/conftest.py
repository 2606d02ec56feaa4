"""Fixtures for replication, export and import: a source database with a rich history and an
empty target database next to it (both real SQLite files)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from memfs import Memfs  # noqa: E402
from replhelpers import OPS, build_history  # noqa: E402


@pytest.fixture
def src_path(tmp_path):
    return str(tmp_path / "source.db")


@pytest.fixture
def dst_path(tmp_path):
    return str(tmp_path / "target.db")


@pytest.fixture
def src(src_path):
    with Memfs(src_path, identity=OPS) as m:
        yield m


@pytest.fixture
def history(src):
    """The source with every kind of change (see build_history)."""
    return build_history(src)
