"""`/v1/dreams` through the real `anthropic` SDK (`client.beta.dreams`) against a real server over
a real SQLite file, running memfs's local dream engine; memfs's diff and apply extensions through
raw HTTP (the SDK does not know them)."""

import time

import anthropic
import pytest

from memfs import Identity
from httphelpers import api_error, raw_error
from planted import DISK, DISK_BOB



DNS = "# DNS\n\nFlush the resolver cache with resolvectl flush-caches.\n"
ALICE = Identity(agent="alice", session="s-alice", actor="agent")
BOB = Identity(agent="bob", session="s-bob", actor="agent")


@pytest.fixture(autouse=True)
def _local_engine(monkeypatch):
    """The server's engine is `claude` where an API key is configured: never here (no network)."""
    monkeypatch.setenv("MEMFS_DREAM_ENGINE", "local")


@pytest.fixture
def notes(m, store):
    """A store with two near-duplicate notes by two agents (the local engine merges them)."""
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=ALICE)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=BOB)
    m.write(store, "/runbooks/dns.md", DNS.encode(), identity=ALICE)
    return store


def inputs(store, sessions=("s-alice", "s-bob")):
    return [{"type": "memory_store", "memory_store_id": store.uid},
            {"type": "sessions", "session_ids": list(sessions)}]


