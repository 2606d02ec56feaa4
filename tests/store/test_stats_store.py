"""`Memfs.stats` and `memfs stats` on a store with known content."""

import json
import time

from memfs import Identity, dream

DAY = 86400


def planted(m, store):
    alice = Identity(agent="alice", session="s-alice", actor="agent")
    bob = Identity(agent="bob", session="s-bob", actor="agent")
    m.write(store, "/infra/reporting.md", b"# Reporting\n\nThe reporting replica only accepts connections through "
            b"bastion-eu-2.\n\nReports are generated at 06:00 UTC every day.\n", identity=alice)
    m.write(store, "/notes/bob.md", b"- Connect via bastion-eu-2; direct connections to the reporting replica are "
            b"refused.\n- DNS changes take an hour to propagate to every resolver.\n", identity=bob)
    m.write(store, "/big.md", b"x" * 4000 + b"\n", identity=bob)
    m.write(store, "/logo.bin", bytes(range(256)) * 4, identity=bob)
    m.record_conflict(store, "/notes/bob.md", b"mine\n", base_sha256=None, reason="stale: the file changed",
                      identity=bob)
    m.record_conflict(store, "/notes/bob.md", b"secret\n", base_sha256=None, reason="refused by write hook 1: PII",
                      identity=bob)
    m.record_conflict(store, "/big.md", None, base_sha256=None, reason="refused by write hook 1: PII", identity=bob)
    m.record_reads([(store, m.stat(store, "/big.md").node_id, "s-carol", 2, time.time())])


def test_stats_on_known_content(m, store):
    planted(m, store)
    dream.run(m, store, engine="local", since=0.0)
    s = m.stats(store)
    assert (s["store"], s["files"], s["days"]) == ("team-sre", 4, 30)
    assert s["bytes"] == sum(len(m.read(store, p)) for p in ("/infra/reporting.md", "/notes/bob.md", "/big.md",
                                                                "/logo.bin"))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(s["revisions_per_day"]) == 30 and s["revisions_per_day"][-1]["day"] == today
    assert s["revisions_per_day"][-1]["revisions"] == s["revisions"] == s["revisions_in_window"]  # all today
    assert s["active_agents"] == ["alice", "bob", "tester"]  # tester made the store; carol only read via s-carol
    assert s["active_sessions"] == 4  # s-test, s-alice, s-bob, and s-carol who read
    assert [x["path"] for x in s["nearest_size_limit"]] == ["/big.md", "/logo.bin", "/notes/bob.md",
                                                            "/infra/reporting.md"]
    assert s["nearest_size_limit"][0]["share"] == round(4001 / 102400, 4)
    # 4 paragraphs of text; bob's bastion line states the reporting note's fact in other words
    assert s["duplicated"] == {"paragraphs": 4, "duplicated": 1, "share": 0.25}
    assert s["idle_files"] == 0 and s["files_read"] == 1
    assert s["conflicts"] == {"total": 1, "in_window": 1} and s["refusals"] == {"total": 2, "in_window": 2}
    assert len(s["dreams"]) == 1 and s["dreams"][0]["status"] == "completed"

    later = m.stats(store, now=time.time() + 45 * DAY)  # six weeks on, nothing happened
    assert later["idle_files"] == 4 and later["revisions_in_window"] == 0 and later["active_sessions"] == 0
    assert later["conflicts"] == {"total": 1, "in_window": 0}


def test_stats_cli(memfs_cli, m, store):
    planted(m, store)
    r = memfs_cli("stats", "team-sre")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("store team-sre: 4 files, ")
    assert "duplicated text: 1 of 4 paragraphs (25.0%) would be merged by a dream" in r.output
    assert "refused by write hooks: 2 in 30 days, 2 in all" in r.output
    assert "dreams: none yet (memfs dream run team-sre)" in r.output
    d = json.loads(memfs_cli("stats", "team-sre", "--json", "--days", "7").output)
    assert d["files"] == 4 and len(d["revisions_per_day"]) == 7
    assert isinstance(json.loads(memfs_cli("stats", "--json").output), list)
    rows = json.loads(memfs_cli("reads", "team-sre", "--json").output)
    assert [(x["path"], x["reads"], x["sessions"]) for x in rows] == [("/big.md", 2, 1)]
    assert memfs_cli("reads", "nope").exit_code == 3
    r = memfs_cli("stats", "nope")
    assert r.exit_code == 3 and r.output.strip() == "Error: no such store: 'nope'"
    assert memfs_cli("stats", "team-sre", "--days", "0").exit_code == 2
