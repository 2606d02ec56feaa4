"""The server's memory writes are committed in groups (memfs/worker.py): many clients writing at
once share transactions, and each keeps its own outcome — one stale write among them gets its 409,
its neighbours their 200."""

import threading

import anthropic
import pytest

from httphelpers import api_error


def test_concurrent_writers_share_transactions_and_keep_their_own_outcome(server, sdk, m):
    ms = sdk.beta.memory_stores
    s = ms.create(name="busy")
    guarded = ms.memories.create(s.id, path="/guarded.md", content="v1")
    ms.memories.update(guarded.id, memory_store_id=s.id, content="v2")
    committer = server.app.state.committer
    batches_before, grouped_before = committer.batches, committer.grouped
    results, barrier = {}, threading.Barrier(24)

    def writer(i):
        client = server.client(sdk.api_key).beta.memory_stores
        barrier.wait()
        try:
            for j in range(5):
                if i == 0 and j == 2:  # a stale precondition among the crowd
                    client.memories.update(guarded.id, memory_store_id=s.id, content="stale",
                                           precondition={"type": "content_sha256",
                                                         "content_sha256": guarded.content_sha256})
                else:
                    client.memories.create(s.id, path=f"/w{i}/{j}.md", content=f"{i}.{j}")
            results[i] = "ok"
        except anthropic.APIStatusError as e:
            results[i] = e

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with pytest.raises(anthropic.APIStatusError) as e:
        raise results[0]
    api_error(e, 409, "memory_precondition_failed_error")
    assert all(results[i] == "ok" for i in range(1, 24))
    written = {e.path for e in m.walk("busy") if e.path.startswith("/w") and e.kind == "file"}
    assert len(written) == 23 * 5 + 2
    assert m.read("busy", "/guarded.md") == b"v2"
    # 117 writes took fewer transactions than writes: some shared one (one fsync for several)
    assert committer.grouped - grouped_before > 0
    assert committer.batches - batches_before < 117
