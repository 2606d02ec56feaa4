"""memfs grep: the store method (index and scan give the same lines), the index kept in step with
writes, redaction and old databases, and the CLI's output and exit codes."""

import json
import random

import pytest

from memfs import Identity, Memfs, errors


@pytest.fixture
def notes(m, store):
    m.write(store, "/runbooks/deploy.md", b"# Deploy\nkubectl apply -f app.yaml\nthen watch the rollout\n")
    m.write(store, "/runbooks/db.md", b"Postgres failover: run pg_ctl promote\nKUBECTL is not needed here\n")
    m.write(store, "/people/oncall.md", b"alice, bob\n")
    m.write(store, "/blob.bin", b"\x00\x01kubectl in binary\x00")
    m.write(store, "/runbooks/deploy.md", b"# Deploy\nhelm upgrade app ./chart\nthen watch the rollout\n",
            identity=Identity(agent="b", session="s-b", actor="agent"))
    return store


def lines(hits, rev=False):
    return [((h.rev,) if rev else ()) + (h.path, h.line, h.text) for h in hits]


def test_current_content(m, notes):
    assert lines(m.grep(notes, "kubectl")) == []  # deploy.md no longer says it; db.md says KUBECTL
    assert lines(m.grep(notes, "kubectl", ignore_case=True)) == [("/runbooks/db.md", 2, "KUBECTL is not needed here")]
    assert lines(m.grep(notes, r"watch the \w+")) == [("/runbooks/deploy.md", 3, "then watch the rollout")]
    assert lines(m.grep(notes, "pg_ctl", prefix="/people")) == []
    assert lines(m.grep(notes, "^alice", prefix="/people/oncall.md")) == [("/people/oncall.md", 1, "alice, bob")]
    h = m.grep(notes, "helm")[0]
    assert (h.agent, h.session, h.store) == ("b", "s-b", "team-sre")


def test_history_finds_each_version_once(m, notes):
    hits = m.grep(notes, "kubectl|helm", history=True)
    revs = [r.id for r in m.history(notes, "/runbooks/deploy.md")]  # newest first
    assert lines(hits, rev=True) == [(revs[1], "/runbooks/deploy.md", 2, "kubectl apply -f app.yaml"),
                                     (revs[0], "/runbooks/deploy.md", 2, "helm upgrade app ./chart")]
    # a rename is no new content: the moved file's lines are not reported twice
    m.rename(notes, "/runbooks/deploy.md", "/runbooks/ship.md")
    assert len(m.grep(notes, "watch the rollout", history=True)) == 2
    assert lines(m.grep(notes, "watch the rollout")) == [("/runbooks/ship.md", 3, "then watch the rollout")]


def test_fixed_strings_and_bad_patterns(m, notes):
    assert lines(m.grep(notes, "./chart", fixed=True)) == [("/runbooks/deploy.md", 2, "helm upgrade app ./chart")]
    assert lines(m.grep(notes, "a.p", fixed=True)) == []
    with pytest.raises(errors.InvalidInput, match="not a valid regular expression"):
        m.grep(notes, "(unclosed")
    with pytest.raises(errors.InvalidInput):
        m.grep(notes, "")


