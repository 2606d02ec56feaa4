"""`memfs hooks add|ls|rm`, and what a refused write looks like from the real `memfs` command."""

import json
import subprocess

from memfs import Memfs
from mounting import MEMFS, memfs


def test_add_list_remove(seeded, hook):
    cmd = hook('answer({"decision": "allow"})')
    p = memfs(seeded, "hooks", "add", "team-sre", "--on", "write", cmd, "--timeout", "2", "--fail", "open")
    assert p.stdout == f"added hook 1 on write of team-sre: {cmd} (timeout 2s, fails open)\n"
    memfs(seeded, "hooks", "add", "org-knowledge", "true")
    rows = json.loads(memfs(seeded, "hooks", "ls", "--json").stdout)
    assert [(r["id"], r["store_name"], r["command"], r["timeout"], r["fail"]) for r in rows] == [
        (2, "org-knowledge", "true", 5.0, "closed"), (1, "team-sre", cmd, 2.0, "open")]
    table = memfs(seeded, "hooks", "ls", "team-sre").stdout
    assert table.splitlines() == [f"   1  team-sre  on write  timeout 2s  fail open    {cmd}"]
    assert memfs(seeded, "hooks", "rm", "1").stdout == f"removed hook 1 of team-sre: {cmd}\n"
    assert [r["id"] for r in json.loads(memfs(seeded, "hooks", "ls", "--json").stdout)] == [2]
    p = memfs(seeded, "hooks", "rm", "1", check=False)
    assert p.returncode == 3 and "no such hook: 1" in p.stderr
    p = memfs(seeded, "hooks", "add", "team-sre", "true", "--on", "delete", check=False)
    assert p.returncode == 2
    p = memfs(seeded, "hooks", "add", "nope", "true", check=False)
    assert p.returncode == 3


def test_refused_write_exits_9_with_the_reason(seeded, secret_hook, tmp_path):
    memfs(seeded, "hooks", "add", "team-sre", secret_hook)
    src = tmp_path / "in.md"
    src.write_text("SECRET stuff\n")
    p = memfs(seeded, "put", "team-sre:/a.md", str(src), check=False)
    assert p.returncode == 9
    assert p.stderr == "Error: write to team-sre:/a.md refused by hook 1: no secrets here (found SECRET)\n"
    assert "9 refused by a write hook" in " ".join(memfs(seeded, "--help").stdout.split())
    src.write_text("call 555-1234\n")
    assert memfs(seeded, "put", "team-sre:/a.md", str(src)).stdout.startswith("create team-sre:/a.md")
    assert memfs(seeded, "cat", "team-sre:/a.md").stdout == "call [phone]\n"
    assert "(redacted by hook 1: phone number)" in memfs(seeded, "log", "team-sre").stdout


def test_fail_open_says_so_on_stderr(seeded):
    memfs(seeded, "hooks", "add", "team-sre", "sleep 30", "--timeout", "0.3", "--fail", "open")
    p = subprocess.run([*MEMFS, "--db", seeded, "put", "team-sre:/a.md"], input="x\n", capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert "write hook 1 failed (timed out after 0.3s); the write to team-sre:/a.md is allowed" in p.stderr
    with Memfs(seeded) as m:
        assert m.read("team-sre", "/a.md") == b"x\n"


def test_in_process_cli(memfs_cli, seeded):
    r = memfs_cli("hooks", "add", "team-sre", "exit 1", "--timeout", "1")
    assert r.exit_code == 0 and "added hook 1" in r.output
    r = memfs_cli("hooks", "ls")
    assert "exit 1" in r.output and "fail closed" in r.output
