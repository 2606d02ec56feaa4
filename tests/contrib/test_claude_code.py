"""contrib/claude-code: the SessionEnd hook script run as Claude Code runs it (JSON on stdin), on a
copy of a Claude Code transcript (the project's synthetic one, and the real sample when present); the shipped CLAUDE.md fragment is what `memfs prompt` prints."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memfs import Memfs

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "contrib" / "claude-code" / "memfs-session-end"


@pytest.fixture
def transcript(tmp_path, samples):
    dst = tmp_path / "projects" / "-work-demo" / "c64cc478-3430-40fe-8e9c-4ee9986e9754.jsonl"
    dst.parent.mkdir(parents=True)
    shutil.copy(samples / "claude-code_coverage-test-fix.jsonl", dst)
    return dst


def run_hook(db_path, event, **env):
    bindir = os.path.dirname(sys.executable)
    e = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "MEMFS_DB": db_path, **env}
    e.pop("ANTHROPIC_API_KEY", None)  # dreams use the local engine: tests never reach the network
    return subprocess.run([sys.executable, str(HOOK)], input=json.dumps(event), capture_output=True, text=True,
                          env=e, timeout=60)


def test_session_end_registers_the_transcript(db_path, transcript):
    with Memfs(db_path) as m:
        m.create_store("team-sre")
    event = {"session_id": "cc-session-42", "transcript_path": str(transcript), "cwd": "/work/demo",
             "hook_event_name": "SessionEnd", "reason": "exit"}
    p = run_hook(db_path, event, MEMFS_STORES="team-sre")
    assert p.returncode == 0, p.stderr
    assert "1 transcript registered" in p.stdout and "dream" not in p.stdout
    with Memfs(db_path) as m:
        ts = m.transcripts(session_ids=["cc-session-42"])
        assert len(ts) == 1
        t = ts[0]
        assert (t.path, t.format, t.agent) == (str(transcript), "claude-code", "claude-code")
        assert t.stores == ["team-sre"] and t.stats["turns"] > 0
        assert [x.session_id for x in m.transcripts(store="team-sre")] == ["cc-session-42"]
    # the hook runs again when a resumed session ends: still one registration
    p = run_hook(db_path, event, MEMFS_STORES="team-sre")
    assert p.returncode == 0, p.stderr
    with Memfs(db_path) as m:
        assert len(m.transcripts(session_ids=["cc-session-42"])) == 1


def test_session_end_starts_a_gated_dream(db_path, transcript, tmp_path):
    with Memfs(db_path) as m:
        m.create_store("team-sre")
    log = tmp_path / "dream.log"
    event = {"session_id": "cc-session-43", "transcript_path": str(transcript), "hook_event_name": "SessionEnd"}
    p = run_hook(db_path, event, MEMFS_STORES="team-sre", MEMFS_DREAM_STORE="team-sre",
                 MEMFS_DREAM_MIN_SESSIONS="3", MEMFS_HOOK_LOG=str(log))
    assert p.returncode == 0, p.stderr
    assert "dream of team-sre started in the background" in p.stdout
    deadline = time.time() + 30
    while time.time() < deadline and "nothing to read" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    # no session in the 24 h window (the sample is from January), below the gate of 3: no dream
    assert "team-sre: nothing to read: no session or transcript touched team-sre since " in log.read_text()
    with Memfs(db_path) as m:
        assert m.dream_jobs("team-sre") == []
    # the gate passes (the sample session is from January: a wide window), the dream runs
    p = run_hook(db_path, event, MEMFS_STORES="team-sre", MEMFS_DREAM_STORE="team-sre", MEMFS_DREAM_SINCE="3650d",
                 MEMFS_DREAM_MIN_SESSIONS="1", MEMFS_HOOK_LOG=str(log))
    assert p.returncode == 0, p.stderr
    deadline = time.time() + 30
    while time.time() < deadline and "dream " not in log.read_text():
        time.sleep(0.2)
    assert "dream " in log.read_text(), log.read_text()
    with Memfs(db_path) as m:
        jobs = m.dream_jobs("team-sre")
        assert len(jobs) == 1 and jobs[0].inputs.sessions == ["cc-session-43"], jobs
        assert jobs[0].status == "completed"


def test_bad_input_and_missing_transcript(db_path, tmp_path):
    p = subprocess.run([sys.executable, str(HOOK)], input="not json", capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "stdin is not JSON" in p.stderr
    p = run_hook(db_path, {"session_id": "x", "transcript_path": str(tmp_path / "gone.jsonl")})
    assert p.returncode == 0 and "nothing to register" in p.stderr
    with Memfs(db_path) as m:
        assert m.transcripts() == []


def test_claude_md_fragment_is_the_prompt_output(memfs_cli, m):
    m.create_store("team-sre", "SRE runbooks, incidents and on-call notes.")
    m.create_store("org-knowledge", "Company-wide conventions; read-only for agents.")
    r = memfs_cli("prompt", "--store", "team-sre=rw", "--store", "org-knowledge=ro")
    assert r.exit_code == 0
    assert r.output == (ROOT / "contrib" / "claude-code" / "CLAUDE.memfs.md").read_text()


def test_settings_snippet_wires_the_hook():
    s = json.loads((ROOT / "contrib" / "claude-code" / "settings.json").read_text())
    hook = s["hooks"]["SessionEnd"][0]["hooks"][0]
    assert hook["type"] == "command" and hook["command"].endswith("/memfs-session-end")
    assert {"MEMFS_DB", "MEMFS_STORES", "MEMFS_DREAM_STORE"} <= set(s["env"])
    assert os.access(HOOK, os.X_OK)


def test_the_hook_is_on_path_after_install(db_path, transcript):
    """Issue 17: the README calls `memfs-session-end` bare; it is installed next to `memfs`."""
    bindir = os.path.dirname(sys.executable)
    exe = shutil.which("memfs-session-end", path=bindir)
    assert exe is not None and os.path.dirname(exe) == bindir and shutil.which("memfs", path=bindir)
    with Memfs(db_path) as m:
        m.create_store("team-sre")
    event = {"session_id": "cc-installed", "transcript_path": str(transcript), "hook_event_name": "SessionEnd"}
    p = subprocess.run(["memfs-session-end"], input=json.dumps(event), capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
                            "MEMFS_DB": db_path, "MEMFS_STORES": "team-sre"})
    assert p.returncode == 0 and "1 transcript registered" in p.stdout, p.stderr
    with Memfs(db_path) as m:
        assert [t.session_id for t in m.transcripts(store="team-sre")] == ["cc-installed"]


def test_readme_install_step_makes_its_folder(tmp_path):
    """The contrib README's `install` line works in a home without ~/.claude/hooks."""
    readme = (ROOT / "contrib" / "claude-code" / "README.md").read_text()
    lines = [ln for ln in readme.splitlines() if ln.startswith("install ")]
    assert lines
    home = tmp_path / "home"
    home.mkdir()
    for line in lines:
        p = subprocess.run(["bash", "-c", line], cwd=ROOT, env={**os.environ, "HOME": str(home)},
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
    installed = home / ".claude" / "hooks" / "memfs-session-end"
    assert os.access(installed, os.X_OK) and installed.read_bytes() == HOOK.read_bytes()


START = ROOT / "contrib" / "claude-code" / "memfs-session-start"


def test_session_start_puts_the_pinned_memory_in_context(db_path, m):
    sre = m.create_store("team-sre", "SRE notes")
    m.write(sre, "/system/core.md", b"Production deploys are frozen Friday 16:00 to Monday 09:00.\n")
    m.write(sre, "/system/long.md", b"z" * 300 + b"\n")
    m.create_store("org-knowledge", "Org")
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "MEMFS_DB": db_path,
           "MEMFS_PROMPT_STORES": "team-sre=rw,org-knowledge=ro", "MEMFS_PINNED_BUDGET": "200"}
    p = subprocess.run([sys.executable, str(START)], input=json.dumps({"hook_event_name": "SessionStart",
                                                                      "source": "startup"}),
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "/mnt/memory/team-sre/ — store \"team-sre\", read-write." in p.stdout
    assert "## /mnt/memory/team-sre/system/core.md\n\nProduction deploys are frozen" in p.stdout
    assert "zzzz" not in p.stdout and "/mnt/memory/team-sre/system/long.md, 301 bytes" in p.stdout
    assert "left out team-sre:/system/long.md (301 bytes)" in p.stderr
    settings = json.loads((ROOT / "contrib" / "claude-code" / "settings.json").read_text())
    assert settings["hooks"]["SessionStart"][0]["hooks"][0]["command"].endswith("memfs-session-start")
    bad = subprocess.run([sys.executable, str(START)], input="{}", capture_output=True, text=True, timeout=30,
                         env={**env, "MEMFS_PROMPT_STORES": "nope=rw"})
    assert bad.returncode == 3 and bad.stdout == "" and "nope" in bad.stderr
