"""`Memfs.stats` and `memfs stats` on a store with known content."""

import json
import time

from memfs import Identity, Memfs, dream
from memfs.store.stats import _DUPLICATED

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
    dup = s["duplicated"]
    assert (dup["paragraphs"], dup["duplicated"], dup["share"], dup["method"]) == (4, 1, 0.25, "exact")
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
    assert "duplicated text: 1 of 4 paragraphs (25.0%) would be merged by a dream (every paragraph compared, " in r.output
    r = memfs_cli("stats", "team-sre", "--no-duplicates")
    assert r.exit_code == 0 and "duplicated text" not in r.output and "refused by write hooks" in r.output
    assert json.loads(memfs_cli("stats", "team-sre", "--json", "--no-duplicates").output)["duplicated"] is None
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


def test_duplicated_text_is_kept_while_the_files_are_the_same(m, store, db_path):
    """The figure is counted once per content: again from the same process, it is the kept one;
    a write, a rename or a delete counts it again. Another store keeps its own."""
    _DUPLICATED.clear()  # the figure is kept per process: another test may have counted these files
    planted(m, store)
    first = m.duplicated_text(store)
    assert (first["duplicated"], first["cached"]) == (1, False) and first["seconds"] >= 0
    again = m.stats(store)["duplicated"]
    assert again["cached"] is True and (again["paragraphs"], again["duplicated"]) == (4, 1)
    # the paraphrase goes: counted again, and right
    m.write(store, "/notes/bob.md", b"- DNS changes take an hour to propagate to every resolver.\n")
    after = m.duplicated_text(store)
    assert (after["paragraphs"], after["duplicated"], after["cached"]) == (3, 0, False)
    # a copy of the reporting note under another name: the same hashes, another path
    m.write(store, "/copy.md", m.read(store, "/infra/reporting.md"))
    copied = m.duplicated_text(store)
    assert (copied["paragraphs"], copied["duplicated"], copied["cached"]) == (5, 2, False)
    m.rename(store, "/copy.md", "/zz-copy.md")
    assert m.duplicated_text(store)["cached"] is False
    assert m.duplicated_text(store)["cached"] is True
    other = m.create_store("other")
    m.write(other, "/a.md", b"Reports are generated at 06:00 UTC every day.\n")
    got = m.duplicated_text(other)
    assert (got["paragraphs"], got["duplicated"], got["share"], got["cached"]) == (1, 0, 0.0, False)
    assert m.duplicated_text(other)["cached"] is True and m.duplicated_text(store)["cached"] is True
    # another Memfs of the process (a server's other thread) finds it kept too
    with Memfs(db_path) as m2:
        assert m2.duplicated_text(store)["cached"] is True