def wait_done(sdk, dream_id, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        d = sdk.beta.dreams.retrieve(dream_id)
        if d.status in ("completed", "failed", "canceled"):
            return d
        assert time.monotonic() < deadline, f"dream {dream_id} still {d.status}"
        time.sleep(0.05)


def files(m, ref):
    return {f.path: m.blob(f.sha256).decode() for f in m.files(ref, "/", depth=0)}


def test_create_new_life_cycle_diff_and_apply(server, sdk, m, notes, root_key):
    before = files(m, notes)
    t0 = time.monotonic()
    d = sdk.beta.dreams.create(inputs=inputs(notes), model="claude-sonnet-4-5", instructions="merge duplicates")
    assert time.monotonic() - t0 < 5
    assert d.id.startswith("drm_") and d.type == "dream"
    assert d.status in ("pending", "running", "completed")
    assert d.output_behavior.type == "create_new" and d.model.id == "claude-sonnet-4-5"
    assert d.inputs[1].session_ids == ["s-alice", "s-bob"]

    d = wait_done(sdk, d.id)
    assert d.status == "completed", d.error
    assert d.error is None and d.ended_at is not None and d.created_at <= d.ended_at
    assert d.usage.input_tokens == 0 and d.usage.output_tokens == 0  # the local engine uses no model
    assert d.instructions == "merge duplicates"
    [out] = d.outputs
    assert out.type == "memory_store" and out.memory_store_id != notes.uid
    # the input is untouched; the new store holds the result
    assert files(m, notes) == before
    new = {mm.path: mm for mm in sdk.beta.memory_stores.memories.list(out.memory_store_id, view="full")
           if mm.type == "memory"}
    assert "/notes/disk-alerts.md" not in new and "Compressed core dumps" in new["/runbooks/disk.md"].content
    assert new["/runbooks/dns.md"].content == DNS

    assert [x.id for x in sdk.beta.dreams.list()] == [d.id]

    # memfs's diff: unified diffs, every hunk with its reasons and evidence
    code, diff, _ = server.raw("GET", f"/v1/dreams/{d.id}/diff", key=root_key)
    assert code == 200, diff
    by_path = {f["path"]: f for f in diff["files"]}
    assert by_path["/notes/disk-alerts.md"]["action"] == "delete"
    mod = by_path["/runbooks/disk.md"]
    assert mod["action"] == "modify" and mod["diff"].startswith("--- a/runbooks/disk.md\n+++ b/runbooks/disk.md\n@@")
    assert "+Compressed core dumps in the crash directory can be removed after a week." in mod["diff"]
    notes_ = [a for h in by_path["/notes/disk-alerts.md"]["hunks"] for a in h["annotations"]]
    assert notes_ and notes_[0]["kind"] == "merge_duplicates" and "merged into /runbooks/disk.md" in notes_[0]["reason"]
    assert any(e.get("agent") == "bob" for e in notes_[0]["evidence"])
    assert diff["diff"].count("--- ") == 2

    # apply one path to the input store, then an agent changes the other: apply reports, never clobbers
    code, rep, _ = server.raw("POST", f"/v1/dreams/{d.id}/apply", {"paths": ["/runbooks/disk.md"]}, key=root_key)
    assert code == 200, rep
    assert rep["applied"] == ["/runbooks/disk.md"] and rep["conflicts"] == []
    assert "Compressed core dumps" in m.read(notes, "/runbooks/disk.md").decode()
    assert m.lookup(notes, "/notes/disk-alerts.md") is not None
    m.write(notes, "/notes/disk-alerts.md", (DISK_BOB + "\nnew line from bob\n").encode(), identity=BOB)
    code, rep, _ = server.raw("POST", f"/v1/dreams/{d.id}/apply", {}, key=root_key)
    assert code == 200, rep
    assert [c["path"] for c in rep["conflicts"]] == ["/notes/disk-alerts.md"]
    assert rep["already"] == ["/runbooks/disk.md"] and rep["applied"] == []
    assert m.read(notes, "/notes/disk-alerts.md").decode().endswith("new line from bob\n")  # not deleted
    assert rep["dream"]["memfs"]["review"] == "partially_applied"
    # the applied revision is the dream's, as the memory versions API shows it
    vers = sdk.beta.memory_stores.memory_versions.list(notes.uid, service_account_id=d.id)
    assert [v.created_by.type for v in vers] == ["service_account_actor"]


def test_update_existing_writes_the_input_store(sdk, m, notes):
    d = sdk.beta.dreams.create(inputs=inputs(notes), model={"id": "claude-opus-4-1"},
                               output_behavior={"type": "update_existing", "memory_store_id": notes.uid})
    d = wait_done(sdk, d.id)
    assert d.status == "completed", d.error
    assert [o.memory_store_id for o in d.outputs] == [notes.uid]
    assert d.output_behavior.type == "update_existing" and d.output_behavior.memory_store_id == notes.uid
    assert m.lookup(notes, "/notes/disk-alerts.md") is None
    assert "Compressed core dumps" in m.read(notes, "/runbooks/disk.md").decode()
    assert len(m.list_stores()) == 1  # no new store


def test_time_window_extension(server, m, notes, root_key, sdk):
    code, d, _ = server.raw("POST", "/v1/dreams", {
        "inputs": [{"type": "memory_store", "memory_store_id": notes.uid},
                   {"type": "time_window", "since": "2000-01-01T00:00:00Z"}], "model": "m"}, key=root_key)
    assert code == 200, d
    d = wait_done(sdk, d["id"])
    assert d.status == "completed", d.error
    code, body, _ = server.raw("GET", f"/v1/dreams/{d.id}", key=root_key)
    assert body["inputs"][1] == {"type": "time_window", "since": "2000-01-01T00:00:00Z"}
    assert {"s-alice", "s-bob"} <= set(body["memfs"]["sessions_read"])
    ex = body["memfs"]["explain"]  # what the dream read and left out, as `memfs dream show` prints it
    assert {r["session"] for r in ex["read"]} == set(body["memfs"]["sessions_read"])
    assert ex["nothing_to_read"] is False and ex["left_out_count"] == 0


def test_cancel_pending_then_archive(server, sdk, m, notes, root_key):
    server.app.state.dreams.pause()
    try:
        d = sdk.beta.dreams.create(inputs=inputs(notes), model="m")
        assert d.status == "pending" and d.outputs == []
        assert sdk.beta.dreams.retrieve(d.id).status == "pending"
        # a second dream of the same store waits for the first to stop
        with pytest.raises(anthropic.APIStatusError) as ei:
            sdk.beta.dreams.create(inputs=inputs(notes), model="m")
        api_error(ei, 409, "invalid_request_error")
        with pytest.raises(anthropic.APIStatusError) as ei:
            sdk.beta.dreams.archive(d.id)
        api_error(ei, 409, "invalid_request_error")
        code, _, _ = server.raw("GET", f"/v1/dreams/{d.id}/diff", key=root_key)
        assert code == 409
        c = sdk.beta.dreams.cancel(d.id)
        assert c.status == "canceled" and c.ended_at is not None
    finally:
        server.app.state.dreams.resume()
    server.app.state.dreams.wait()
    assert sdk.beta.dreams.retrieve(d.id).status == "canceled"  # the worker did not resurrect it
    assert sdk.beta.dreams.cancel(d.id).status == "canceled"  # idempotent
    code, body, _ = server.raw("POST", f"/v1/dreams/{d.id}/apply", {}, key=root_key)
    raw_error((code, body, _), 409, "invalid_request_error")

    a = sdk.beta.dreams.archive(d.id)
    assert a.archived_at is not None
    assert sdk.beta.dreams.archive(d.id).archived_at == a.archived_at
    assert [x.id for x in sdk.beta.dreams.list()] == []
    assert [x.id for x in sdk.beta.dreams.list(include_archived=True)] == [d.id]
    # a completed dream cannot be canceled
    d2 = wait_done(sdk, sdk.beta.dreams.create(inputs=inputs(notes), model="m").id)
    assert d2.status == "completed"
    with pytest.raises(anthropic.APIStatusError) as ei:
        sdk.beta.dreams.cancel(d2.id)
    api_error(ei, 409, "invalid_request_error")
    assert [x.id for x in sdk.beta.dreams.list(statuses=["completed"])] == [d2.id]
    assert [x.id for x in sdk.beta.dreams.list(include_archived=True, statuses=["canceled"])] == [d.id]
    page = sdk.beta.dreams.list(include_archived=True, limit=1)
    assert [x.id for x in page.data] == [d2.id] and page.next_page
    assert [x.id for x in page.get_next_page().data] == [d.id]


def test_scopes(server, sdk, m, notes, admin):
    other = m.create_store("other", "")
    m.write(other, "/x.md", b"x\n", identity=ALICE)
    ro = server.client(admin(stores={notes.name: "ro"}))
    rw_one = server.client(admin(stores={notes.name: "rw"}))
    outsider = server.client(admin(stores={other.name: "rw"}))
    d = wait_done(sdk, sdk.beta.dreams.create(inputs=inputs(notes), model="m").id)

    assert ro.beta.dreams.retrieve(d.id).id == d.id
    assert [x.id for x in ro.beta.dreams.list()] == [d.id]
    for call in (lambda: ro.beta.dreams.create(inputs=inputs(notes), model="m"),
                 lambda: ro.beta.dreams.cancel(d.id), lambda: ro.beta.dreams.archive(d.id)):
        with pytest.raises(anthropic.PermissionDeniedError) as ei:
            call()
        api_error(ei, 403, "permission_error")
    raw_error(server.raw("POST", f"/v1/dreams/{d.id}/apply", {}, key=ro.api_key), 403, "permission_error")

    # a key for another store cannot learn that this dream (or its store) exists
    assert list(outsider.beta.dreams.list()) == []
    for call in (lambda: outsider.beta.dreams.retrieve(d.id), lambda: outsider.beta.dreams.cancel(d.id),
                 lambda: outsider.beta.dreams.create(inputs=inputs(notes), model="m")):
        with pytest.raises(anthropic.NotFoundError) as ei:
            call()
        api_error(ei, 404, "not_found_error")
    raw_error(server.raw("GET", f"/v1/dreams/{d.id}/diff", key=outsider.api_key), 404, "not_found_error")
    raw_error(server.raw("POST", f"/v1/dreams/{d.id}/apply", {}, key=outsider.api_key), 404, "not_found_error")

    # create_new makes a store: a key scoped to one store may only update_existing
    with pytest.raises(anthropic.PermissionDeniedError):
        rw_one.beta.dreams.create(inputs=inputs(notes), model="m")
    d2 = rw_one.beta.dreams.create(inputs=inputs(notes), model="m",
                                   output_behavior={"type": "update_existing", "memory_store_id": notes.uid})
    assert wait_done(rw_one, d2.id).status == "completed"
    raw_error(server.raw("GET", "/v1/dreams"), 401, "authentication_error")


def test_bad_input(server, sdk, m, notes, root_key):
    def post(body, path="/v1/dreams"):
        return server.raw("POST", path, body, key=root_key)

    good = {"inputs": inputs(notes), "model": "m"}
    raw_error(post(b"{not json", ), 400, "invalid_request_error")
    raw_error(post({"model": "m"}), 400, "invalid_request_error")
    raw_error(post({**good, "surprise": 1}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes)[:1]}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes) + inputs(notes)[1:]}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes, [])}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes, [f"s{i}" for i in range(101)])}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes, ["a", "a"])}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes, [7])}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": inputs(notes, ["\ud800"])}), 400, "invalid_request_error")
    raw_error(post({**good, "inputs": [{"type": "memory_store", "memory_store_id": 5}, inputs(notes)[1]]}),
              400, "invalid_request_error")
    raw_error(post({**good, "inputs": [{"type": "memory_store", "memory_store_id": "memstore_" + "0" * 24},
                                       inputs(notes)[1]]}), 404, "not_found_error")
    raw_error(post({**good, "inputs": [inputs(notes)[0], {"type": "time_window", "since": "yesterday"}]}),
              400, "invalid_request_error")
    # a session id nothing knows: refused at once, no job left to fail later
    jobs = len(m.dream_jobs())
    err = raw_error(post({**good, "inputs": inputs(notes, ["s-alice", "s-typo"])}), 404, "not_found_error")
    assert "no such session: s-typo" in err["message"] and len(m.dream_jobs()) == jobs
    raw_error(post({**good, "model": ""}), 400, "invalid_request_error")
    raw_error(post({**good, "model": {"id": "m", "speed": "fast"}}), 400, "invalid_request_error")
    raw_error(post({**good, "instructions": "x" * 4097}), 400, "invalid_request_error")
    raw_error(post({**good, "output_behavior": {"type": "update_existing", "memory_store_id": "memstore_x"}}),
              400, "invalid_request_error")
    raw_error(post({**good, "output_behavior": {"type": "overwrite"}}), 400, "invalid_request_error")
    for bad in ("nope", "drm_" + "0" * 20, "drm_../x"):
        raw_error(server.raw("GET", f"/v1/dreams/{bad}", key=root_key), 404, "not_found_error")
        raw_error(server.raw("POST", f"/v1/dreams/{bad}/cancel", key=root_key), 404, "not_found_error")
    raw_error(server.raw("GET", "/v1/dreams?page=garbage", key=root_key), 400, "invalid_request_error")
    raw_error(server.raw("GET", "/v1/dreams?statuses[]=sleeping", key=root_key), 400, "invalid_request_error")
    raw_error(server.raw("GET", "/v1/dreams?limit=0", key=root_key), 400, "invalid_request_error")
    raw_error(server.raw("GET", "/v1/dreams?created_at_gt=soon", key=root_key), 400, "invalid_request_error")

    d = wait_done(sdk, sdk.beta.dreams.create(inputs=inputs(notes), model="m").id)
    raw_error(post({"paths": ["/not/in/proposal.md"]}, f"/v1/dreams/{d.id}/apply"), 400, "invalid_request_error")
    raw_error(post({"paths": []}, f"/v1/dreams/{d.id}/apply"), 400, "invalid_request_error")
    raw_error(post({"paths": ["relative.md"]}, f"/v1/dreams/{d.id}/apply"), 400, "invalid_request_error")
    raw_error(post({"paths": "/x"}, f"/v1/dreams/{d.id}/apply"), 400, "invalid_request_error")
    raw_error(post(b"[", f"/v1/dreams/{d.id}/apply"), 400, "invalid_request_error")
    # an archived input store cannot be dreamt
    m.archive_store(notes)
    raw_error(post(good), 400, "invalid_request_error")


