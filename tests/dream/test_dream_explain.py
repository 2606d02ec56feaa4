"""Dreams that explain their input: which sessions and transcripts were read, which registered
ones were left out and why, with the option that includes them; a dream with nothing to read
says so and exits 12. And read counts in the dream: unread notes proposed for review."""

import time

from memfs import Identity, dream
from memfs.dream.proposal import Proposal
from memfs.transcripts import register

from dreamhelpers import cc_session

STEPS = [("user", "check the disk"), ("tool", "Bash", {"command": "df -h"}, "ok", False)]


def transcript(tmp_path, sid, start, **kw):
    p = tmp_path / "t" / f"{sid}.jsonl"
    cc_session(p, sid, STEPS, start=start)
    return str(p)


def test_left_out_transcripts_are_explained_with_the_option_that_includes_them(memfs_cli, m, tmp_path):
    m.identity = Identity(agent="operator", actor="operator")  # made by an operator: no session wrote it
    store = m.create_store("team-sre", "SRE notes")
    old = transcript(tmp_path, "sess-old", "2020-01-10T10:00:00+00:00")
    unlinked = transcript(tmp_path, "sess-unlinked", time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
    other = transcript(tmp_path, "sess-other", time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
    m.create_store("elsewhere", "another store")
    register(m, [old], stores=[store.name])
    register(m, [unlinked])
    register(m, [other], stores=["elsewhere"])

    r = memfs_cli("dream", "run", "team-sre", "--engine", "local")
    assert r.exit_code == 12, r.output  # nothing to read: a distinct status for cron
    assert "0 sessions" in r.output
    assert "nothing to read: no session or transcript touched team-sre since " in r.output
    assert (f"{old} (session sess-old): outside the window: last active 2020-01-10, the window starts "
            in r.output)
    assert "to include: --since 2020-01-10" in r.output
    assert (f"{unlinked} (session sess-unlinked): not linked to any store; to include: memfs transcripts add "
            f"--store team-sre {unlinked} (or dream run --sessions sess-unlinked)") in r.output
    assert "(1 transcript registered for other stores was not considered)" in r.output
    assert "sess-other" not in r.output
    show = memfs_cli("dream", "show", "latest", "--no-color").output
    assert "nothing to read" in show and "to include: --since 2020-01-10" in show

    # following the hints includes them
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local", "--since", "2020-01-10")
    assert r.exit_code == 0, r.output
    assert "read 1 session, 1 transcript:" in r.output and f"  sess-old: {old}" in r.output
    assert "left out 1 registered transcript:" in r.output and "sess-unlinked" in r.output
    assert memfs_cli("transcripts", "add", "--store", "team-sre", unlinked).exit_code == 0
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local")
    assert r.exit_code == 0 and "read 1 session, 1 transcript:" in r.output and "sess-unlinked" in r.output
    assert "left out 1 registered transcript:" in r.output and "sess-old" in r.output
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local", "--sessions", "sess-old")
    assert r.exit_code == 0 and "sess-unlinked (session" not in r.output
    assert "not among the sessions asked for (--sessions); to include: --sessions sess-unlinked" in r.output


def test_a_session_without_transcript_is_listed_as_read(memfs_cli, m, store):
    m.write(store, "/a.md", b"a note\n", identity=Identity(agent="alice", session="s-alice"))
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local")
    assert r.exit_code == 0, r.output
    assert "read 2 sessions, 0 transcripts:" in r.output  # alice's, and the one that made the store
    assert "  s-alice: no transcript (the store's log and the mount's record)" in r.output


def test_the_report_counts_the_sessions_the_header_counts(memfs_cli, m, store):
    """A session that only held the store (a mount that read) is selected and counted by `dream
    run` and `dream show`'s header; the engine's report counts it too, and says it had nothing
    to mine, rather than giving a smaller number."""
    m.write(store, "/a.md", b"a note\n", identity=Identity(agent="alice", session="s-alice"))
    m.open_session("s-reader", agent="carol", stores={"team-sre": "rw"})
    r = memfs_cli("dream", "run", "team-sre", "--engine", "local")
    assert r.exit_code == 0, r.output
    assert "completed: 3 sessions, 0 changes proposed" in r.output  # alice, the reader, the store's maker
    assert "read 3 sessions, 0 transcripts:" in r.output
    assert ": 3 sessions (2 agents; 1 with no transcript or file change), 1 note; 0 files to change." in r.output
    show = memfs_cli("dream", "show", "latest", "--no-color").output
    assert "\nsessions 3  transcripts 0" in show and ": 3 sessions (2 agents; 1 with" in show
    assert memfs_cli("dream", "ls", "team-sre").output.count(" 3 sessions ") == 1


def test_unread_notes_are_proposed_for_review_and_much_read_notes_kept(m, store):
    who = Identity(agent="alice", session="s-alice")
    for p in ("/old.md", "/popular.md", "/recent-read.md"):
        m.write(store, p, f"# {p}\n\nsomething about {p[1:-3]} that nobody else wrote\n".encode(), identity=who)
    nid = {p: m.stat(store, p).node_id for p in ("/old.md", "/popular.md", "/recent-read.md")}
    later = time.time() + 60 * 86400  # the dream runs two months later
    m.record_reads([(store, nid["/popular.md"], f"s{k}", 1, time.time()) for k in range(3)] +
                   [(store, nid["/recent-read.md"], "s9", 1, later - 86400)])
    job = dream.run(m, store, engine="local", since=0.0, now=later).job
    p = Proposal.from_dict(job.proposal)
    assert [x["path"] for x in p.findings["unread"]] == ["/old.md"]
    assert p.findings["kept_by_readers"] == [{"path": "/popular.md", "sessions": 3}]
    assert "Possibly stale, for review: 1 note no session read or wrote in 30 days: /old.md" in p.report
    assert p.changes == []  # a review list, not an edit
    job = dream.run(m, store, engine="local", since=0.0, now=later, engine_options={"unread_days": 90}).job
    assert "unread" not in Proposal.from_dict(job.proposal).findings
