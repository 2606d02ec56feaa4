"""memfs mcp, driven by the official `mcp` client library: a stdio client spawns `memfs mcp` as a
real subprocess against a real SQLite database, and every check reads the store back directly."""

import json
import os
import shutil
import sys

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters  # a declared dependency: never skipped
from mcp.client.stdio import stdio_client

from memfs import Identity, Memfs


def memfs_exe():
    exe = shutil.which("memfs", path=os.path.dirname(sys.executable))
    assert exe, "the memfs console script is not installed next to this interpreter"
    return exe


@pytest.fixture
def seeded(db_path):
    with Memfs(db_path, identity=Identity(agent="seeder", session="s-seed", actor="agent")) as m:
        m.create_store("team-sre", "SRE notes")
        m.create_store("org", "Org-wide knowledge")
        m.write("team-sre", "/runbooks/deploy.md", b"# Deploy\nUse kubectl rollout status after a deploy.\n")
        m.write("org", "/policy.md", b"Never deploy on Fridays.\n")
    return db_path


def run_session(db_path, steps, *args):
    """Spawn `memfs mcp ARGS` over stdio, initialize, run `steps(session)`, return its result."""
    params = StdioServerParameters(command=memfs_exe(), args=["--db", db_path, "mcp", *args],
                                   env={"MEMFS_HOME": os.path.dirname(db_path)})
    out = {}

    async def main():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (r, w):
                async with ClientSession(r, w) as s:
                    await s.initialize()
                    out["v"] = await steps(s)

    anyio.run(main)
    return out["v"]


async def call(s, name, **args):
    res = await s.call_tool(name, args)
    text = res.content[0].text
    return (json.loads(text) if not res.is_error else text), res.is_error


def test_tools_listed_and_attributed_write(seeded):
    async def steps(s):
        tools = sorted(t.name for t in (await s.list_tools()).tools)
        stores, err0 = await call(s, "list")
        files, _ = await call(s, "list", store="team-sre")
        doc, _ = await call(s, "read", store="team-sre", path="/runbooks/deploy.md")
        new = doc["content"] + "Roll back with kubectl rollout undo.\n"
        wrote, err1 = await call(s, "write", store="team-sre", path="/runbooks/deploy.md", content=new,
                                 expected_sha256=doc["sha256"], message="rollback tip")
        hist, _ = await call(s, "history", store="team-sre", path="/runbooks/deploy.md")
        found, _ = await call(s, "search", store="team-sre", pattern="rollout \\w+")
        old, _ = await call(s, "search", store="team-sre", pattern="undo", history=True)
        return tools, stores, err0, files, doc, wrote, err1, hist, found, old

    tools, stores, err0, files, doc, wrote, err1, hist, found, old = run_session(
        seeded, steps, "--store", "team-sre=rw", "--store", "org=ro", "--agent", "claude-mcp", "--session", "mcp-1")
    assert tools == ["history", "list", "read", "search", "write"]
    assert not err0 and [(x["store"], x["access"]) for x in stores["stores"]] == [("org", "ro"), ("team-sre", "rw")]
    assert [e["path"] for e in files["entries"]] == ["/runbooks", "/runbooks/deploy.md"]
    assert doc["content"].startswith("# Deploy\n") and len(doc["sha256"]) == 64
    assert not err1 and wrote["changed"] and wrote["sha256"] != doc["sha256"]
    assert [v["agent"] for v in hist["versions"]] == ["claude-mcp", "seeder"]
    assert [(x["line"], x["text"]) for x in found["matches"]] == [
        (2, "Use kubectl rollout status after a deploy."), (3, "Roll back with kubectl rollout undo.")]
    assert [x["rev"] for x in old["matches"]] == [wrote["rev"]]

    with Memfs(seeded) as m:
        r = m.history("team-sre", "/runbooks/deploy.md")[0]
        assert (r.agent, r.session, r.actor, r.message) == ("claude-mcp", "mcp-1", "agent", "rollback tip")
        assert m.read("team-sre", "/runbooks/deploy.md").endswith(b"rollout undo.\n")
        ses = [x for x in m.sessions() if x.session_id == "mcp-1"]
        assert len(ses) == 1 and ses[0].kind == "mcp" and ses[0].agent == "claude-mcp"
        assert ses[0].stores == {"team-sre": "rw", "org": "ro"}
        assert ses[0].ended_at is not None  # closed when the client went away


