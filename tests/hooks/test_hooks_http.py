"""Write hooks on the HTTP API, driven by the official SDK: a refusal is a 422 `hook_refused_error`
whose message carries the hook's reason; a redaction is what the API then serves."""

import threading
import time

import anthropic
import pytest

from memfs import Memfs


def _error(e) -> dict:
    return e.value.response.json()["error"]


def test_refusal_is_422_with_the_reason(api, db_path, secret_hook):
    ms = api.client().beta.memory_stores
    s = ms.create(name="team")
    with Memfs(db_path) as m:
        m.add_hook(s.id, secret_hook)
    with pytest.raises(anthropic.UnprocessableEntityError) as e:
        ms.memories.create(s.id, path="/a.md", content="the SECRET\n")
    assert e.value.status_code == 422
    err = _error(e)
    assert err["type"] == "hook_refused_error" and "no secrets here (found SECRET)" in err["message"]
    assert list(ms.memories.list(s.id)) == []

    mem = ms.memories.create(s.id, path="/a.md", content="fine\n")
    with pytest.raises(anthropic.UnprocessableEntityError) as e:
        ms.memories.update(mem.id, memory_store_id=s.id, content="now a SECRET\n")
    assert "no secrets here" in _error(e)["message"]
    assert ms.memories.retrieve(mem.id, memory_store_id=s.id).content == "fine\n"


def test_redaction_is_what_the_api_serves(api, db_path, secret_hook):
    ms = api.client().beta.memory_stores
    s = ms.create(name="team")
    with Memfs(db_path) as m:
        m.add_hook(s.id, secret_hook)
    mem = ms.memories.create(s.id, path="/c.md", content="call 555-1234\n", view="full")
    assert mem.content == "call [phone]\n"
    ms.memories.update(mem.id, memory_store_id=s.id, content="or 555-1234 later\n")
    assert ms.memories.retrieve(mem.id, memory_store_id=s.id).content == "or [phone] later\n"


def test_a_broken_hook_failing_closed_is_422(api, db_path):
    ms = api.client().beta.memory_stores
    s = ms.create(name="team")
    with Memfs(db_path) as m:
        m.add_hook(s.id, "sleep 30", timeout=0.5)
    with pytest.raises(anthropic.UnprocessableEntityError) as e:
        ms.memories.create(s.id, path="/a.md", content="x")
    assert "timed out after 0.5s" in _error(e)["message"]


def test_pii_scan_behind_the_api(api, db_path, pii_scan):
    ms = api.client().beta.memory_stores
    s = ms.create(name="team")
    with Memfs(db_path) as m:
        m.add_hook(s.id, pii_scan)
    with pytest.raises(anthropic.UnprocessableEntityError) as e:
        ms.memories.create(s.id, path="/billing.md", content="customer card 4111 1111 1111 1111\n")
    assert _error(e)["message"].endswith("pii-scan found credit card number on line 1")
    mem = ms.memories.create(s.id, path="/people.md", content="ask ana@example.com\n", view="full")
    assert mem.content == "ask [email redacted]\n"


def test_a_slow_hook_holds_up_no_other_request(api, db_path, hook, tmp_path):
    """While one request waits for its store's slow hook, the server reads and writes for others."""
    started = tmp_path / "started"
    ms = api.client().beta.memory_stores
    slow, other = ms.create(name="slow"), ms.create(name="other")
    seen = ms.memories.create(other.id, path="/seen.md", content="x\n")
    with Memfs(db_path) as m:
        m.add_hook(slow.id, hook(f"""
            open({str(started)!r}, "w").close()
            time.sleep(3)
            answer({{"decision": "allow"}})
        """))
    done = []
    t = threading.Thread(target=lambda: done.append(ms.memories.create(slow.id, path="/a.md", content="a\n")))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline, "the hook never started"
            time.sleep(0.02)
        t0 = time.monotonic()
        assert api.client().beta.memory_stores.memories.retrieve(seen.id, memory_store_id=other.id).content == "x\n"
        api.client().beta.memory_stores.memories.create(other.id, path="/b.md", content="b\n")
        assert time.monotonic() - t0 < 1.5
        assert not done  # the slow write was still waiting for its hook
    finally:
        t.join(20)
    assert done and done[0].path == "/a.md"


def test_openapi_documents_the_422(api):
    status, doc, _ = api.raw("GET", "/openapi.json")
    assert status == 200
    writes = doc["paths"]["/v1/memory_stores/{memory_store_id}/memories"]["post"]
    assert "hook_refused_error" in writes["responses"]["422"]["description"]
    assert "422" not in doc["paths"]["/v1/memory_stores"]["get"]["responses"]
