"""The memfs backend of the SDK's memory tool: command by command against the SDK's own
reference implementation (same results, same error texts), history and attribution, path
confinement, concurrent agents, and a whole conversation through the SDK's tool runner against a
local stub of the Messages API."""

import threading
import time

import anthropic
import pytest
from anthropic.lib.tools import ToolError
from anthropic.lib.tools._beta_builtin_memory_tool import BetaLocalFilesystemMemoryTool

from memfs import Memfs
from memfs.integrations.memory_tool import MemfsMemoryTool
from claudestub import Stub, message, tool_use


def cmd(tool, **c):
    """Run one memory command as the tool runner does: -> ('ok', text) or ('error', text)."""
    try:
        return "ok", tool.call(c)
    except ToolError as e:
        return "error", str(e)


SCRIPT = [
    dict(command="create", path="/memories/prefs.md", file_text="coffee: black\ntea: green\nwater: still\n"),
    dict(command="create", path="/memories/prefs.md", file_text="again"),
    dict(command="view", path="/memories/prefs.md"),
    dict(command="view", path="/memories/prefs.md", view_range=[2, 3]),
    dict(command="view", path="/memories/prefs.md", view_range=[2, -1]),
    dict(command="str_replace", path="/memories/prefs.md", old_str="tea: green", new_str="tea: oolong"),
    dict(command="str_replace", path="/memories/prefs.md", old_str="juice", new_str="x"),
    dict(command="create", path="/memories/dup.md", file_text="a\nb\na\n"),
    dict(command="str_replace", path="/memories/dup.md", old_str="a", new_str="c"),
    dict(command="insert", path="/memories/prefs.md", insert_line=0, insert_text="# Preferences\n"),
    dict(command="insert", path="/memories/prefs.md", insert_line=99, insert_text="x"),
    dict(command="insert", path="/memories/nope.md", insert_line=0, insert_text="x"),
    dict(command="str_replace", path="/memories/nope.md", old_str="a", new_str="b"),
    dict(command="view", path="/memories/nope.md"),
    dict(command="create", path="/memories/projects/app/notes.md", file_text="deploy on fridays: no\n"),
    dict(command="rename", old_path="/memories/dup.md", new_path="/memories/archive/dup.md"),
    dict(command="rename", old_path="/memories/prefs.md", new_path="/memories/archive/dup.md"),
    dict(command="rename", old_path="/memories/gone.md", new_path="/memories/x.md"),
    dict(command="rename", old_path="/memories", new_path="/memories/x"),
    dict(command="view", path="/memories/archive/dup.md"),
    dict(command="delete", path="/memories/archive/dup.md"),
    dict(command="delete", path="/memories/archive/dup.md"),
    dict(command="delete", path="/memories/projects"),
    dict(command="delete", path="/memories"),
    dict(command="view", path="/memories/prefs.md"),
]


def test_same_results_and_errors_as_the_sdk_reference(tmp_path, m, store):
    ref = BetaLocalFilesystemMemoryTool(str(tmp_path / "ref"))
    ours = MemfsMemoryTool(m, store.name, agent="bot", session="chat-1")
    for c in SCRIPT:
        assert cmd(ours, **c) == cmd(ref, **c), c
    assert m.read(store, "/prefs.md").decode() == "# Preferences\ncoffee: black\ntea: oolong\nwater: still\n"
    assert m.lookup(store, "/projects") is None and m.lookup(store, "/archive/dup.md") is None


def test_directory_view(m, store):
    tool = MemfsMemoryTool(m, store.name, agent="bot")
    tool.call({"command": "create", "path": "/memories/a.md", "file_text": "x" * 2048})
    tool.call({"command": "create", "path": "/memories/p/q/r/deep.md", "file_text": "deep"})
    tool.call({"command": "create", "path": "/memories/.hidden/s.md", "file_text": "secret"})
    out = tool.call({"command": "view", "path": "/memories"})
    lines = out.split("\n")
    assert lines[0] == "Here're the files and directories up to 2 levels deep in /memories, excluding hidden items:"
    assert lines[1].endswith("\t/memories")
    assert "2K\t/memories/a.md" in lines and "0B\t/memories/p/" in lines and "0B\t/memories/p/q/" in lines
    assert not any("deep.md" in ln or "hidden" in ln for ln in lines[1:])
    assert tool.call({"command": "view", "path": "/memories/p/q"}).split("\n")[1:] == [
        "4B\t/memories/p/q", "0B\t/memories/p/q/r/", "4B\t/memories/p/q/r/deep.md"]
    with pytest.raises(ToolError, match="is not a file"):
        tool.call({"command": "str_replace", "path": "/memories/p", "old_str": "a", "new_str": "b"})
    with pytest.raises(ToolError, match="Invalid `view_range`"):
        tool.call({"command": "view", "path": "/memories/a.md", "view_range": [3, 1]})