def test_refusals_are_tool_errors(seeded):
    with Memfs(seeded) as m:
        first = m.stat("team-sre", "/runbooks/deploy.md").sha256
        before = m.head()

    async def steps(s):
        # someone else changes the file after this client read it
        with Memfs(seeded, identity=Identity(agent="other", session="s-other", actor="agent")) as m:
            m.write("team-sre", "/runbooks/deploy.md", b"# Deploy\nrewritten by another agent\n")
            current = m.stat("team-sre", "/runbooks/deploy.md").sha256
        stale = await call(s, "write", store="team-sre", path="/runbooks/deploy.md", content="mine\n",
                           expected_sha256=first)
        ro = await call(s, "write", store="org", path="/policy.md", content="deploy whenever\n")
        hidden = await call(s, "read", store="secret-store", path="/x")
        missing = await call(s, "read", store="team-sre", path="/nope.md")
        bad = await call(s, "search", store="team-sre", pattern="(unclosed")
        return current, stale, ro, hidden, missing, bad

    current, stale, ro, hidden, missing, bad = run_session(seeded, steps, "--store", "team-sre=rw",
                                                           "--store", "org=ro", "--agent", "a2")
    text, is_error = stale
    assert is_error and "PreconditionFailed" in text and f"The current sha256 is {current}" in text
    assert ro[1] and "ReadOnly" in ro[0] and "read-only" in ro[0]
    assert hidden[1] and "StoreNotFound" in hidden[0]
    assert missing[1] and "PathNotFound" in missing[0]
    assert bad[1] and "InvalidInput" in bad[0]
    with Memfs(seeded) as m:
        assert m.read("org", "/policy.md") == b"Never deploy on Fridays.\n"
        assert m.read("team-sre", "/runbooks/deploy.md") == b"# Deploy\nrewritten by another agent\n"
        assert m.head() == before + 1  # only the other agent's write


def test_bad_scope_is_refused_before_serving(seeded):
    import subprocess

    p = subprocess.run([memfs_exe(), "--db", seeded, "mcp", "--store", "team-sre=admin"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and p.stderr.startswith("Error: expected --store NAME=rw or NAME=ro")
    p = subprocess.run([memfs_exe(), "--db", seeded, "mcp", "--store", "ghost=rw"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 3 and "ghost" in p.stderr


def test_sigterm_closes_the_session(seeded):
    import signal
    import subprocess
    import time

    p = subprocess.Popen([memfs_exe(), "--db", seeded, "mcp", "--store", "team-sre=ro", "--session", "mcp-term"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        ses = []
        while time.time() < deadline and not ses:
            with Memfs(seeded) as m:
                ses = [s for s in m.sessions() if s.session_id == "mcp-term"]
            time.sleep(0.1)
        assert ses and ses[0].ended_at is None and ses[0].pid == p.pid
        time.sleep(0.5)  # into the event loop
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) != 0
    finally:
        if p.poll() is None:
            p.kill()
    assert b"Traceback" not in p.stderr.read()
    with Memfs(seeded) as m:
        assert [s.ended_at is not None for s in m.sessions() if s.session_id == "mcp-term"] == [True]


def test_instructions_carry_the_pinned_memory(db_path):
    with Memfs(db_path, identity=Identity(agent="seeder", session="s-seed", actor="agent")) as m:
        m.create_store("team-sre", "SRE notes")
        m.write("team-sre", "/system/core.md", b"The reporting replica is behind bastion-eu-2.\n")
        m.write("team-sre", "/system/huge.md", b"y" * 5000 + b"\n")
        m.write("team-sre", "/notes/other.md", b"not pinned\n")
    params = StdioServerParameters(command=memfs_exe(), args=["--db", db_path, "mcp", "--store", "team-sre=rw"],
                                   env={"MEMFS_HOME": os.path.dirname(db_path)})
    out = {}

    async def main():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (r, w):
                async with ClientSession(r, w) as s:
                    out["init"] = await s.initialize()

    anyio.run(main)
    text = out["init"].instructions
    assert "Stores: team-sre (read-write)" in text
    assert "## team-sre:/system/core.md\n\nThe reporting replica is behind bastion-eu-2." in text
    assert "not pinned" not in text and "yyyy" not in text  # over the 4096-byte budget
    assert "- not included (over the budget, " in text and "team-sre:/system/huge.md, 5001 bytes: read it with the " \
        "read tool" in text
