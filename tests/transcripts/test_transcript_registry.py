"""`memfs transcripts add/ls/show` and the registry behind them."""

import json

from memfs import transcripts as T

from transcripthelpers import write_jsonl


def _projects_folder(tmp_path):
    """A Claude Code projects folder: a session file, its sub-agent file, an old-style agent file."""
    proj = tmp_path / "projects" / "-work-app"
    sid = "0f0e0d0c-aaaa-bbbb-cccc-000000000001"
    write_jsonl(proj / f"{sid}.jsonl", [
        {"type": "user", "sessionId": sid, "uuid": "u1", "parentUuid": None, "timestamp": "2026-11-01T10:00:00Z",
         "message": {"role": "user", "content": "go"}},
        {"type": "assistant", "sessionId": sid, "uuid": "a1", "parentUuid": "u1", "timestamp": "2026-11-01T10:00:01Z",
         "message": {"id": "m1", "role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Task",
                                                                    "input": {"prompt": "look"}}]}},
    ])
    write_jsonl(proj / sid / "subagents" / "agent-abc.jsonl", [
        {"type": "assistant", "sessionId": sid, "isSidechain": True, "agentId": "abc", "uuid": "s1", "parentUuid": None,
         "timestamp": "2026-11-01T10:00:02Z",
         "message": {"id": "m2", "role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "Read",
                                                                    "input": {"file_path": "/nope"}}]}},
        {"type": "user", "sessionId": sid, "isSidechain": True, "agentId": "abc", "uuid": "s2", "parentUuid": "s1",
         "timestamp": "2026-11-01T10:00:03Z", "message": {"role": "user", "content": [
             {"type": "tool_result", "tool_use_id": "t2", "content": "<tool_use_error>File does not exist.</tool_use_error>",
              "is_error": True}]}},
    ])
    (proj / "notes.txt").write_text("not a transcript")
    (proj / "settings.json").write_text('{"theme": "dark"}')
    return tmp_path / "projects", sid


def test_register_projects_folder_folds_subagents(m, tmp_path):
    folder, sid = _projects_folder(tmp_path)
    out = T.register(m, [str(folder)], agent="alice")
    got = sorted((r.skipped is None, r.path.rsplit("/", 1)[1]) for r in out)
    assert got == [(False, "settings.json"), (True, f"{sid}.jsonl"), (True, "agent-abc.jsonl")]
    regs = m.transcripts(session_ids=[sid])
    assert len(regs) == 2 and all(t.agent == "alice" for t in regs)
    sessions = T.sessions_for(m, [sid])
    assert len(sessions) == 1
    s = sessions[0]
    assert [t.sidechain for t in s.turns] == [False, False, True, True]
    assert [(e.tool, e.ref.line) for e in s.errors()] == [("Read", 2)]
    assert str(s.errors()[0].ref).endswith("agent-abc.jsonl:2")


def test_register_again_updates_not_duplicates(m, tmp_path):
    folder, sid = _projects_folder(tmp_path)
    T.register(m, [str(folder)])
    T.register(m, [str(folder)], agent="bob")
    assert len(m.transcripts()) == 2
    assert {t.agent for t in m.transcripts()} == {"bob"}


def test_cli_add_ls_show(samples, memfs_cli, m, store):
    r = memfs_cli("transcripts", "add", str(samples), "--agent", "alice", "--store", "team-sre")
    assert r.exit_code == 0, r.output
    assert "4 transcripts registered, 0 files skipped" in r.output
    assert "line 13: unparseable" in r.output and "line 16: unparseable" in r.output
    assert "3 unparseable" in r.output
    rows = json.loads(memfs_cli("transcripts", "ls", "--json").output)
    by = {row["session_id"]: row for row in rows}
    assert by["c64cc478-3430-40fe-8e9c-4ee9986e9754"]["corrections"] == 2
    assert by["edge_cases"]["unparseable"] == 3
    assert all(row["stores"] == ["team-sre"] for row in rows)
    r = memfs_cli("transcripts", "show", "c64cc478-3430-40fe-8e9c-4ee9986e9754")
    assert "claude-code_coverage-test-fix.jsonl:26  hook: Stop hook feedback:" in r.output


def test_cli_add_missing_path_is_one_line_error(memfs_cli, tmp_path):
    r = memfs_cli("transcripts", "add", str(tmp_path / "nope"))
    assert r.exit_code == 3
    assert r.stderr.strip().startswith("Error: no such file or directory") and len(r.stderr.splitlines()) == 1


