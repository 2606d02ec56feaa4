"""Fixtures for the store-engine tests (helpers live in storehelpers.py)."""

from contextlib import contextmanager

import pytest

from storehelpers import fingerprint


@pytest.fixture
def unchanged(db_path):
    """`with unchanged(): bad call` asserts that no revision, blob, node, store or conflict changed."""
    @contextmanager
    def check():
        before = fingerprint(db_path)
        yield
        after = fingerprint(db_path)
        assert after == before

    return check
