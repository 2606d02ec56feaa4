"""Helpers for the store-engine tests: look at the SQLite file directly (read-only), so that
tests can prove a refused call changed nothing, and run real worker processes."""

import os
import sqlite3
import subprocess
import sys

import pytest

from memfs import Memfs

WORKERS = os.path.join(os.path.dirname(__file__), "workers")


def raw(db_path):
    """A plain sqlite3 connection to the memfs file, for inspection (and deliberate damage)."""
    if "://" in db_path:
        pytest.skip("looks at the SQLite file itself")
    c = sqlite3.connect(db_path, timeout=10)
    c.row_factory = sqlite3.Row
    return c


def fingerprint(db_path) -> dict:
    """Everything a write could change: revisions, blobs, live nodes, stores, conflicts."""
    if "://" not in db_path:  # SQLite: a plain read, which no writer's lock can block
        c = raw(db_path)
        try:
            return _fingerprint(lambda sql: c.execute(sql).fetchall())
        finally:
            c.close()
    with Memfs(db_path) as m:
        return _fingerprint(m.db.all)


def _fingerprint(rows) -> dict:
    return {
        "head": rows("SELECT COALESCE(MAX(id), 0) FROM revisions")[0][0],
        "revisions": rows("SELECT COUNT(*) FROM revisions")[0][0],
        "blobs": sorted(r[0] for r in rows("SELECT sha256 FROM blobs")),
        "nodes": sorted(tuple(r) for r in rows(
            "SELECT id, store_id, kind, parent_id, name, path, sha256, size, mode, head_rev FROM nodes")),
        "stores": sorted(tuple(r) for r in rows(
            "SELECT id, uid, name, description, metadata, max_content_bytes, updated_at, archived_at FROM stores")),
        "conflicts": rows("SELECT COUNT(*) FROM conflicts")[0][0],
    }


def run_worker(name, *args, **kw):
    """Start tests/store/workers/<name>.py as a real process (its own interpreter, its own Memfs)."""
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, os.path.join(WORKERS, name + ".py"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)
