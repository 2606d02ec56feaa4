"""The local engine on planted duplicates, stale entries and recurring errors; idempotence."""

import json

import pytest

from memfs import Identity, dream
from memfs.dream.proposal import Proposal
from memfs.transcripts import register
from planted import DISK, DISK_BOB




def proposal_of(job) -> Proposal:
    assert job.status == "completed", job.error
    return Proposal.from_dict(job.proposal)


def run(m, store, **kw):
    kw.setdefault("since", 0.0)
    res = dream.run(m, store, engine="local", **kw)
    return res.job


def test_near_duplicate_notes_are_merged_with_provenance(m, store, alice, bob):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    m.write(store, "/runbooks/dns.md", b"# DNS\n\nFlush the resolver cache with resolvectl flush-caches.\n",
            identity=alice)
    p = proposal_of(run(m, store))
    assert {c.path: c.action for c in p.changes} == {"/runbooks/disk.md": "modify", "/notes/disk-alerts.md": "delete"}
    kept = p.change("/runbooks/disk.md").content
    assert kept.startswith(DISK.rstrip("\n"))
    assert "Compressed core dumps in the crash directory" in kept  # bob's extra paragraph kept
    assert kept.count("rotate the application logs") == 1
    assert "_Merged by memfs dream from /runbooks/disk.md (alice, session s-alice, revision " in kept
    assert "/notes/disk-alerts.md (bob, session s-bob, revision " in kept
    why = p.change("/notes/disk-alerts.md").annotations[0]
    assert why.kind == "merge_duplicates" and "merged into /runbooks/disk.md" in why.reason
    assert any(e.agent == "bob" for e in why.evidence)
    assert "bob" in p.report and "alice" in p.report


def test_duplicate_paragraphs_across_notes(m, store, alice, bob):
    m.write(store, "/runbooks/ingest.md", b"# Ingest\n\n- restart the ingest worker with systemctl restart ingest "
            b"when the queue stalls for more than five minutes\n- the queue dashboard is in grafana\n", identity=alice)
    m.write(store, "/notes/bob.md", b"# Bob's notes\n\n- DNS changes take an hour to propagate\n- Restart the ingest "
            b"worker with `systemctl restart ingest` when the queue stalls for more than five minutes.\n", identity=bob)
    p = proposal_of(run(m, store))
    bobs = p.change("/notes/bob.md").content
    assert "ingest" not in bobs and "DNS changes take an hour" in bobs
    kept = p.change("/runbooks/ingest.md").content
    assert "five minutes _(also noted by bob in session s-bob)_" in kept
    removed = p.change("/notes/bob.md").annotations[0]
    assert removed.kind == "duplicate_paragraph" and "kept in /runbooks/ingest.md" in removed.reason


def test_stale_references_superseded_facts_and_expiry(m, store, alice, bob):
    m.write(store, "/runbooks/old.md", b"# Old runbook\n", identity=alice)
    m.rename(store, "/runbooks/old.md", "/runbooks/new.md", identity=alice)
    m.write(store, "/gone.md", b"bye\n", identity=alice)
    m.delete(store, "/gone.md", identity=bob)
    m.write(store, "/index.md", b"# Index\n\n- restarts: see /runbooks/old.md\n- history: /gone.md\n"
            b"- logs live in /var/log/app\n", identity=alice)
    m.write(store, "/db.md", b"# Databases\n\n- primary db host: db1.internal\n", identity=alice)
    m.write(store, "/infra.md", b"# Infra\n\n- Primary DB host: db2.internal\n", identity=bob)
    m.write(store, "/oncall.md", b"# On-call\n\n- freeze deploys until 2020-01-06 (holidays)\n- page the secondary "
            b"after 15 minutes\n", identity=alice)
    m.write(store, "/promo.md", b"expires: 2020-03-01\n\n# Spring promo\nDouble quota for all.\n", identity=alice)
    p = proposal_of(run(m, store))
    index = p.change("/index.md").content
    assert "see /runbooks/new.md" in index and "/runbooks/old.md" not in index
    gone_rev = m.history(store, "/gone.md")[0]
    assert "- history: /gone.md _(stale: /gone.md was deleted on " in index and f"revision {gone_rev.id})_" in index
    assert "/var/log/app\n" in index  # never a store path: left alone
    db = p.change("/db.md").content
    assert '- primary db host: db1.internal _(superseded on ' in db and 'by "db2.internal" in /infra.md' in db
    assert p.change("/infra.md") is None
    assert 'Agents disagree on "primary db host"' in p.report
    oncall = p.change("/oncall.md")
    assert "freeze deploys" not in oncall.content and "page the secondary" in oncall.content
    assert oncall.annotations[0].kind == "expired" and "2020-01-06" in oncall.annotations[0].reason
    assert p.change("/promo.md").action == "delete"
    kinds = {a.kind for c in p.changes for a in c.annotations}
    assert {"stale_reference", "superseded", "expired"} <= kinds


