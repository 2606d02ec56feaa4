"""The claude engine end to end: the real anthropic SDK over HTTP against a local stub of the
Messages API with scripted tool-use turns. Never the network."""

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from memfs import Identity, Memfs, dream
from memfs.dream.proposal import Proposal

from claudestub import Stub, error, message, tool_use
from planted import DISK


def scripted(learning_sessions=("sess-alice",), integrator=None, map_delay=0.0):
    """Map: one learning per batch citing the sessions it saw. Integrate: the `integrator` turns."""
    turns = integrator or [
        [tool_use("t1", "memory", {"command": "view", "path": "/memories"})],
        [tool_use("t2", "memory", {"command": "str_replace", "path": "/memories/runbooks/disk.md",
                                   "old_str": "check usage with df -h", "new_str": "check usage with df -h (and df -i)",
                                   "reason": "sessions kept forgetting inodes",
                                   "evidence": [{"session": "sess-bob", "ref": "sess-bob.jsonl:3"}]}),
         tool_use("t3", "memory", {"command": "create", "path": "/memories/lessons/git.md",
                                   "file_text": "# Git\n\n- pull --rebase before pushing (sess-alice, sess-bob)\n",
                                   "reason": "the same push rejection in three sessions",
                                   "evidence": [{"session": "sess-alice", "ref": "sess-alice.jsonl:3"}]})],
        [tool_use("t4", "finish", {"report": "alice, bob and carol all hit the push rejection."})],
    ]

    def script(body):
        if "tool_choice" in body:
            time.sleep(map_delay)
            text = body["messages"][0]["content"]
            sids = sorted(set(re.findall(r"## session (\S+)", text)))
            return message([tool_use("m1", "record_learnings", {"learnings": [
                {"kind": "error_pattern", "title": "git push rejected", "text": "pull --rebase first",
                 "evidence": [{"session": s, "ref": "x:1"} for s in sids]}]})], stop_reason="tool_use")
        k = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if k < len(turns):
            return message(turns[k], stop_reason="tool_use", cache_read=50)
        return message([{"type": "text", "text": "done"}])

    return script


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("MEMFS_DREAM_RETRY_BASE", "0.01")

    def start(script):
        stub = Stub(script)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", stub.url)
        return stub

    return start


@pytest.fixture
def seeded(m, store, alice, git_error_sessions):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    return store


def test_claude_engine_end_to_end_via_cli(api, memfs_cli, m, seeded):
    with api(scripted()) as stub:
        r = memfs_cli("dream", "run", "team-sre", "--engine", "claude", "--model", "claude-test", "--since", "3650d",
                      "--instructions", "focus on git")
    assert r.exit_code == 0, r.output
    job = m.dream_jobs()[0]
    assert (job.status, job.engine, job.model) == ("completed", "claude", "claude-test")
    p = Proposal.from_dict(job.proposal)
    assert {c.path: c.action for c in p.changes} == {"/runbooks/disk.md": "modify", "/lessons/git.md": "create"}
    assert "check usage with df -h (and df -i)" in p.change("/runbooks/disk.md").content
    ann = p.change("/lessons/git.md").annotations[0]
    assert ann.reason == "the same push rejection in three sessions" and ann.evidence[0].session == "sess-alice"
    assert p.report.startswith("alice, bob and carol all hit the push rejection.")
    assert p.findings["learnings"][0]["title"] == "git push rejected"
    # usage summed over the calls and every call logged on the job
    calls = m.dream_calls(job.id)
    assert [c["phase"] for c in calls] == ["map", "integrate", "integrate", "integrate"]
    assert job.usage["input_tokens"] == 400 and job.usage["output_tokens"] == 80
    assert job.usage["cache_read_input_tokens"] == 150 and job.usage["calls"] == 4
    # what the SDK sent: model, forced structured output, the cached store snapshot, tool results in one turn
    mp = stub.of("map")[0]["body"]
    assert mp["model"] == "claude-test" and mp["tool_choice"] == {"type": "tool", "name": "record_learnings"}
    assert "focus on git" in mp["system"] and "[" in mp["messages"][0]["content"]
    integ = stub.of("integrate")
    sysblocks = integ[0]["body"]["system"]
    assert sysblocks[1]["cache_control"] == {"type": "ephemeral"} and "/memories/runbooks/disk.md" in sysblocks[1]["text"]
    third = integ[2]["body"]["messages"]
    assert [b["tool_use_id"] for b in third[-1]["content"]] == ["t2", "t3"]
    assert m.read(seeded, "/runbooks/disk.md") == DISK.encode()  # proposing writes nothing
    show = memfs_cli("dream", "show", job.id, "--no-color").output
    assert "# why: sessions kept forgetting inodes [integrated]" in show and "sess-bob.jsonl:3" in show


