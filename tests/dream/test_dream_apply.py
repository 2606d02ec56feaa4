"""Applying a proposal: preconditions, concurrent agent edits (no clobber), three-way merge,
partial apply, reject, revert, --apply and --into-new-store."""

import pytest

from memfs import dream, errors
from memfs.dream.proposal import Proposal

from planted import DISK, DISK_BOB


@pytest.fixture
def planted(m, store, alice, bob):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    m.write(store, "/oncall.md", b"# On-call\n\n- freeze deploys until 2020-01-06\n- page the secondary after 15 "
            b"minutes\n", identity=alice)
    job = dream.run(m, store, engine="local", since=0.0).job
    assert sorted(c["path"] for c in job.proposal["changes"]) == ["/notes/disk-alerts.md", "/oncall.md",
                                                                   "/runbooks/disk.md"]
    return job


def test_apply_commits_each_file_as_the_dream(m, store, planted):
    rep = dream.apply_job(m, planted.id)
    assert [(o.path, o.status) for o in rep.outcomes] == [
        ("/notes/disk-alerts.md", "applied"), ("/oncall.md", "applied"), ("/runbooks/disk.md", "applied")]
    p = Proposal.from_dict(planted.proposal)
    assert m.read(store, "/runbooks/disk.md").decode() == p.change("/runbooks/disk.md").content
    assert m.lookup(store, "/notes/disk-alerts.md") is None
    revs = m.log(store, ops=("write", "delete"), limit=3)
    assert {(r.actor, r.dream_job, r.session) for r in revs} == {("dream", planted.id, planted.id)}
    assert all(r.message.startswith(f"dream {planted.id}: ") for r in revs)
    job = m.dream_job(planted.id)
    assert job.review == "applied" and set(job.applied["files"]) == {o.path for o in rep.outcomes}
    # applying again changes nothing
    again = dream.apply_job(m, planted.id)
    assert {o.status for o in again.outcomes} == {"already"}


def test_concurrent_agent_edit_is_not_clobbered(m, store, planted, bob):
    agent_version = DISK.replace("# Disk alerts", "# Disk alerts (owned by the storage team)")
    m.write(store, "/runbooks/disk.md", agent_version.encode(), identity=bob)
    rep = dream.apply_job(m, planted.id)
    status = {o.path: o for o in rep.outcomes}
    assert status["/runbooks/disk.md"].status == "conflict"
    assert status["/runbooks/disk.md"].merge_available
    assert status["/oncall.md"].status == "applied"
    assert m.read(store, "/runbooks/disk.md").decode() == agent_version  # the agent's write stands
    job = m.dream_job(planted.id)
    assert job.review == "partially_applied" and "/runbooks/disk.md" in job.applied["conflicts"]
    # the three-way merge keeps both: the agent's new title and the dream's merged paragraphs
    rep = dream.apply_job(m, planted.id, ["/runbooks/disk.md"], merge=True)
    assert [o.status for o in rep.outcomes] == ["merged"]
    text = m.read(store, "/runbooks/disk.md").decode()
    assert text.startswith("# Disk alerts (owned by the storage team)\n")
    assert "Compressed core dumps in the crash directory" in text
    assert m.dream_job(planted.id).review == "applied"


def test_overlapping_edit_is_a_conflict_without_merge(m, store, planted, bob):
    m.write(store, "/oncall.md", b"# On-call\n\n- freeze deploys until 2020-01-06, extended\n- page the secondary "
            b"after 15 minutes\n", identity=bob)
    rep = dream.apply_job(m, planted.id, ["/oncall.md"], merge=True)
    o = rep.outcomes[0]
    assert (o.status, o.merge_available) == ("conflict", False)
    assert b"extended" in m.read(store, "/oncall.md")


def test_deleted_since_base_is_a_conflict(m, store, planted, bob):
    m.delete(store, "/runbooks/disk.md", identity=bob)
    rep = dream.apply_job(m, planted.id, ["/runbooks/disk.md"])
    assert rep.outcomes[0].status == "conflict" and m.lookup(store, "/runbooks/disk.md") is None


def test_partial_apply(m, store, planted):
    rep = dream.apply_job(m, planted.id, ["/oncall.md"])
    assert [(o.path, o.status) for o in rep.outcomes] == [("/oncall.md", "applied")]
    assert m.read(store, "/runbooks/disk.md") == DISK.encode()
    assert m.lookup(store, "/notes/disk-alerts.md") is not None
    assert m.dream_job(planted.id).review == "partially_applied"
    dream.apply_job(m, planted.id)
    assert m.dream_job(planted.id).review == "applied"
    with pytest.raises(errors.NotFound, match="does not change /nope.md"):
        dream.apply_job(m, planted.id, ["/nope.md"])


def test_dry_run_writes_nothing(m, store, planted):
    head = m.store_head(store)
    rep = dream.apply_job(m, planted.id, dry_run=True)
    assert len(rep.outcomes) == 3 and m.store_head(store) == head
    assert m.dream_job(planted.id).review == "proposed"