def test_recurring_error_across_three_sessions(m, store, git_error_sessions, tmp_path):
    p = proposal_of(run(m, store))
    note = p.change("/lessons/recurring-errors.md")
    assert note is not None and note.action == "create"
    text = note.content
    assert "### Bash: exit code <n>: ! [rejected] fix-<n> -> fix-<n> (fetch first)" in text
    assert "- Seen 3 times in 3 sessions (agents: alice, bob, carol) from 2026-11-20 to 2026-11-22." in text
    assert "- What worked afterwards: Bash `git pull --rebase origin main`" in text
    for sid, line in git_error_sessions.items():
        assert f"{sid} @ {tmp_path / 't' / (sid + '.jsonl')}:{line}" in text
    ann = note.annotations[0]
    assert ann.kind == "lesson" and len({e.session for e in ann.evidence}) == 3
    assert "alice, bob, carol each ran into" in p.report


def test_one_session_is_not_a_pattern(m, store, git_error_sessions):
    p = proposal_of(run(m, store, since=None, sessions=["sess-alice"]))
    assert p.change("/lessons/recurring-errors.md") is None


def test_coverage_session_yields_the_stop_hook_lesson(m, store, samples):
    register(m, [str(samples / "claude-code_coverage-test-fix.jsonl")], stores=[store.name])
    p = proposal_of(run(m, store))
    text = p.change("/lessons/corrections.md").content
    assert "### Stop hook `stop.sh` stopped the agent" in text
    assert "- Seen 2 times in 1 session" in text
    assert "Cannot exit with untracked files" in text and "Cannot exit with unstaged changes" in text
    assert "- Files it named: `.coverage`; `__pycache__/`" in text
    assert "Edit .gitignore" in text
    assert "claude-code_coverage-test-fix.jsonl:16" in text and "claude-code_coverage-test-fix.jsonl:26" in text


def test_verification_note(m, store, alice, git_error_sessions):
    m.write(store, "/runbooks/push.md", b"# Pushing\n\nWhen a push is rejected run `git pull --rebase origin main` "
            b"and push again.\n", identity=alice)
    p = proposal_of(run(m, store))
    text = p.change("/runbooks/push.md").content
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("_Verified by memfs dream: `git pull --rebase origin main` ran without error on 2026-11-22 "
                           "(session sess-carol, ")
    assert last.endswith("sess-carol.jsonl:4)_")
    assert p.change("/runbooks/push.md").annotations[0].kind == "verification"


def _planted(m, store, alice, bob):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=alice)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=bob)
    m.write(store, "/db.md", b"# Databases\n\n- primary db host: db1.internal\n", identity=alice)
    m.write(store, "/infra.md", b"# Infra\n\n- Primary DB host: db2.internal\n- see /notes/disk-alerts.md\n",
            identity=bob)
    m.write(store, "/runbooks/push.md", b"# Pushing\n\nRun `git pull --rebase origin main` first.\n", identity=alice)


def test_same_input_gives_byte_identical_output(m, store, alice, bob, git_error_sessions):
    _planted(m, store, alice, bob)
    a = run(m, store, now=1_800_000_000)
    b = run(m, store, now=1_800_000_000)
    assert a.id != b.id
    assert Proposal.from_dict(a.proposal).to_json() == Proposal.from_dict(b.proposal).to_json()
    assert len(a.proposal["changes"]) >= 5


def test_dreaming_twice_proposes_nothing_the_second_time(m, store, alice, bob, git_error_sessions):
    _planted(m, store, alice, bob)
    first = run(m, store)
    assert len(first.proposal["changes"]) >= 5
    rep = dream.apply_job(m, first.id)
    assert not rep.conflicts
    second = run(m, store)
    assert second.proposal["changes"] == [], json.dumps(second.proposal["changes"], indent=1)[:3000]
    # the merged note's reference was rewritten to the kept note
    assert "see /runbooks/disk.md" in m.read(store, "/infra.md").decode()