def test_history_and_attribution(m, store, db_path):
    tool = MemfsMemoryTool(db_path, store.name, agent="support-bot", session="chat-42")
    tool.call({"command": "create", "path": "/memories/user.md", "file_text": "name: Ada\n"})
    tool.call({"command": "str_replace", "path": "/memories/user.md", "old_str": "Ada", "new_str": "Ada L."})
    tool.call({"command": "insert", "path": "/memories/user.md", "insert_line": 1, "insert_text": "lang: en"})
    tool.call({"command": "rename", "old_path": "/memories/user.md", "new_path": "/memories/people/ada.md"})
    tool.call({"command": "delete", "path": "/memories/people/ada.md"})
    tool.close()
    revs = [r for r in m.log(store) if r.path and r.path.endswith(".md")]
    assert len(revs) == 5
    assert {(r.agent, r.session, r.actor) for r in revs} == {("support-bot", "chat-42", "agent")}
    assert sorted(r.op for r in revs) == ["create", "delete", "rename", "write", "write"]
    first = min(revs, key=lambda r: r.id)
    assert m.blob(first.sha256) == b"name: Ada\n"  # every version is kept
    # a new store on demand, and the tool's writes show in the store's history like any other
    t2 = MemfsMemoryTool(db_path, "bot-memory", agent="bot", create_store=True)
    t2.call({"command": "create", "path": "/memories/x.md", "file_text": "x"})
    t2.close()
    assert m.read("bot-memory", "/x.md") == b"x"


@pytest.mark.parametrize("path", [
    "/etc/passwd", "memories/a.md", "/memoriesX/a.md", "/memories/../secret.md", "/memories/a/../../b.md",
    "/memories/./a.md", "/memories//a.md", "/memories/a\x00b.md", "/memories/a\\..\\b.md", "/memories/..",
    "/", "", "/memories/a\nb.md"])
def test_paths_are_confined(m, store, path):
    other = m.create_store("other", "")
    m.write(other, "/secret.md", b"top secret")
    tool = MemfsMemoryTool(m, store.name, agent="bot", root="/agents/bot")
    m.write(store, "/outside.md", b"not for the tool")
    head = m.store_head(store)
    for c in (dict(command="view", path=path), dict(command="create", path=path, file_text="pwned"),
              dict(command="str_replace", path=path, old_str="secret", new_str="pwned"),
              dict(command="insert", path=path, insert_line=0, insert_text="pwned"),
              dict(command="delete", path=path),
              dict(command="rename", old_path=path, new_path="/memories/stolen.md"),
              dict(command="rename", old_path="/memories/x.md", new_path=path)):
        status, text = cmd(tool, **c)
        assert status == "error", (c, text)
    assert m.store_head(store) == head
    assert m.read(other, "/secret.md") == b"top secret"


def test_root_maps_memories_to_a_store_directory(m, store):
    m.write(store, "/outside.md", b"not for the tool")
    tool = MemfsMemoryTool(m, store.name, agent="bot", root="/agents/bot")
    tool.call({"command": "create", "path": "/memories/n.md", "file_text": "hi\n"})
    assert m.read(store, "/agents/bot/n.md") == b"hi\n"
    listing = tool.call({"command": "view", "path": "/memories"})
    assert "/memories/n.md" in listing and "outside" not in listing
    with pytest.raises(ToolError):
        tool.call({"command": "view", "path": "/memories/../../outside.md"})


class Interleaved(MemfsMemoryTool):
    """A tool during whose edit another agent writes the file, right after the tool read it."""

    def __init__(self, *a, other=None, **kw):
        super().__init__(*a, **kw)
        self.other, self.reads = other, 0

    def _read(self, sp, shown):
        out = super()._read(sp, shown)
        self.reads += 1
        if self.reads == 1 and self.other is not None:
            self.other()
        return out


def test_a_concurrent_write_is_never_clobbered(m, store, db_path):
    m.write(store, "/todo.md", b"one\ntwo\nthree\n")
    bob = MemfsMemoryTool(db_path, store.name, agent="bob", session="b1")

    def bob_edits():
        bob.call({"command": "str_replace", "path": "/memories/todo.md", "old_str": "three", "new_str": "THREE"})

    alice = Interleaved(db_path, store.name, agent="alice", session="a1", other=bob_edits)
    # str_replace is redone on bob's content: both edits survive
    alice.call({"command": "str_replace", "path": "/memories/todo.md", "old_str": "one", "new_str": "ONE"})
    assert m.read(store, "/todo.md") == b"ONE\ntwo\nTHREE\n"
    assert alice.reads == 2

    # an insert refers to the lines alice saw: it is refused, bob's edit stays
    def bob_prepends():
        bob.call({"command": "insert", "path": "/memories/todo.md", "insert_line": 0, "insert_text": "zero"})

    alice = Interleaved(db_path, store.name, agent="alice", session="a1", other=bob_prepends)
    with pytest.raises(ToolError, match="changed by someone else"):
        alice.call({"command": "insert", "path": "/memories/todo.md", "insert_line": 1, "insert_text": "one-b"})
    assert m.read(store, "/todo.md") == b"zero\nONE\ntwo\nTHREE\n"

    # a str_replace whose anchor the other agent removed fails as usual, after re-reading
    def bob_removes():
        bob.call({"command": "str_replace", "path": "/memories/todo.md", "old_str": "two\n", "new_str": ""})

    alice = Interleaved(db_path, store.name, agent="alice", session="a1", other=bob_removes)
    with pytest.raises(ToolError, match="did not appear verbatim"):
        alice.call({"command": "str_replace", "path": "/memories/todo.md", "old_str": "two", "new_str": "2"})
    assert m.read(store, "/todo.md") == b"zero\nONE\nTHREE\n"
    bob.close()


