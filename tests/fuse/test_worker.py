"""The mount's store worker (memfs/worker.py) on real databases: jobs queued together share one
transaction, each keeps its own outcome, and the trio loop goes on while a job waits."""

import time

import pytest
import trio

from memfs import Identity, Memfs, errors
from memfs.worker import Worker


@pytest.fixture
def worker(db_path):
    with Memfs(db_path) as m:
        m.create_store("s")
    w = Worker(lambda: Memfs(db_path, identity=Identity(agent="w", actor="agent")))
    w.start()
    yield w
    w.stop()


def test_writes_queued_together_share_a_transaction_and_keep_their_own_outcome(worker, db_path):
    with Memfs(db_path) as m:
        old = m.write("s", "/guarded.md", b"v1\n").node.sha256
        m.write("s", "/guarded.md", b"v2\n")

    async def main():
        results = {}

        async def one(i):
            try:
                if i == 5:  # a stale write among them: refused alone
                    results[i] = await worker.run(lambda m: m.write("s", "/guarded.md", b"mine\n", if_match=old))
                else:
                    results[i] = await worker.run(lambda m: m.write("s", f"/f{i}.md", f"{i}\n".encode()))
            except errors.PreconditionFailed as e:
                results[i] = e

        async with trio.open_nursery() as n:
            for i in range(20):
                n.start_soon(one, i)
        return results

    batches = worker.batches
    results = trio.run(main)
    assert isinstance(results[5], errors.PreconditionFailed)
    assert all(results[i].revision is not None for i in results if i != 5)
    # 20 writes, queued at once, took fewer transactions than writes (one fsync for many)
    assert worker.batches - batches < 20 and worker.grouped > 0
    with Memfs(db_path) as m:
        assert m.read("s", "/guarded.md") == b"v2\n"
        assert sorted(e.path for e in m.walk("s") if e.path.startswith("/f")) == sorted(
            f"/f{i}.md" for i in range(20) if i != 5)
        assert m.conflicts("s") == []


def test_the_loop_goes_on_while_a_job_waits(worker):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await trio.sleep(0.01)

        async with trio.open_nursery() as n:
            n.start_soon(ticker)
            t = time.monotonic()
            await worker.run(lambda m: time.sleep(0.5), group=False)
            assert time.monotonic() - t >= 0.5
            n.cancel_scope.cancel()
        return ticks

    assert trio.run(main) >= 20  # about 50 ticks in 0.5 s; none if the wait blocked trio


def test_a_job_that_fails_reaches_its_caller_only(worker):
    async def main():
        with pytest.raises(errors.InvalidInput):
            await worker.run(lambda m: m.write("s", "/bad", b"x", if_match="nothex"))
        return await worker.run(lambda m: m.write("s", "/good.md", b"ok\n"))

    assert trio.run(main).revision is not None