def test_session_override(m, samples):
    T.register(m, [str(samples / "claude-code_coverage-test-fix.jsonl")], session="my-session")
    assert [t.session_id for t in m.transcripts()] == ["my-session"]
    assert T.sessions_for(m, ["my-session"])[0].session_id == "my-session"


def test_cli_add_does_not_silently_change_a_files_agent(memfs_cli, m, tmp_path):
    """Issue 17: `transcripts add` of a file registered already replaced its agent silently."""
    folder, sid = _projects_folder(tmp_path)
    assert memfs_cli("transcripts", "add", str(folder), "--agent", "alice").exit_code == 0
    r = memfs_cli("transcripts", "add", str(folder), "--agent", "bob")
    assert r.exit_code == 4, r.output
    assert f"skipped {folder}/-work-app/{sid}.jsonl: registered already as session {sid} of agent alice " \
           "(--reassign to change that)" in r.stdout
    assert r.stderr == ("Error: 2 files are registered already as another agent's or session's: not changed "
                        "(--reassign to change)\n")
    assert {t.agent for t in m.transcripts()} == {"alice"}
    r = memfs_cli("transcripts", "add", str(folder), "--session", "other")  # another session: the same
    assert r.exit_code == 4 and {t.session_id for t in m.transcripts()} == {sid}
    assert memfs_cli("transcripts", "add", str(folder), "--agent", "alice").exit_code == 0  # a refresh
    assert memfs_cli("transcripts", "add", str(folder)).exit_code == 0  # no agent given: keeps alice
    assert {t.agent for t in m.transcripts()} == {"alice"}
    r = memfs_cli("transcripts", "add", str(folder), "--agent", "bob", "--reassign")
    assert r.exit_code == 0 and "2 transcripts registered, 1 file skipped" in r.output
    assert {t.agent for t in m.transcripts()} == {"bob"}


def test_cli_ls_counts_as_add_words_them(memfs_cli, tmp_path):
    """Issue 17: `ls` said "3 bad" where `add` said 3 unparseable plus 3 malformed."""
    t = tmp_path / "s.jsonl"
    write_jsonl(t, [{"type": "user", "sessionId": "s1", "uuid": "u1", "parentUuid": None,
                     "timestamp": "2026-11-01T10:00:00Z", "message": {"role": "user", "content": "go"}}])
    with open(t, "a") as f:
        f.write("{not json\n")
    add = memfs_cli("transcripts", "add", str(t)).output
    counts = add.split(": ", 1)[1].split("  ")[0]
    assert counts.endswith("0 errors, 0 corrections, 1 unparseable, 0 malformed"), add
    ls = memfs_cli("transcripts", "ls").output
    assert "0 errors, 0 corrections, 1 unparseable, 0 malformed" in ls and " bad " not in ls, ls


def test_cli_counts_of_one_are_singular(memfs_cli, tmp_path):
    """One file, one error, one tool call: `add`, `ls` and `show` say so, not "1 errors"."""
    folder, sid = _projects_folder(tmp_path)
    sub = folder / "-work-app" / sid / "subagents" / "agent-abc.jsonl"
    r = memfs_cli("transcripts", "add", str(sub), "--agent", "alice")
    assert r.exit_code == 0, r.output
    assert ": 2 lines, 2 turns, 1 tool call, 1 error, 0 corrections, 0 unparseable, 0 malformed  " in r.output
    assert r.output.endswith("\n1 transcript registered, 0 files skipped\n")
    r = memfs_cli("transcripts", "add", str(sub), str(folder / "-work-app" / "notes.txt"))
    assert r.output.endswith("\n1 transcript registered, 1 file skipped\n")
    assert "    2 turns, 1 error, 0 corrections, 0 unparseable, 0 malformed  " in memfs_cli("transcripts", "ls").output
    r = memfs_cli("transcripts", "show", sid)
    assert f"claude-code session {sid} ({sub}): 2 turns, 1 error, 0 corrections, 0 unparseable lines" in r.output


def test_the_plural_rule():
    from memfs.cli.common import plural

    assert [plural(1, "file"), plural(0, "file"), plural(2, "entry"), plural(2, "day"), plural(3, "key")] == \
        ["1 file", "0 files", "2 entries", "2 days", "3 keys"]
    assert plural(2, "branch", "branches") == "2 branches"
    assert [plural(1, "turn", width=4), plural(12, "turn", width=4)] == ["   1 turn ", "  12 turns"]
