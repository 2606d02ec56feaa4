"""`memfs dream run STORE --into-branch NAME`: the proposal as a branch, mounted and edited with
plain tools, then merged after the store changed meanwhile: nothing lost on either side."""

import subprocess

import pytest

from memfs import dream, errors

from planted import DISK, DISK_BOB


def test_dream_into_a_branch_edited_on_a_mount_merged_after_the_store_changed(m, store, alice, bob, mounter,
                                                                               memfs_cli):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    m.write(store, "/oncall.md", b"# On-call\n\n- freeze deploys until 2020-01-06\n- page the secondary after 15 "
            b"minutes\n", identity=alice)
    before = {p: m.read(store, p) for p in ("/runbooks/disk.md", "/notes/disk-alerts.md", "/oncall.md")}
    res = dream.run(m, store, engine="local", since=0.0, into_branch="dream-1")
    job = res.job
    assert res.new_branch == "team-sre@dream-1" and job.output["memory_store"] == "team-sre@dream-1"
    assert {p: m.read(store, p) for p in before} == before  # the store is untouched
    b = m.branch("team-sre@dream-1")
    assert b.base_rev == job.base_rev and m.lookup(b.store, "/notes/disk-alerts.md") is None
    dreamed = [r for r in m.log(b.store, after=b.fork_rev)]
    assert dreamed and {(r.actor, r.dream_job) for r in dreamed} == {("dream", job.id)}
    with pytest.raises(errors.AlreadyExists):
        dream.run(m, store, engine="local", since=0.0, into_branch="dream-1")
    # a person reviews it on a mount and adds a line
    mnt = mounter("team-sre@dream-1=rw", agent="reviewer")
    grep = subprocess.run(["grep", "-rl", "Compressed core dumps", "."], cwd=mnt.path, capture_output=True, text=True)
    assert grep.stdout == "./runbooks/disk.md\n"
    with open(mnt / "oncall.md", "a") as f:
        f.write("- reviewed by a person\n")
    # meanwhile an agent edits the store
    agent_version = DISK.replace("# Disk alerts", "# Disk alerts (owned by the storage team)")
    m.write(store, "/runbooks/disk.md", agent_version.encode(), identity=bob)
    m.write(store, "/fresh.md", b"learned meanwhile\n", identity=bob)
    r = memfs_cli("branch", "merge", "team-sre@dream-1")
    assert r.exit_code == 0, r.output
    disk = m.read(store, "/runbooks/disk.md").decode()
    assert disk.startswith("# Disk alerts (owned by the storage team)\n") and "Compressed core dumps" in disk
    assert m.read(store, "/oncall.md").decode().endswith("- reviewed by a person\n")
    assert "freeze deploys" not in m.read(store, "/oncall.md").decode()
    assert m.lookup(store, "/notes/disk-alerts.md") is None
    assert m.read(store, "/fresh.md") == b"learned meanwhile\n"