def test_index_and_scan_agree(m, store):
    rnd = random.Random(8)
    words = ["alpha", "beta", "gamma", "delta", "kubectl", "rollout", "Kelvin", "straße", "naïve", "x=1", "a.b"]
    for i in range(120):
        text = "\n".join(" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6))) for _ in range(rnd.randint(1, 8)))
        m.write(store, f"/d{i % 7}/f{i}.md", text.encode())
        if i % 5 == 0:
            m.write(store, f"/d{i % 7}/f{i}.md", (text + "\nedited gamma ray\n").encode())
    patterns = [("kubectl", {}), ("KUBECTL", {"ignore_case": True}), (r"gamma\s+ray", {}), (r"a\.b", {}),
                ("a.b", {"fixed": True}), ("kelvin", {"ignore_case": True}), ("STRASSE", {"ignore_case": True}),
                ("naïve delta", {}), (r"(alpha|beta) gamma", {}), (r"^delta", {}), (r"x=1$", {}),
                ("rollout", {"prefix": "/d3"}), ("(?i)ROLLOUT kubectl", {})]
    for pat, kw in patterns:
        for hist in (False, True):
            idx = m.grep(store, pat, history=hist, use_index=True, **kw)
            scan = m.grep(store, pat, history=hist, use_index=False, **kw)
            assert lines(idx, rev=True) == lines(scan, rev=True), (pat, kw, hist)
            assert lines(m.grep(store, pat, history=hist, **kw), rev=True) == lines(scan, rev=True)
            assert idx or pat in ("STRASSE",), (pat, kw, hist)


def test_index_follows_the_change_feed(m, store):
    m.write(store, "/a.md", b"first needle\n")
    assert len(m.grep(store, "needle")) == 1
    cursor = m.db.one("SELECT rev FROM search_cursor")[0]
    assert cursor == m.head()
    assert m.grep(store, "n..dle")  # no literal of 3 characters: scanned, the cursor does not move
    m.write(store, "/b.md", b"second needle\n")
    assert m.db.one("SELECT rev FROM search_cursor")[0] == cursor
    assert [h.path for h in m.grep(store, "needle")] == ["/a.md", "/b.md"]
    assert m.db.one("SELECT rev FROM search_cursor")[0] == m.head()
    # another process's writes are picked up too
    with Memfs(m.db.path, identity=Identity(agent="o", actor="agent")) as other:
        other.write(store.name, "/c.md", b"third needle\n")
    assert [h.path for h in m.grep(store, "needle")] == ["/a.md", "/b.md", "/c.md"]


def test_redaction_leaves_the_index(m, store):
    m.write(store, "/secrets.md", b"token: hunter2-qzxjvw\n")
    m.write(store, "/secrets.md", b"token: (removed)\n")
    assert len(m.grep(store, "hunter2", history=True)) == 1
    sha = m.history(store, "/secrets.md")[1].sha256
    m.redact_matching(store, "hunter2")
    assert m.grep(store, "hunter2", history=True) == []
    assert m.db.one("SELECT COUNT(*) FROM search_docs WHERE sha256 = ?", (sha,))[0] == 0
    assert m.db.all("SELECT rowid FROM search_fts WHERE search_fts MATCH '\"hunter2\"'") == []
    # vacuum leaves no trace of the redacted text in the file, the index's trigrams included
    m.vacuum()
    raw = open(m.db.path, "rb").read()
    assert not [t for t in (b"hunter2", b"qzx", b"zxj", b"xjv", b"jvw") if t in raw]
    # a new blob after the deletion is indexed (document ids are never reused)
    m.write(store, "/other.md", b"hunter2 again\n")
    assert [h.path for h in m.grep(store, "hunter2")] == ["/other.md"]


def test_database_from_before_the_index(db_path):
    """A store written before m007 gets its existing content indexed on the first search."""
    with Memfs(db_path, identity=Identity(agent="old", actor="agent")) as m:
        m.create_store("legacy")
        for i in range(30):
            m.write("legacy", f"/n{i}.md", f"note {i}: {'needle' if i % 10 == 3 else 'hay'}\n".encode())
        c = m.db.conn
        c.executescript("DROP TRIGGER search_blob_deleted; DROP TABLE search_fts; DROP TABLE search_docs;"
                        " DROP TABLE search_cursor; DELETE FROM _memfs_migrations WHERE name = 'm007_search_index';")
    with Memfs(db_path) as m:
        assert "m007_search_index" in m.db.migrations()
        assert [h.path for h in m.grep("legacy", "needle")] == ["/n13.md", "/n23.md", "/n3.md"]
        assert m.db.one("SELECT COUNT(*) FROM search_docs")[0] == 30


def test_cli_output(memfs_cli, m, notes):
    r = memfs_cli("grep", "team-sre", "rollout")
    assert r.exit_code == 0 and r.output == "/runbooks/deploy.md:3:then watch the rollout\n"
    revs = [x.id for x in m.history(notes, "/runbooks/deploy.md")]
    r = memfs_cli("grep", "team-sre", "kubectl|helm", "--history")
    assert r.output == (f"{revs[1]}:/runbooks/deploy.md:2:kubectl apply -f app.yaml\n"
                        f"{revs[0]}:/runbooks/deploy.md:2:helm upgrade app ./chart\n")
    r = memfs_cli("grep", "team-sre", "KUBECTL", "-i", "--path", "/runbooks", "--json")
    rows = json.loads(r.output)
    assert [(x["path"], x["line"], x["agent"]) for x in rows] == [("/runbooks/db.md", 2, "tester")]
    r = memfs_cli("grep", "team-sre", "no such words")
    assert r.exit_code == 1 and r.output == ""
    r = memfs_cli("grep", "team-sre", "(bad")
    assert r.exit_code == 2 and r.stderr.startswith("Error: not a valid regular expression")
    r = memfs_cli("grep", "nope", "x")
    assert r.exit_code == 3


def test_index_terms():
    from memfs.search import compile_search

    assert compile_search(r"foo(bar|baz)+qux\.py").terms == ["foo", "qux.py"]
    assert compile_search(r"(deploy)+\s+kubectl?").terms == ["deploy", "kubect"]
    assert compile_search("a.b|kubectl").terms == []  # a branch at the top: nothing is required
    assert compile_search("x*yz").terms == []  # too short for trigrams
    assert compile_search("(?i)rollback").terms == ["rollback"]
    assert compile_search("kelvin", ignore_case=True).terms == []  # k also matches the Kelvin sign
    assert compile_search('say "hi" (a.b', fixed=True).terms == ['say "hi" (a.b']


def test_selective_terms_use_the_index(m, store):
    for i in range(40):
        m.write(store, f"/f{i}.md", f"common words {i}\n{'rare-term' if i == 5 else ''}\n".encode())
    m.grep(store, "rare-term")
    q = m.db.one("SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH '\"rare-term\"'")[0]
    assert q == 1 and m.db.one("SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH '\"common\"'")[0] == 40
    assert [h.path for h in m.grep(store, "rare-term")] == ["/f5.md"]


def test_the_index_is_what_narrows(m, store):
    """Proof that searches with terms go through the index: content the index was made to skip
    (the cursor moved past it by hand) is found by a scan only."""
    m.write(store, "/a.md", b"indexed needle\n")
    m.grep(store, "needle")
    m.write(store, "/b.md", b"unindexed needle\n")
    with m.db.write() as tx:
        tx.run("UPDATE search_cursor SET rev = ?", (m.head(),))
    assert [h.path for h in m.grep(store, "needle", use_index=True)] == ["/a.md"]
    assert [h.path for h in m.grep(store, "needle", use_index=False)] == ["/a.md", "/b.md"]
    assert [h.path for h in m.grep(store, "n.edle")] == ["/a.md", "/b.md"]  # no term: scanned


def test_catch_up_in_batches(m, store, monkeypatch):
    import memfs.store.search as S

    monkeypatch.setattr(S, "SEARCH_BATCH", 7)
    for i in range(30):
        m.write(store, f"/n{i}.md", f"note {i} {'needle' if i % 9 == 0 else 'hay'}\n".encode())
    assert [h.path for h in m.grep(store, "needle")] == ["/n0.md", "/n18.md", "/n27.md", "/n9.md"]
    assert m.db.one("SELECT rev FROM search_cursor")[0] == m.head()
    assert m.db.one("SELECT COUNT(*) FROM search_docs")[0] == 30


def test_reindex_rebuilds_from_the_blobs(m, store, memfs_cli):
    m.write(store, "/a.md", b"indexed needle\n")
    m.grep(store, "needle")
    m.write(store, "/b.md", b"skipped needle\n")
    with m.db.write() as tx:  # an index that missed a blob (as after a bug): only a rebuild finds it
        tx.run("UPDATE search_cursor SET rev = ?", (m.head(),))
    assert [h.path for h in m.grep(store, "needle", use_index=True)] == ["/a.md"]
    r = memfs_cli("grep", "team-sre", "needle", "--reindex")
    assert r.exit_code == 0 and r.output == "/a.md:1:indexed needle\n/b.md:1:skipped needle\n"
    assert [h.path for h in m.grep(store, "needle", use_index=True)] == ["/a.md", "/b.md"]
    assert m.db.one("SELECT COUNT(*) FROM search_docs")[0] == 2