def test_new_evidence_updates_an_existing_lesson(m, store, git_error_sessions, tmp_path):
    from dreamhelpers import cc_session

    dream.apply_job(m, run(m, store).id)
    cc_session(tmp_path / "t2" / "sess-dave.jsonl", "sess-dave", [
        ("tool", "Bash", {"command": "git push origin fix-9"}, "Exit code 1\n ! [rejected]        fix-9 -> fix-9 "
         "(fetch first)", True)], start="2026-11-25T09:00:00+00:00")
    register(m, [str(tmp_path / "t2")], agent="dave", stores=[store.name])
    p = proposal_of(run(m, store))
    text = p.change("/lessons/recurring-errors.md").content
    assert "- Seen 4 times in 4 sessions (agents: alice, bob, carol, dave) from 2026-11-20 to 2026-11-25." in text
    assert text.count("### Bash:") == 1


def test_engine_writes_nothing(m, store, alice, bob, git_error_sessions):
    _planted(m, store, alice, bob)
    head = m.store_head(store)
    job = run(m, store)
    assert job.base_rev == head and m.store_head(store) == head
    assert job.status == "completed" and job.review == "proposed"
    assert job.started_at >= job.created_at and job.ended_at >= job.started_at
    assert sorted(job.inputs.sessions) == ["s-alice", "s-bob", "s-test", "sess-alice", "sess-bob", "sess-carol"]


@pytest.mark.parametrize("bad", [dict(since=1.0, sessions=["x"]), dict(budget_tokens=0),
                                 dict(instructions="x" * 5000)])
def test_bad_inputs(m, store, bad):
    from memfs import errors

    with pytest.raises(errors.InvalidInput):
        dream.run(m, store, engine="local", **bad)


def test_refused_writes_in_the_mount_record_become_a_lesson(m, store):
    """No harness transcript at all: the mount's own record of two sessions (each had a stale
    write refused) is enough for a lesson."""
    for agent in ("alice", "bob"):
        who = Identity(agent=agent, session=f"mnt-{agent}", actor="agent")
        m.write(store, f"/scratch-{agent}.md", b"x\n", identity=who)
        m.record_conflict(store, "/runbooks/disk.md", b"mine\n", base_sha256=None, identity=who,
                          reason=f"stale: another session changed the file after this one read it (agent {agent})")
    p = proposal_of(run(m, store))
    text = p.change("/lessons/recurring-errors.md").content
    assert "### memfs.write: write of team-sre:<path> refused: stale: another session changed the file" in text
    assert "(agents: alice, bob)" in text and "mnt-alice @ memfs#/conflicts/1" in text


def _timing_sessions(m, store, tmp_path, delays, prefix="t"):
    """Sessions in which a health check fails some seconds after a restart."""
    from dreamhelpers import cc_session

    for k, delay in enumerate(delays):
        sid = f"{prefix}-{k}"
        cc_session(tmp_path / "timing" / f"{sid}.jsonl", sid, [
            ("user", "restart the api"),
            ("tool", "Bash", {"command": "kubectl rollout restart deploy/api"}, "restarted", False),
            ("wait", delay),
            ("tool", "Bash", {"command": "curl -sf http://api/health"}, "Exit code 22\ncurl: (22) 502 upstream unavailable",
             True),
        ], start=f"2026-11-2{k}T09:00:00+00:00")
        register(m, [str(tmp_path / "timing" / f"{sid}.jsonl")], agent=f"agent{k}", stores=[store.name])


def test_a_delay_that_repeats_across_sessions_becomes_a_timing_lesson(m, store, tmp_path):
    _timing_sessions(m, store, tmp_path, [56, 59, 58])  # + 2 s: the helper's records are a second apart
    p = proposal_of(run(m, store))
    note = p.change("/lessons/timing.md")
    assert note is not None and note.action == "create"
    assert "about 60 s after Bash `kubectl rollout restart deploy/api`" in note.content
    assert "- Delays seen: 58 s; 60 s; 61 s" in note.content
    assert "- Seen 3 times in 3 sessions" in note.content
    assert len({e.session for e in note.annotations[0].evidence}) == 3
    # applied, the next dream over the same sessions has nothing to add
    job = run(m, store)
    assert not dream.apply_job(m, job.id).conflicts
    assert run(m, store).proposal["changes"] == []


def test_scattered_or_rare_delays_are_not_a_regularity(m, store, tmp_path):
    _timing_sessions(m, store, tmp_path, [10, 60, 200], prefix="scattered")
    _timing_sessions(m, store, tmp_path, [60, 60], prefix="rare")
    assert proposal_of(run(m, store)).change("/lessons/timing.md") is None