def test_dreams_of_the_cli_are_listed_too(sdk, m, notes):
    from memfs import dream

    job = dream.run(m, notes, engine="local", sessions=["s-alice"]).job
    [d] = sdk.beta.dreams.list()
    assert d.id == job.id and d.status == "completed" and d.inputs[1].session_ids == ["s-alice"]
    assert d.output_behavior.type == "create_new" and d.outputs == []


def test_the_claude_engine_when_the_server_has_an_api_key(server, sdk, m, notes, monkeypatch):
    """With ANTHROPIC_API_KEY (and here ANTHROPIC_BASE_URL, a local stub) the server dreams with
    the claude engine and the requested model; usage is the model's."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dream"))
    from claudestub import Stub, message, tool_use

    turns = [[tool_use("t1", "memory", {"command": "create", "path": "/memories/lessons/disk.md",
                                        "file_text": "- check df -i too (s-bob)\n", "reason": "inodes ran out",
                                        "evidence": [{"session": "s-bob"}]})],
             [tool_use("t2", "finish", {"report": "one lesson"})]]

    def script(body):
        if "tool_choice" in body:
            return message([tool_use("m1", "record_learnings", {"learnings": []})], stop_reason="tool_use")
        k = sum(1 for x in body["messages"] if x["role"] == "assistant")
        return message(turns[k], stop_reason="tool_use") if k < len(turns) else message([{"type": "text", "text": "ok"}])

    monkeypatch.delenv("MEMFS_DREAM_ENGINE")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    with Stub(script) as stub:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
        d = wait_done(sdk, sdk.beta.dreams.create(inputs=inputs(notes), model="claude-test").id)
    assert d.status == "completed", d.error
    assert stub.requests and stub.requests[-1]["body"]["model"] == "claude-test"
    assert d.usage.input_tokens >= 100 and d.usage.output_tokens >= 20
    code, body, _ = server.raw("GET", f"/v1/dreams/{d.id}", key=sdk.api_key)
    assert body["memfs"]["engine"] == "claude" and body["memfs"]["changes"] == 1
    new = d.outputs[0].memory_store_id
    assert new != notes.uid and m.lookup(notes, "/lessons/disk.md") is None
    assert {x.path for x in sdk.beta.memory_stores.memories.list(new)} == {
        "/notes/disk-alerts.md", "/runbooks/disk.md", "/runbooks/dns.md", "/lessons/disk.md"}


def test_cancel_a_running_dream(server, sdk, m, notes, monkeypatch):
    import sys
    import threading
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dream"))
    from claudestub import Stub, message, tool_use

    entered, release = threading.Event(), threading.Event()

    def script(body):
        entered.set()
        release.wait(10)
        return message([tool_use("t1", "memory", {"command": "view", "path": "/memories"})], stop_reason="tool_use")

    monkeypatch.delenv("MEMFS_DREAM_ENGINE")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    with Stub(script) as stub:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
        d = sdk.beta.dreams.create(inputs=inputs(notes), model="claude-test")
        assert entered.wait(10)
        assert sdk.beta.dreams.retrieve(d.id).status == "running"
        c = sdk.beta.dreams.cancel(d.id)
        assert c.status == "running"  # asked to stop: it stops at its next step
        release.set()
        d = wait_done(sdk, d.id)
    assert d.status == "canceled" and d.error.type == "canceled"
    assert d.outputs == [] and len(m.list_stores()) == 1
    assert len(stub.requests) == 1
