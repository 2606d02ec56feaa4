"""Fixtures for the dream tests: a store with notes, and sessions registered for it."""


import pytest

from memfs import Identity
from memfs.transcripts import register

from dreamhelpers import cc_session


@pytest.fixture
def alice():
    return Identity(agent="alice", session="s-alice", actor="agent")


@pytest.fixture
def bob():
    return Identity(agent="bob", session="s-bob", actor="agent")


@pytest.fixture
def git_error_sessions(m, store, tmp_path):
    """Three sessions of three agents that hit the same `git push` rejection, then fixed it."""
    refs = {}
    for k, agent in enumerate(["alice", "bob", "carol"]):
        sid = f"sess-{agent}"
        lines = cc_session(tmp_path / "t" / f"{sid}.jsonl", sid, [
            ("user", "deploy the fix"),
            ("tool", "Bash", {"command": f"git push origin fix-{k}"},
             f"Exit code 1\n ! [rejected]        fix-{k} -> fix-{k} (fetch first)\nerror: failed to push some refs to "
             f"'git@example.com:team/app{k}.git'", True),
            ("tool", "Bash", {"command": "git pull --rebase origin main"}, "Successfully rebased", False),
            ("tool", "Bash", {"command": f"git push origin fix-{k}"}, "ok", False),
        ], start=f"2026-11-2{k}T10:00:00+00:00")
        register(m, [str(tmp_path / "t" / f"{sid}.jsonl")], agent=agent, stores=[store.name])
        refs[sid] = lines[1]
    return refs