def test_all_stores_one_failing_store_does_not_stop_the_others(api, m, seeded, db_path):
    """cron over all stores, a real `memfs` process: the API refuses the dream of one store; the
    stores after it are still dreamed; each has its line and the exit status says a store failed."""
    m.create_store("aaa-broken")
    m.write("aaa-broken", "/x.md", b"# X\n\n- rotate the logs weekly\n", identity=Identity(agent="dan", session="s-dan"))
    ok = scripted()

    def script(body):
        if "The store aaa-broken at revision" in json.dumps(body):
            return error(400, "invalid_request_error", "prompt is too long")
        return ok(body)

    with api(script):
        p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "memfs"), "dream", "run", "--all-stores",
                            "--engine", "claude", "--since", "3650d"],
                           env={**os.environ, "MEMFS_DB": db_path}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("aaa-broken: failed: drm_"), p.stdout
    assert lines[0].endswith("prompt is too long")
    assert lines[1].startswith("team-sre: dreamed: drm_") and lines[1].endswith(" 2 changes proposed"), p.stdout
    assert p.stderr == "Error: 1 of 2 stores failed to dream: aaa-broken\n"
    assert [j.status for j in sorted(m.dream_jobs(), key=lambda j: j.store_name)] == ["failed", "completed"]


def test_parallel_map_is_bounded(api, m, seeded):
    with api(scripted(map_delay=0.2)) as stub:
        res = dream.run(m, seeded, engine="claude", since=0.0, engine_options={"concurrency": 2, "batch_chars": 300})
    assert res.job.status == "completed", res.job.error
    assert len(stub.of("map")) >= 4
    assert stub.max_in_flight == 2
    cited = {e["session"] for x in res.job.proposal["findings"]["learnings"] for e in x["evidence"]}
    assert {"sess-alice", "sess-bob", "sess-carol"} <= cited


def test_retries_with_backoff_on_overload(api, m, seeded):
    state = {"n": 0}
    inner = scripted()

    def flaky(body):
        state["n"] += 1
        if state["n"] <= 2:
            return error(529, "overloaded_error", "Overloaded")
        return inner(body)

    with api(flaky) as stub:
        res = dream.run(m, seeded, engine="claude", since=0.0)
    assert res.job.status == "completed", res.job.error
    assert res.job.usage["retries"] == 2
    assert [r["headers"].get("x-stainless-retry-count") for r in stub.requests[:3]] == ["0", "0", "0"]


def test_non_retryable_error_fails_the_job(api, memfs_cli, m, seeded):
    with api(lambda body: error(400, "invalid_request_error", "model: not found")) as stub:
        r = memfs_cli("dream", "run", "team-sre", "--engine", "claude", "--since", "3650d")
    assert r.exit_code == 1 and len(stub.requests) == 1
    assert r.stderr.strip().endswith("the Messages API answered 400: invalid_request_error: model: not found")
    assert m.dream_jobs()[0].status == "failed"


def test_hard_token_budget(api, m, seeded):
    with api(scripted()) as stub:
        res = dream.run(m, seeded, engine="claude", since=0.0, budget_tokens=300)
    job = res.job
    assert job.status == "failed" and job.error["type"] == "budget_exceeded"
    # map 120 tokens, then 170 per integrator turn (cache reads count): the fourth call is never made
    assert len(stub.requests) == 3
    assert all(r["body"]["max_tokens"] <= 300 for r in stub.requests)
    assert stub.requests[-1]["body"]["max_tokens"] == 300 - 290
    assert job.usage["input_tokens"] + job.usage["output_tokens"] + job.usage["cache_read_input_tokens"] == 460
    assert job.proposal is None


def test_tool_errors_go_back_to_the_model(api, m, seeded):
    turns = [
        [tool_use("a", "memory", {"command": "str_replace", "path": "/memories/runbooks/disk.md", "old_str": "df",
                                  "new_str": "x"}),
         tool_use("b", "memory", {"command": "view", "path": "/memories/../etc/passwd"}),
         tool_use("c", "memory", {"command": "rename", "old_path": "/memories/runbooks/disk.md",
                                  "new_path": "/memories/runbooks/storage.md", "reason": "clearer name"})],
        [tool_use("d", "finish", {"report": "renamed"})],
    ]
    with api(scripted(integrator=turns)) as stub:
        res = dream.run(m, seeded, engine="claude", since=0.0)
    results = stub.of("integrate")[1]["body"]["messages"][-1]["content"]
    assert [(r["tool_use_id"], r.get("is_error", False)) for r in results] == [("a", True), ("b", True), ("c", False)]
    assert "occurs 2 times" in results[0]["content"] and "'..' is not allowed" in results[1]["content"]
    p = Proposal.from_dict(res.job.proposal)
    assert {c.path: c.action for c in p.changes} == {"/runbooks/disk.md": "delete", "/runbooks/storage.md": "create"}


def test_cancel_while_integrating(api, m, seeded, db_path):
    other = threading.local()

    def script(body):
        if "tool_choice" not in body:
            if not hasattr(other, "m"):
                other.m = Memfs(db_path)
            job = other.m.dream_jobs()[0]
            other.m.cancel_dream_job(job.id)  # `memfs dream cancel` from elsewhere, mid-run
        return scripted()(body)

    with api(script) as stub:
        res = dream.run(m, seeded, engine="claude", since=0.0)
    assert res.job.status == "canceled"
    assert len(stub.of("integrate")) == 1
    assert m.dream_lock(seeded) is None


def test_claude_engine_needs_a_key(m, seeded, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = dream.run(m, seeded, engine="claude", since=0.0)
    assert res.job.status == "failed" and "ANTHROPIC_API_KEY" in res.job.error["message"]
