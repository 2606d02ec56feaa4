"""Each reader on the real sample transcripts and on small synthetic files of its format."""

import json

import pytest

from memfs import errors
from memfs import transcripts as T
from memfs.transcripts import mount

from transcripthelpers import write_jsonl


def test_coverage_session_repeated_stop_hook_correction(samples):
    s = T.load(str(samples / "claude-code_coverage-test-fix.jsonl"))
    assert s.format == "claude-code"
    assert s.session_id == "c64cc478-3430-40fe-8e9c-4ee9986e9754"
    corr = s.corrections()
    assert [(c.subkind, c.ref.line) for c in corr] == [("hook", 16), ("hook", 26)]
    assert all(c.text.startswith("Stop hook feedback") for c in corr)
    assert "unstaged changes" in corr[0].text
    assert ".coverage" in corr[1].text and "__pycache__" in corr[1].text
    # the final `git commit` fails with is_error: true
    errs = s.errors()
    assert [(e.tool, e.ref.line) for e in errs] == [("Bash", 37)]
    assert errs[0].text.startswith("Exit code 1")
    assert s.problems == []


def test_claude_code_groups_lines_of_one_message(samples):
    s = T.load(str(samples / "claude-code_coverage-test-fix.jsonl"))
    # lines 3 and 4 share message.id: one assistant turn with its text and its Glob call
    t = next(t for t in s.turns if t.ref.line == 3)
    assert [r.line for r in t.refs] == [3, 4]
    assert t.text.startswith("I'll start by exploring")
    assert [c.name for c in t.tool_calls] == ["Glob"]
    # lines 6 and 7: one message with two Read calls, each answered by its own result
    t6 = next(t for t in s.turns if t.ref.line == 6)
    assert [c.name for c in t6.tool_calls] == ["Read", "Read"]
    assert all(c.result is not None and not c.result.is_error for c in t6.tool_calls)
    assert len(s.turns) == 30  # 38 lines: the queue-operation record and 7 merged lines are not turns


def test_sidechain_threading_follows_parent_uuid(samples):
    s = T.load(str(samples / "claude-code-log_sidechain_integrated.jsonl"))
    # file order is 1..6, timestamps are out of order; the main thread (1 -> 2 -> 6) comes first,
    # then the sub-agent's thread whose root has parentUuid null (3 -> 4 merged, 5 an orphan)
    assert [t.ref.line for t in s.turns] == [1, 2, 6, 3, 5]
    assert [t.sidechain for t in s.turns] == [False, False, False, True, True]
    assert s.turns[0].tool_calls[0].name == "Task"
    assert s.turns[0].tool_calls[0].result is s.turns[1].tool_results[0]
    # is_error: null is not an error
    assert s.errors() == []


def test_edge_cases_report_unparseable_lines(samples):
    s = T.load(str(samples / "claude-code-log_edge_cases.jsonl"))
    assert [p.ref.line for p in s.unparseable] == [13, 15, 16]
    assert [p.ref.line for p in s.malformed] == [10, 11, 14]  # "contenst", message "error", no type
    assert s.summary.startswith("Tested various edge cases")
    assert [(e.tool, e.ref.line) for e in s.errors()] == [("FailingTool", 5)]
    assert any("café" in t.text for t in s.turns)
    assert s.lines == 19


def test_recorded_messages_api_exchange(samples):
    s = T.load(str(samples / "messages-api_tool-runner-tool-error.http.json"))
    assert s.format == "messages-api"
    assert [t.role for t in s.turns] == ["user", "assistant", "user", "assistant"]
    call = s.turns[1].tool_calls[0]
    assert call.name == "get_weather" and call.input["location"] == "San Francisco, CA"
    assert call.result.is_error and "Unexpected error" in call.result.content
    err = s.errors()[0]
    assert str(err.ref).endswith("#/1/request/body/messages/2")
    assert s.turns[-1].text  # the final end_turn answer from the recorded response
    assert s.model == "claude-haiku-4-5"


def test_messages_api_plain_conversation(tmp_path):
    p = tmp_path / "conv.json"
    p.write_text(json.dumps({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "ls"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "boom"}], "is_error": True}]},
        "garbage",
    ]}))
    s = T.load(str(p))
    assert [(e.tool, e.text, str(e.ref)) for e in s.errors()] == [("bash", "boom", f"{p}#/messages/2")]
    assert [str(x.ref) for x in s.malformed] == [f"{p}#/messages/3"]


def test_stream_json(tmp_path):
    p = write_jsonl(tmp_path / "run.jsonl", [
        {"type": "system", "subtype": "init", "session_id": "sj-1", "cwd": "/w", "model": "claude-x", "tools": []},
        {"type": "assistant", "session_id": "sj-1", "parent_tool_use_id": None, "message": {
            "id": "msg_1", "role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash",
                                                             "input": {"command": "make"}}]}},
        {"type": "user", "session_id": "sj-1", "parent_tool_use_id": None, "message": {
            "role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Exit code 2\nno rule",
                                         "is_error": True}]}},
        "{not json",
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "session_id": "sj-1", "num_turns": 9},
    ])
    s = T.load(str(p))
    assert (s.format, s.session_id, s.model, s.cwd) == ("stream-json", "sj-1", "claude-x", "/w")
    assert [(e.tool, e.ref.line) for e in s.errors()] == [("Bash", 3), (None, 5)]
    assert [x.ref.line for x in s.unparseable] == [4]