def test_revert_undoes_an_applied_job(m, store, planted, bob):
    dream.apply_job(m, planted.id)
    head = m.store_head(store)
    m.write(store, "/oncall.md", b"# On-call\n\nrewritten by bob\n", identity=bob)
    rep = dream.revert_job(m, planted.id)
    status = {o.path: o.status for o in rep.outcomes}
    assert status == {"/runbooks/disk.md": "applied", "/notes/disk-alerts.md": "applied", "/oncall.md": "conflict"}
    assert m.read(store, "/runbooks/disk.md") == DISK.encode()
    assert m.read(store, "/notes/disk-alerts.md") == DISK_BOB.encode()
    assert m.read(store, "/oncall.md") == b"# On-call\n\nrewritten by bob\n"  # bob's newer write stands
    new = m.log(store, after=head + 1)
    assert {r.actor for r in new} == {"dream"} and all(r.message == f"revert dream {planted.id}" for r in new)
    # history kept: the dream's own revisions are still there
    assert any(r.dream_job == planted.id and r.op == "delete" for r in m.log(store, "/notes/disk-alerts.md"))


def test_reject(m, store, planted):
    dream.reject_job(m, planted.id)
    assert m.dream_job(planted.id).review == "rejected"
    with pytest.raises(errors.InvalidInput, match="rejected"):
        dream.apply_job(m, planted.id)


def test_apply_in_place_and_into_new_store(m, store, alice, bob):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    res = dream.run(m, store, engine="local", since=0.0, into_new_store="team-sre-dreamed")
    assert m.lookup(store, "/notes/disk-alerts.md") is not None  # the input is untouched
    new = m.get_store("team-sre-dreamed")
    assert sorted(m.tree(new)) == ["/", "/runbooks", "/runbooks/disk.md"]
    assert res.job.output["memory_store_id"] == new.uid
    with pytest.raises(errors.AlreadyExists):
        dream.run(m, store, engine="local", since=0.0, into_new_store="team-sre-dreamed")
    res = dream.run(m, store, engine="local", since=0.0, apply=True)
    assert res.job.review == "applied" and m.lookup(store, "/notes/disk-alerts.md") is None


def test_the_proposal_is_screened_by_the_write_hooks(m, store, alice, bob, tmp_path):
    """Write hooks run over each proposed file when the dream proposes it: content a hook refuses
    is never stored, not even in the job; a redaction is what the proposal holds."""
    import sys

    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    m.write(store, "/oncall.md", b"# On-call\n\n- freeze deploys until 2020-01-06\n- page the secondary after 15 "
            b"minutes\n", identity=alice)
    hook = tmp_path / "screen.py"
    hook.write_text("import json, sys\nreq = json.load(sys.stdin)\n"
                    "if req['path'] == '/oncall.md': print(json.dumps({'decision': 'refuse', 'reason': 'hands off'}))\n"
                    "elif 'df -h' in req['content']: print(json.dumps({'decision': 'redact', 'reason': 'commands',"
                    " 'content': req['content'].replace('df -h', '[cmd]')}))\n"
                    "else: print(json.dumps({'decision': 'allow'}))\n")
    m.add_hook(store, f"{sys.executable} {hook}")
    job = dream.run(m, store, engine="local", since=0.0).job
    assert [c["path"] for c in job.proposal["changes"]] == ["/notes/disk-alerts.md", "/runbooks/disk.md"]
    assert job.proposal["findings"]["refused_by_hooks"] == [{"path": "/oncall.md", "hook_id": 1, "reason": "hands off"}]
    assert "Refused by the store's write hooks, not kept: /oncall.md (hands off)" in job.proposal["report"]
    disk = Proposal.from_dict(job.proposal).change("/runbooks/disk.md")
    assert "df -h" not in disk.content and "[cmd]" in disk.content
    assert disk.annotations[-1].reason == "redacted by hook 1: commands"
    rep = dream.apply_job(m, job.id)
    assert [(o.path, o.status) for o in rep.outcomes] == [("/notes/disk-alerts.md", "applied"),
                                                          ("/runbooks/disk.md", "applied")]


def test_a_write_hook_refusal_skips_that_file_only(m, store, planted, tmp_path):
    """The store's write hook refuses the new /oncall.md: that file is reported, the others apply."""
    hook = tmp_path / "no-oncall.py"
    hook.write_text("import json, sys\nreq = json.load(sys.stdin)\n"
                    "print(json.dumps({'decision': 'refuse', 'reason': 'no changes to the on-call page'}"
                    " if req['path'] == '/oncall.md' else {'decision': 'allow'}))\n")
    import sys
    m.add_hook(store, f"{sys.executable} {hook}")
    before = m.read(store, "/oncall.md")
    rep = dream.apply_job(m, planted.id)
    status = {o.path: (o.status, o.reason) for o in rep.outcomes}
    assert status["/oncall.md"] == ("conflict", "refused by write hook 1: no changes to the on-call page")
    assert status["/runbooks/disk.md"][0] == "applied" and status["/notes/disk-alerts.md"][0] == "applied"
    assert m.read(store, "/oncall.md") == before
    # the refused content is not kept in the job either: the refusal is
    job = m.dream_job(planted.id)
    assert [c["path"] for c in job.proposal["changes"]] == ["/notes/disk-alerts.md", "/runbooks/disk.md"]
    assert job.applied["conflicts"] == {"/oncall.md": "refused by write hook 1: no changes to the on-call page"}