def test_racing_agents_lose_no_update(m, store, db_path):
    n, k = 6, 15
    m.write(store, "/counters.md", "".join(f"slot-{i}: 0\n" for i in range(n)).encode())
    failures = []

    class Slow(MemfsMemoryTool):
        def _read(self, sp, shown):  # widen the window between reading and writing, so agents do race
            out = super()._read(sp, shown)
            time.sleep(0.002)
            return out

    def agent(i):
        tool = Slow(db_path, store.name, agent=f"agent-{i}", session=f"s{i}")
        try:
            for v in range(k):
                while True:
                    try:
                        tool.call({"command": "str_replace", "path": "/memories/counters.md",
                                   "old_str": f"slot-{i}: {v}\n", "new_str": f"slot-{i}: {v + 1}\n"})
                        break
                    except ToolError as e:
                        if "kept changing" not in str(e):
                            raise
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))
        finally:
            tool.close()

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures
    assert m.read(store, "/counters.md").decode() == "".join(f"slot-{i}: {k}\n" for i in range(n))
    assert len([r for r in m.log(store) if r.path == "/counters.md"]) == 1 + n * k


def test_through_the_sdk_tool_runner(m, store, db_path):
    """A scripted model edits its memory over several turns; the SDK's tool runner calls our tool."""
    turns = [
        [tool_use("t1", "memory", {"command": "view", "path": "/memories"})],
        [tool_use("t2", "memory", {"command": "create", "path": "/memories/user.md",
                                   "file_text": "name: Ada\ncoffee: black\n"})],
        [tool_use("t3", "memory", {"command": "str_replace", "path": "/memories/user.md",
                                   "old_str": "black", "new_str": "flat white"}),
         tool_use("t4", "memory", {"command": "view", "path": "/memories/../../etc/passwd"})],
        [tool_use("t5", "memory", {"command": "view", "path": "/memories/user.md"})],
    ]

    seen = []

    def script(body):
        # the SDK's runner keeps the conversation server-side (`thread`): each request carries
        # only the new tool results, so the turn is the number of requests so far
        k = len(seen)
        seen.append(body)
        if k < len(turns):
            return message(turns[k], stop_reason="tool_use")
        return message([{"type": "text", "text": "Noted: you now drink flat whites."}])

    tool = MemfsMemoryTool(db_path, store.name, agent="chat-bot", session="conv-9")
    with Stub(script) as stub:
        client = anthropic.Anthropic(api_key="test", base_url=stub.url, max_retries=0)
        runner = client.beta.messages.tool_runner(
            model="claude-test", max_tokens=1024, tools=[tool], max_iterations=10,
            messages=[{"role": "user", "content": "I switched to flat whites."}])
        final = runner.until_done()
    tool.close()
    assert final.content[0].text == "Noted: you now drink flat whites."
    assert len(stub.requests) == 5
    assert stub.requests[0]["body"]["tools"] == [{"type": "memory_20250818", "name": "memory"}]

    def results(i):
        return {b["tool_use_id"]: b for b in stub.requests[i]["body"]["messages"][-1]["content"]}

    def text(b):
        c = b["content"]
        return c if isinstance(c, str) else "".join(x.get("text", "") for x in c)

    assert text(results(1)["t1"]).startswith("Here're the files and directories up to 2 levels deep in /memories")
    assert text(results(2)["t2"]) == "File created successfully at: /memories/user.md"
    assert "flat white" in text(results(3)["t3"]) and not results(3)["t3"].get("is_error")
    assert results(3)["t4"]["is_error"] is True and "escape /memories" in text(results(3)["t4"])
    assert text(results(4)["t5"]).endswith("     2\tcoffee: flat white\n     3\t")
    assert m.read(store, "/user.md") == b"name: Ada\ncoffee: flat white\n"
    with Memfs(db_path) as m2:
        revs = [r for r in m2.log(store) if r.path == "/user.md"]
    assert [(r.op, r.agent, r.session, r.actor) for r in sorted(revs, key=lambda r: r.id)] == [
        ("create", "chat-bot", "conv-9", "agent"), ("write", "chat-bot", "conv-9", "agent")]
