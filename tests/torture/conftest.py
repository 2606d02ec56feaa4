"""The torture suite: each test records what it tried and what it found; the session ends with
one table (operations tried, faults injected, writes acknowledged, writes found, writes lost)."""

import os

import pytest

RESULTS: dict[str, dict] = {}


@pytest.fixture
def record(request):
    """record(ops=..., faults=..., acked=..., found=..., lost=...) adds to this test's row."""
    row = RESULTS.setdefault(request.node.name, {"ops": 0, "faults": 0, "acked": 0, "found": 0, "lost": 0})

    def add(**counts):
        for k, v in counts.items():
            row[k] += v
        return row

    return add


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    w = terminalreporter
    w.section("memfs torture summary")
    head = f"{'test':<52} {'ops tried':>10} {'faults':>7} {'acked':>7} {'found':>7} {'lost':>5}"
    w.write_line(head)
    w.write_line("-" * len(head))
    total = {"ops": 0, "faults": 0, "acked": 0, "found": 0, "lost": 0}
    for name, row in RESULTS.items():
        w.write_line(f"{name[:52]:<52} {row['ops']:>10} {row['faults']:>7} {row['acked']:>7} {row['found']:>7} {row['lost']:>5}")
        for k in total:
            total[k] += row[k]
    w.write_line("-" * len(head))
    w.write_line(f"{'total':<52} {total['ops']:>10} {total['faults']:>7} {total['acked']:>7} {total['found']:>7} {total['lost']:>5}")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    """A real `memfs serve` app (uvicorn, in a thread) over a store with one memory, and a key."""
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "http"))
    from apiserver import Server

    from memfs import Memfs

    db = str(tmp_path_factory.mktemp("fuzz") / "memfs.db")
    with Memfs(db) as m:
        s = m.create_store("fuzz")
        m.write(s, "/a.md", b"a\n")
        _, key = m.create_api_key(all_stores="rw")
    server = Server(db).start()
    yield server, key, s.uid
    server.stop()