@pytest.mark.parametrize("as_list", [True, False])
def test_managed_agents_events(tmp_path, as_list):
    events = [
        {"type": "session.status_running", "id": "e0", "processed_at": "2026-11-01T10:00:00Z", "session_id": "sesn_1"},
        {"type": "user.message", "id": "e1", "processed_at": "2026-11-01T10:00:01Z",
         "content": [{"type": "text", "text": "check disk"}]},
        {"type": "agent.tool_use", "id": "tu1", "name": "bash", "input": {"command": "df -h"},
         "processed_at": "2026-11-01T10:00:02Z"},
        {"type": "agent.tool_result", "id": "e3", "tool_use_id": "tu1", "is_error": True,
         "content": [{"type": "text", "text": "df: /mnt: Permission denied"}], "processed_at": "2026-11-01T10:00:03Z"},
        {"type": "user.tool_confirmation", "id": "e4", "tool_use_id": "tu2", "result": "deny", "deny_message": "no rm"},
        {"type": "session.error", "id": "e5", "error": {"type": "model_overloaded_error", "message": "overloaded"}},
    ]
    if as_list:
        p = tmp_path / "events.json"
        p.write_text(json.dumps({"data": events}))
    else:
        p = write_jsonl(tmp_path / "events.jsonl", events)
    s = T.load(str(p))
    assert s.format == "managed-agents" and s.session_id == "sesn_1"
    kinds = [(f.kind, f.subkind or f.tool) for f in s.findings()]
    assert kinds == [("error", "bash"), ("correction", "user_rejection"), ("error", None), ("error", None)]
    assert s.started_at is not None and s.ended_at > s.started_at


def test_is_error_variants_and_error_strings(tmp_path):
    base = {"sessionId": "v", "isSidechain": False}
    recs = []
    for i, (flag, tur) in enumerate([("missing", None), (None, None), (False, None), (True, None),
                                     ("missing", "Error: String to replace not found in file.")]):
        call = {**base, "type": "assistant", "uuid": f"a{i}", "parentUuid": f"r{i - 1}" if i else None,
                "message": {"id": f"m{i}", "role": "assistant",
                            "content": [{"type": "tool_use", "id": f"t{i}", "name": "Edit", "input": {}}]}}
        block = {"type": "tool_result", "tool_use_id": f"t{i}", "content": f"result {i}"}
        if flag != "missing":
            block["is_error"] = flag
        res = {**base, "type": "user", "uuid": f"r{i}", "parentUuid": f"a{i}",
               "message": {"role": "user", "content": [block]}}
        if tur:
            res["toolUseResult"] = tur
        recs += [call, res]
    s = T.load(str(write_jsonl(tmp_path / "v.jsonl", recs)))
    assert [e.text for e in s.errors()] == ["result 3", "result 4"]


def test_threading_ignores_file_order(tmp_path):
    recs = [
        {"type": "assistant", "sessionId": "o", "uuid": "b", "parentUuid": "a",
         "message": {"id": "m1", "role": "assistant", "content": "second"}},
        {"type": "user", "sessionId": "o", "uuid": "c", "parentUuid": "b", "message": {"role": "user", "content": "third"}},
        {"type": "user", "sessionId": "o", "uuid": "a", "parentUuid": None, "message": {"role": "user", "content": "first"}},
    ]
    s = T.load(str(write_jsonl(tmp_path / "o.jsonl", recs)))
    assert [t.text for t in s.turns] == ["first", "second", "third"]


def test_garbage_is_counted_never_fatal(tmp_path):
    p = tmp_path / "junk.jsonl"
    p.write_bytes(b'{"type":"user","sessionId":"j","message":{"role":"user","content":"ok"}}\n\xff\xfe\x00garbage\n'
                  b'{"type": "user"\n[]\n\n{"type":"user","sessionId":"j","message":{"role":"user","content":"[Request '
                  b'interrupted by user]"}}\n')
    s = T.load(str(p))
    assert [x.ref.line for x in s.unparseable] == [2, 3, 4]
    assert [c.subkind for c in s.corrections()] == ["interrupt"]


def test_unknown_file_is_refused_with_a_reason(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(errors.InvalidInput, match="not a transcript"):
        T.load(str(p))


def test_mount_record_lists_writes_and_refusals(m, store):
    from memfs import Identity

    who = Identity(agent="alice", session="mnt-1", actor="agent")
    m.write(store, "/a.md", b"one\n", identity=who)
    m.write(store, "/a.md", b"two\n", identity=who)
    m.record_conflict(store, "/a.md", b"stale\n", base_sha256=None, reason="stale: another session changed it",
                      identity=who)
    s = mount.read(m, "mnt-1")
    assert s.format == "memfs" and s.agent == "alice" and s.stores == ["team-sre"]
    assert [c.name for c in s.tool_calls()] == ["memfs.create", "memfs.write", "memfs.write"]
    errs = s.errors()
    assert len(errs) == 1 and "refused: stale" in errs[0].text and str(errs[0].ref).startswith("memfs#/conflicts/")
