#!/usr/bin/env python3
"""Writes tests/data/transcripts/: synthetic transcripts, one per format memfs reads, with the odd
cases the readers handle. They have the same names and shapes (line numbers, message grouping,
threading, errors) as the public samples in ../shared/data/transcripts, so the same tests run on
either; the words are memfs's own. Run it again after changing it; test_samples_are_generated
fails when the files and this script disagree.

    python tests/transcripts/make_samples.py            # rewrite the files
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "transcripts"
SID = "c64cc478-3430-40fe-8e9c-4ee9986e9754"
CWD = "/tmp/demo-project"


def line(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def stop_hook(reason, detail=""):
    return ("Stop hook feedback:\n[${CLAUDE_PLUGIN_ROOT}/scripts/hooks/stop.sh]: # Running Quality Checks...\n\n"
            f"# Uncommitted Changes Detected\n\n{reason}\n\n{detail}"
            "Before stopping, please:\n\n1. Run `git status` to check for files that should be gitignored\n"
            "2. Run quality checks to verify they pass\n3. Stage your changes: `git add <files>`\n"
            "4. Commit with a descriptive message: `git commit -m '...'`\n")


def coverage_session():
    """A Claude Code 2.1 session (38 lines): one API message spread over several lines sharing
    message.id, a stop hook that blocks the agent twice (isMeta user records), a final failing
    `git commit` (is_error true, toolUseResult a bare 'Error: ...' string), is_error missing on
    most results."""
    rows, n = [], [0]
    env = {"isSidechain": False, "userType": "external", "cwd": CWD, "sessionId": SID, "version": "2.1.14",
           "gitBranch": "main"}

    def uid():
        n[0] += 1
        return f"00000000-0000-4000-8000-{n[0]:012d}"

    last = [None]

    def add(kind, message, **extra):
        u = uid()
        rows.append({"parentUuid": last[0], **env, "type": kind, "message": message, "uuid": u,
                     "timestamp": f"2026-01-21T06:{19 + len(rows) // 20:02d}:{(len(rows) * 3) % 60:02d}.000Z",
                     **extra})
        last[0] = u
        return u

    def assistant(mid, *blocks):
        for b in blocks:
            add("assistant", {"id": mid, "type": "message", "role": "assistant", "model": "claude-opus-4-5",
                              "content": [b]}, requestId="req_" + mid)

    def tool(tid, name, **inp):
        return {"type": "tool_use", "id": tid, "name": name, "input": inp}

    def result(tid, text, is_error="missing", tur=None):
        block = {"type": "tool_result", "tool_use_id": tid, "content": text}
        if is_error != "missing":
            block["is_error"] = is_error
        add("user", {"role": "user", "content": [block]}, toolUseResult=tur if tur is not None else {"stdout": text})

    def text(t):
        return {"type": "text", "text": t}

    rows.append({"type": "queue-operation", "operation": "dequeue", "timestamp": "2026-01-21T06:19:00.000Z",
                 "sessionId": SID})                                                        # 1
    add("user", {"role": "user", "content": "Add a function divide_numbers(a, b) that refuses b == 0, "
                                            "with a test."})                              # 2
    assistant("msg_a", text("I'll start by exploring the project to see where the helpers live."),
              tool("tu_glob1", "Glob", pattern="**/*.py"))                                 # 3, 4
    result("tu_glob1", f"{CWD}/src/calc.py\n{CWD}/tests/test_calc.py")                    # 5
    assistant("msg_b", tool("tu_read1", "Read", file_path=f"{CWD}/src/calc.py"),
              tool("tu_read2", "Read", file_path=f"{CWD}/tests/test_calc.py"))             # 6, 7
    result("tu_read1", '     1→"""Small arithmetic helpers."""\n')                         # 8
    result("tu_read2", '     1→"""Tests for calc."""\n')                                   # 9
    assistant("msg_c", text("I'll add divide_numbers and its test."),
              tool("tu_edit1", "Edit", file_path=f"{CWD}/src/calc.py", old_string="", new_string="def divide"),
              tool("tu_edit2", "Edit", file_path=f"{CWD}/tests/test_calc.py", old_string="", new_string="def t"))
    result("tu_edit1", f"The file {CWD}/src/calc.py has been updated.")                    # 13
    result("tu_edit2", f"The file {CWD}/tests/test_calc.py has been updated.")             # 14
    assistant("msg_d", text("Done: divide_numbers raises ZeroDivisionError for b == 0."))   # 15
    add("user", {"role": "user", "content": stop_hook("Cannot exit with unstaged changes.")},
        isMeta=True)                                                                       # 16
    assistant("msg_e", text("I need to run the checks and commit first."),
              tool("tu_bash1", "Bash", command="git status", description="Check for uncommitted changes"))
    result("tu_bash1", "On branch main\nChanges not staged for commit:\n\tmodified:   src/calc.py", False)  # 19
    assistant("msg_f", tool("tu_bash2", "Bash", command="python -m pytest -q"))            # 20
    result("tu_bash2", "2 passed in 0.02s", False)                                         # 21
    assistant("msg_g", text("Tests pass. Committing."),
              tool("tu_bash3", "Bash", command="git add src tests && git commit -m 'Add divide_numbers'"))
    result("tu_bash3", "[main 1a2b3c4] Add divide_numbers\n 2 files changed", False)       # 24
    assistant("msg_h", text("Committed."))                                                 # 25
    add("user", {"role": "user", "content": stop_hook(
        "Cannot exit with untracked files.", "## Untracked Files\n\nThe following files are not tracked by git:\n\n"
        "  .coverage\n  src/__pycache__/calc.cpython-312.pyc\n  tests/__pycache__/test_calc.cpython-312.pyc\n\n"
        "Either `git add` them or add them to .gitignore\n\n")}, isMeta=True)              # 26
    assistant("msg_i", text("I'll add the untracked files to `.gitignore`."),
              tool("tu_glob2", "Glob", pattern=".gitignore"))                              # 27, 28
    result("tu_glob2", f"{CWD}/.gitignore")                                               # 29
    assistant("msg_j", tool("tu_read3", "Read", file_path=f"{CWD}/.gitignore"))            # 30
    result("tu_read3", "     1→*.egg-info/\n")                                            # 31
    assistant("msg_k", tool("tu_edit3", "Edit", file_path=f"{CWD}/.gitignore", old_string="*.egg-info/",
                            new_string="*.egg-info/\n.coverage\n__pycache__/"))            # 32
    result("tu_edit3", f"The file {CWD}/.gitignore has been updated.")                     # 33
    assistant("msg_l", tool("tu_bash4", "Bash", command="git status"))                     # 34
    result("tu_bash4", "On branch main\nnothing to commit, working tree clean", False)     # 35
    assistant("msg_m", tool("tu_bash5", "Bash", command="git add .gitignore && git commit -m 'Ignore caches'"))
    result("tu_bash5", "Exit code 1\nOn branch main\nnothing to commit, working tree clean", True,
           tur="Error: Exit code 1\nOn branch main\nnothing to commit, working tree clean")  # 37
    assistant("msg_n", text("The .gitignore change was already committed; nothing is left to do."))  # 38
    assert len(rows) == 38
    return "".join(line(r) + "\n" for r in rows)


def edge_cases():
    """Claude Code 1.0 records with every oddity a reader must survive: a failing tool, a misspelled
    key, a message that is a string, JSON that is not an object, an object with no type, a broken
    TodoWrite input, content holding a bare string, a summary; 19 lines, the last without a newline."""
    env = {"parentUuid": None, "isSidechain": False, "userType": "human", "cwd": "/tmp", "sessionId": "edge_cases",
           "version": "1.0.0"}

    def rec(kind, uuid, ts, message, **extra):
        return line({"type": kind, "timestamp": f"2025-06-14T11:{ts}Z", **env, "uuid": uuid, **extra,
                     "message": message})

    def asst(mid, *content):
        return {"id": mid, "type": "message", "role": "assistant", "model": "claude-3-sonnet-20240229",
                "content": list(content)}

    def user(*content):
        return {"role": "user", "content": list(content)}

    t = lambda s: {"type": "text", "text": s}  # noqa: E731
    rows = [
        rec("user", "edge_001", "00:00", user(t("Some **markdown**, `inline code` and a [link](https://example.com)."))),
        rec("assistant", "edge_002", "00:30", asst("edge_002", t("Markdown renders as written."))),
        rec("user", "edge_003", "01:00", user(t("A long message. " * 40))),
        rec("assistant", "edge_004", "01:30", asst("edge_004", {"type": "tool_use", "id": "tool_edge_001",
                                                               "name": "FailingTool", "input": {"x": 1}})),
        rec("user", "edge_005", "01:31", user({"type": "tool_result", "tool_use_id": "tool_edge_001",
                                               "content": "Error: the tool failed: command not found",
                                               "is_error": True}),
            toolUseResult="Error: the tool failed: command not found"),
        rec("user", "edge_006", "02:00", user(t("Caveat: the messages below were generated by local commands."))),
        rec("user", "edge_007", "02:10", user(t("<command-name>check</command-name><command-args>--all"
                                                "</command-args>"))),
        rec("user", "edge_008", "02:20", user(t("<local-command-stdout>ok\nStatus: SUCCESS</local-command-stdout>"))),
        rec("assistant", "edge_009", "03:00", asst("edge_009", t("Now a multi-edit."),
                                                   {"type": "tool_use", "id": "tool_edge_002", "name": "MultiEdit",
                                                    "input": {"file_path": "/tmp/x.py",
                                                              "edits": [{"old_string": "", "new_string": "x"}]}})),
        # 10: "contenst" for "content": the record has no content
        line({"type": "user", "timestamp": "2025-06-14T11:03:01Z", **env, "uuid": "edge_010",
              "message": {"role": "user", "contenst": [{"type": "tool_result", "tool_use_id": "tool_edge_002",
                                                         "content": "File created"}]}}),
        # 11: a misspelled timestamp key and a message that is a string
        line({"type": "user", "timesstamp": "2025-06-14T11:03:30Z", **env, "uuid": "edge_011", "message": "error"}),
        rec("user", "edge_012", "03:40", user(t("Special characters: café, naïve, 中文, русский, 🎉 and ∑∆"))),
        '"massive error"',                                  # 13: JSON, but not an object
        line({"silly": "this"}),                            # 14: an object with no type
        "42",                                               # 15
        "[1]",                                              # 16
        line({"type": "assistant", "message": asst("msg_004", {"type": "tool_use", "id": "toolu_todo",
                                                              "name": "TodoWrite", "input": {"todos": [
                                                                  "broken_todo", {"id": "2", "content": "Do it",
                                                                                  "status": "pending"}]}}),
              "uuid": "assistant_004", "timestamp": "2025-06-14T10:02:00Z", "parentUuid": "assistant_003",
              "isSidechain": False, "cwd": "/tmp", "sessionId": "todowrite_session", "version": "1.0.24"}),
        rec("user", "edge_018", "03:01", {"role": "user", "content": ["a bare string in content"]}),
        line({"type": "summary", "summary": "Tested various edge cases: markdown, long text, a failing tool, "
                                            "command output, special characters.", "leafUuid": "edge_012"}),
    ]
    assert len(rows) == 19
    return "\n".join(rows)  # no newline after the last line


def sidechain():
    """A Claude Code 2.0 session with a Task sub-agent: isSidechain records, parentUuid null at the
    sub-agent's root, an orphan whose parent is not in the file, lines out of timestamp order,
    is_error null, Windows paths."""
    env = {"isSidechain": False, "userType": "external", "cwd": "c:\\work\\site", "sessionId":
           "88a8d761-7b9a-4bf1-a8ca-c1febe6bf358", "version": "2.0.46", "isMeta": None}
    u = [f"11111111-0000-4000-8000-{i:012d}" for i in range(10)]

    def rec(parent, uuid, ts, kind, content, mid=None, side=False):
        msg = {"role": kind, "content": content}
        if mid:
            msg = {"id": mid, "type": "message", "role": kind, "model": "claude-sonnet-4-5", "content": content}
        return line({"parentUuid": parent, **env, "isSidechain": side, "uuid": uuid,
                     "timestamp": f"2025-11-19T22:{ts}Z", "type": kind, "message": msg})

    rows = [
        rec(u[9], u[1], "53:34.000", "assistant", [{"type": "tool_use", "id": "tu_task", "name": "Task", "input": {
            "subagent_type": "general-purpose", "prompt": "Find where the border colour is set"}}], mid="msg_main1"),
        rec(u[1], u[2], "55:34.000", "user", [{"type": "tool_result", "tool_use_id": "tu_task", "content": [
            {"type": "text", "text": "It is set in two stylesheets."}], "is_error": None}]),
        rec(None, u[3], "53:39.000", "assistant", [{"type": "text", "text": "I'll search the stylesheets."}],
            mid="msg_side1", side=True),
        rec(u[3], u[4], "53:39.500", "assistant", [{"type": "tool_use", "id": "tu_grep", "name": "Grep",
                                                    "input": {"pattern": "border-color"}}], mid="msg_side1", side=True),
        rec(u[8], u[5], "54:57.000", "user", [{"type": "tool_result", "tool_use_id": "tu_grep_other",
                                               "content": "site.css:12: border-color: red", "is_error": None}],
            side=True),
        rec(u[2], u[6], "55:40.000", "assistant", [{"type": "text", "text": "The sub-agent found both places."}],
            mid="msg_main2"),
    ]
    return "".join(r + "\n" for r in rows)


def messages_api_exchange():
    """A recorded tool-runner exchange, [{request, response}]: a tool_use turn, a tool_result with
    is_error true sent back, then an end_turn answer."""
    tool_def = {"name": "get_weather", "description": "The weather in a city",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                 "required": ["location"]}}
    q = {"role": "user", "content": "What is the weather in SF?"}
    call = {"type": "tool_use", "id": "toolu_w1", "name": "get_weather", "input": {"location": "San Francisco, CA"}}
    failed = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w1",
                                           "content": "RuntimeError('Unexpected error, try again')", "is_error": True}]}
    usage = {"input_tokens": 100, "output_tokens": 20}

    def exchange(messages, content, stop):
        return {"request": {"method": "POST", "url": "https://api.anthropic.com/v1/messages",
                            "body": {"model": "claude-haiku-4-5", "max_tokens": 1024, "messages": messages,
                                     "tools": [tool_def]}},
                "response": {"status_code": 200, "body": {"model": "claude-haiku-4-5-20251001", "id": "msg_x" + stop,
                                                          "type": "message", "role": "assistant", "content": content,
                                                          "stop_reason": stop, "stop_sequence": None, "usage": usage}}}

    data = [exchange([q], [call], "tool_use"),
            exchange([q, {"role": "assistant", "content": [call]}, failed],
                     [{"type": "text", "text": "The weather service failed; please try again later."}], "end_turn")]
    return json.dumps(data, indent=1) + "\n"


FILES = {
    "claude-code_coverage-test-fix.jsonl": coverage_session,
    "claude-code-log_edge_cases.jsonl": edge_cases,
    "claude-code-log_sidechain_integrated.jsonl": sidechain,
    "messages-api_tool-runner-tool-error.http.json": messages_api_exchange,
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in FILES.items():
        (OUT / name).write_text(make())
    print(f"wrote {len(FILES)} files to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
