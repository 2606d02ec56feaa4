"""Revisions and everything read from them: fields, the change feed, reads at a revision or a
time, trees across renames, history, log filters, diff, blame, revert."""

import time

import pytest

from memfs import Identity, Memfs, errors
from memfs.store import sha256


def _ident(agent, session, actor="agent"):
    return Identity(agent=agent, session=session, actor=actor)


# ---------------------------------------------------------------- revision fields and the feed


def test_every_revision_carries_its_fields(m, store):
    t0 = time.time()
    m.write(store, "/d/f", b"v1", message="hello")
    m.write(store, "/d/f", b"v2", identity=_ident("other", "s-2", "api"))
    m.chmod(store, "/d/f", 0o600)
    m.rename(store, "/d/f", "/d/g")
    m.mkdir(store, "/e")
    m.symlink(store, "/e/l", "../d/g")
    m.delete(store, "/e/l")
    m.rmdir(store, "/e")
    t1 = time.time()
    revs = m.log(store, newest_first=False)
    assert [r.op for r in revs] == ["mkdir", "mkdir", "create", "write", "chmod", "rename", "mkdir", "symlink",
                                    "delete", "rmdir"]
    for r in revs:
        assert r.store_id == store.id and r.store_name == store.name
        assert isinstance(r.path, str) and r.path.startswith("/")
        assert r.op and r.kind in ("file", "dir", "symlink")
        assert isinstance(r.size, int) and r.size >= 0
        assert t0 - 1 <= r.created_at <= t1 + 1
        assert r.actor in ("agent", "operator", "api", "dream")
        d = r.to_dict()
        for f in ("store_id", "path", "op", "sha256", "prev_sha256", "size", "created_at", "agent", "session",
                  "actor", "message"):
            assert f in d
    create, write = revs[2], revs[3]
    assert (create.sha256, create.prev_sha256, create.size) == (sha256(b"v1"), None, 2)
    assert (create.agent, create.session, create.actor, create.message) == ("tester", "s-test", "agent", "hello")
    assert (write.sha256, write.prev_sha256) == (sha256(b"v2"), sha256(b"v1"))
    assert (write.agent, write.session, write.actor, write.message) == ("other", "s-2", "api", None)
    assert revs[-2].prev_sha256 == sha256(b"../d/g") and revs[-2].sha256 is None


def test_revision_ids_are_global_and_monotonic(m):
    a, b = m.create_store("a"), m.create_store("b")
    ids = []
    for i in range(6):
        ids.append(m.write(a if i % 2 else b, f"/f{i}", f"{i}".encode()).revision.id)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert m.head() == ids[-1]
    assert m.store_head(a) == ids[-1] and m.store_head(b) == ids[-2]
    # the same numbering covers both stores: no two revisions share an id
    all_ids = [r.id for r in m.changes(0)]
    assert all_ids == sorted(set(all_ids))


def test_revision_lookup(m, store):
    w = m.write(store, "/f", b"x")
    assert m.revision(w.revision.id).to_dict() == w.revision.to_dict()
    with pytest.raises(errors.RevisionNotFound):
        m.revision(m.head() + 1000)


def test_change_feed_is_complete_and_ordered(m, db_path):
    s = m.create_store("feed")
    cursor = m.head()
    made = []
    for i in range(25):
        made.append(m.write(s, f"/f{i % 4}", f"v{i}".encode()).revision.id)
    made.append(m.rename(s, "/f0", "/g0").id)
    made.append(m.delete(s, "/f1").id)
    # another process's writes are in the same feed
    with Memfs(db_path, identity=_ident("elsewhere", "s-9")) as other:
        made.append(other.write("feed", "/other", b"o").revision.id)
    # read it back in small pages with a cursor
    seen = []
    while True:
        page = m.changes(after=cursor, limit=7)
        if not page:
            break
        assert [r.id for r in page] == sorted(r.id for r in page)
        seen += page
        cursor = page[-1].id
    ids = [r.id for r in seen]
    assert ids[-len(made):] == made
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert seen[-1].agent == "elsewhere"
    assert m.changes(after=m.head()) == []


# ---------------------------------------------------------------- reads in the past


def test_read_at_revision_and_time(m, store):
    revs, times = [], []
    for i in range(3):
        revs.append(m.write(store, "/f", f"version {i}\n".encode()).revision.id)
        times.append(time.time())
        time.sleep(0.02)
    for i, r in enumerate(revs):
        assert m.read(store, "/f", rev=r) == f"version {i}\n".encode()
        assert m.read(store, "/f", at=times[i]) == f"version {i}\n".encode()
    # a revision of something else, later, still shows the file as it was then
    other = m.write(store, "/other", b"o").revision.id
    assert m.read(store, "/f", rev=other) == b"version 2\n"
    # before the file existed
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/f", rev=revs[0] - 1)
    with pytest.raises(errors.RevisionNotFound):
        m.read(store, "/f", at=store.created_at - 3600)
    with pytest.raises(errors.InvalidInput):
        m.read(store, "/f", rev=revs[0], at=times[0])


def test_read_at_revision_after_delete(m, store):
    w = m.write(store, "/f", b"still here")
    d = m.delete(store, "/f")
    assert m.read(store, "/f", rev=w.revision.id) == b"still here"
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/f", rev=d.id)


def test_listdir_at_revision(m, store):
    m.write(store, "/d/a", b"a")
    m.write(store, "/d/b", b"b")
    r1 = m.head()
    m.delete(store, "/d/a")
    m.write(store, "/d/c", b"c")
    m.mkdir(store, "/d/sub")
    m.write(store, "/d/sub/deep", b"deep")
    assert [e.path for e in m.listdir(store, "/d", rev=r1)] == ["/d/a", "/d/b"]
    assert [e.path for e in m.listdir(store, "/d")] == ["/d/b", "/d/c", "/d/sub"]
    assert [e.path for e in m.listdir(store, "/d", rev=m.head())] == ["/d/b", "/d/c", "/d/sub"]
    e = {x.path: x for x in m.listdir(store, "/d", rev=r1)}
    assert e["/d/a"].sha256 == sha256(b"a") and e["/d/a"].kind == "file"
    with pytest.raises(errors.PathNotFound):
        m.listdir(store, "/d/sub", rev=r1)
    with pytest.raises(errors.NotADirectory):
        m.listdir(store, "/d/b", rev=r1)
    with pytest.raises(errors.NotADirectory):
        m.listdir(store, "/d/b")


def test_tree_at_revision_across_directory_rename(m, store):
    m.write(store, "/proj/notes.md", b"n1")
    m.write(store, "/proj/sub/todo.md", b"t1")
    before = m.head()
    old_tree = m.tree(store, before)
    m.rename(store, "/proj", "/archive")
    m.write(store, "/archive/notes.md", b"n2")
    after = m.head()
    assert sorted(old_tree) == ["/", "/proj", "/proj/notes.md", "/proj/sub", "/proj/sub/todo.md"]
    assert m.tree(store, before) == old_tree
    assert sorted(m.tree(store, after)) == ["/", "/archive", "/archive/notes.md", "/archive/sub",
                                            "/archive/sub/todo.md"]
    # same nodes under both names
    assert m.tree(store, after)["/archive/sub/todo.md"].node_id == old_tree["/proj/sub/todo.md"].node_id
    assert m.tree(store, after)["/archive/notes.md"].sha256 == sha256(b"n2")
    assert old_tree["/proj/notes.md"].sha256 == sha256(b"n1")
    # reading by the old path at the old revision, and by the new path now
    assert m.read(store, "/proj/sub/todo.md", rev=before) == b"t1"
    assert m.read(store, "/archive/sub/todo.md", rev=after) == b"t1"
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/archive/sub/todo.md", rev=before)
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/proj/notes.md", rev=after)
    # the current tree and the tree at head agree
    now = {p: (e.node_id, e.sha256) for p, e in m.tree(store).items()}
    at_head = {p: (e.node_id, e.sha256) for p, e in m.tree(store, m.head()).items()}
    assert now == at_head


def test_tree_of_one_store_ignores_the_others(m):
    a, b = m.create_store("a"), m.create_store("b")
    m.write(a, "/only-a", b"a")
    m.write(b, "/only-b", b"b")
    assert sorted(m.tree(a, m.head())) == ["/", "/only-a"]
    assert sorted(m.tree(b, m.head())) == ["/", "/only-b"]


# ---------------------------------------------------------------- history and log


def test_history_follows_renames(m, store):
    c = m.write(store, "/a.md", b"1").revision
    w = m.write(store, "/a.md", b"2").revision
    r = m.rename(store, "/a.md", "/b.md")
    w2 = m.write(store, "/b.md", b"3").revision
    m.write(store, "/unrelated", b"x")
    hist = m.history(store, "/b.md")
    assert [h.id for h in hist] == [w2.id, r.id, w.id, c.id]
    assert [h.path for h in hist] == ["/b.md", "/b.md", "/a.md", "/a.md"]
    # a path that no longer exists still has its history (its last node)
    m.delete(store, "/b.md")
    assert [h.op for h in m.history(store, "/b.md")] == ["delete", "write", "rename", "write", "create"]
    with pytest.raises(errors.PathNotFound):
        m.history(store, "/never")


def test_history_of_a_file_inside_a_renamed_directory(m, store):
    c = m.write(store, "/d/f", b"1").revision
    m.rename(store, "/d", "/e")
    w = m.write(store, "/e/f", b"2").revision
    assert [h.id for h in m.history(store, "/e/f")] == [w.id, c.id]


def test_log_filters(m, store, db_path):
    m.write(store, "/notes/a", b"1", identity=_ident("alice", "s-a"))
    m.write(store, "/notes/b", b"1", identity=_ident("bob", "s-b"))
    m.write(store, "/notes-other", b"1", identity=_ident("alice", "s-a2"))
    time.sleep(0.05)
    cut = time.time()
    time.sleep(0.05)
    m.write(store, "/notes/a", b"2", identity=_ident("bob", "s-b"))
    m.write(store, "/top", b"1", identity=_ident("alice", "s-a"))
    other = m.create_store("other")
    m.write(other, "/notes/a", b"elsewhere", identity=_ident("alice", "s-a"))

    def paths(revs):
        return [(r.path, r.agent) for r in revs]

    # alice's first write also created /notes, in her name
    assert paths(m.log(store, agent="alice")) == [("/top", "alice"), ("/notes-other", "alice"), ("/notes/a", "alice"),
                                                  ("/notes", "alice")]
    assert {r.session for r in m.log(store, session="s-b")} == {"s-b"}
    assert len(m.log(store, session="s-b")) == 2
    assert paths(m.log(store, since=cut)) == [("/top", "alice"), ("/notes/a", "bob")]
    assert all(r.created_at < cut for r in m.log(store, until=cut))
    # a path prefix matches the path and what is under it, not look-alike names
    got = m.log(store, "/notes")
    assert {r.path for r in got} == {"/notes", "/notes/a", "/notes/b"}
    assert paths(m.log(store, "/notes", agent="bob", since=cut)) == [("/notes/a", "bob")]
    assert [r.op for r in m.log(store, ops=["mkdir"])] == ["mkdir", "mkdir"]
    assert len(m.log(store, limit=2)) == 2
    # without a store: every store
    assert {r.store_name for r in m.log(agent="alice")} == {"team-sre", "other"}
    assert m.log(store, newest_first=False)[0].id < m.log(store)[0].id


def test_log_by_path_finds_renames_from_it(m, store):
    m.write(store, "/old", b"x")
    r = m.rename(store, "/old", "/new")
    assert r.id in [x.id for x in m.log(store, "/old")]


# ---------------------------------------------------------------- diff and blame


def test_diff_between_revisions(m, store):
    r1 = m.write(store, "/f.md", b"alpha\nbeta\ngamma\n").revision.id
    r2 = m.write(store, "/f.md", b"alpha\nBETA\ngamma\n").revision.id
    r3 = m.write(store, "/f.md", b"alpha\nBETA\ngamma\ndelta\n").revision.id
    d12 = m.diff(store, "/f.md", r1, r2)
    assert "-beta\n" in d12 and "+BETA\n" in d12 and "delta" not in d12
    assert d12.startswith(f"--- a/f.md@{r1}\n+++ b/f.md@{r2}\n")
    # default: the last change
    last = m.diff(store, "/f.md")
    assert "+delta\n" in last and "BETA" not in [l[1:] for l in last.splitlines() if l[:1] in "+-" and l[:3] not in ("---", "+++")]
    # since a revision, up to now
    since1 = m.diff(store, "/f.md", r1)
    assert "-beta\n" in since1 and "+delta\n" in since1
    # same revision: nothing
    assert m.diff(store, "/f.md", r3, r3) == ""
    # creation: against nothing
    created = m.diff(store, "/f.md", 0, r1)
    assert created.startswith("--- /dev/null\n") and "+alpha\n" in created


def test_diff_follows_renames_and_deletes(m, store):
    r1 = m.write(store, "/a", b"one\n").revision.id
    m.rename(store, "/a", "/b")
    m.write(store, "/b", b"two\n")
    d = m.diff(store, "/b", r1)
    assert "-one\n" in d and "+two\n" in d
    m.delete(store, "/b")
    gone = m.diff(store, "/b", r1)
    assert "-one\n" in gone and "+++ /dev/null" in gone


def test_diff_store(m, store):
    base = m.write(store, "/keep", b"k\n").revision.id
    m.write(store, "/gone", b"g\n")
    base = m.head()
    m.write(store, "/keep", b"k2\n")
    m.delete(store, "/gone")
    m.write(store, "/new", b"n\n")
    d = m.diff_store(store, base)
    assert "-k\n" in d and "+k2\n" in d and "-g\n" in d and "+n\n" in d
    assert m.diff_store(store, m.head(), m.head()) == ""


def test_blame(m, store):
    r1 = m.write(store, "/f", b"a\nb\nc\n", identity=_ident("alice", "s1")).revision
    r2 = m.write(store, "/f", b"a\nB\nc\n", identity=_ident("bob", "s2")).revision
    m.rename(store, "/f", "/g")
    r3 = m.write(store, "/g", b"a\nB\nc\nd\n", identity=_ident("carol", "s3")).revision
    got = [(r.id, r.agent, line) for r, line in m.blame(store, "/g")]
    assert got == [(r1.id, "alice", "a"), (r2.id, "bob", "B"), (r1.id, "alice", "c"), (r3.id, "carol", "d")]


# ---------------------------------------------------------------- revert


def test_revert_a_path(m, store):
    v1 = m.write(store, "/f", b"good\n").revision
    m.write(store, "/f", b"bad\n")
    m.write(store, "/other", b"untouched\n")
    history_before = [r.to_dict() for r in m.log(store)]
    out = m.revert(store, v1.id, "/f")
    assert len(out) == 1 and out[0].op == "write" and out[0].id > v1.id
    assert out[0].message == f"revert to revision {v1.id}"
    assert m.read(store, "/f") == b"good\n"
    assert m.read(store, "/other") == b"untouched\n"
    # old revisions are intact; the revert only added
    assert [r.to_dict() for r in m.log(store)][len(out):] == history_before
    # reverting again changes nothing
    assert m.revert(store, v1.id, "/f") == []


def test_revert_a_deleted_path_brings_it_back(m, store):
    v1 = m.write(store, "/f", b"back\n").revision
    m.delete(store, "/f")
    out = m.revert(store, v1.id, "/f")
    assert [r.op for r in out] == ["create"] and m.read(store, "/f") == b"back\n"


def test_revert_whole_store(m, store):
    m.write(store, "/keep", b"k1\n")
    m.write(store, "/proj/a", b"a1\n")
    m.chmod(store, "/keep", 0o600)
    base = m.head()
    base_tree = {p: (e.kind, e.sha256, e.mode) for p, e in m.tree(store, base).items()}
    old_log = [r.to_dict() for r in m.log(store)]
    m.write(store, "/keep", b"k2\n")
    m.chmod(store, "/keep", 0o644)
    m.rename(store, "/proj", "/moved")
    m.write(store, "/added", b"x\n")
    m.write(store, "/moved/new", b"n\n")
    m.mkdir(store, "/newdir")
    dry = m.revert(store, base, dry_run=True)
    head = m.head()
    assert dry and m.head() == head  # a dry run writes nothing
    out = m.revert(store, base)
    assert out and all(r.id > head for r in out)
    assert {p: (e.kind, e.sha256, e.mode) for p, e in m.tree(store).items()} == base_tree
    assert [r.to_dict() for r in m.log(store)][-len(old_log):] == old_log
    assert m.doctor().ok
    # the revert itself can be reverted: history is a straight line
    out2 = m.revert(store, head)
    assert "/added" in m.tree(store) and m.read(store, "/keep") == b"k2\n"
    assert all(r.id > out[-1].id for r in out2)


def test_revert_to_unknown_revision(m, store, unchanged):
    m.write(store, "/f", b"x")
    with unchanged():
        with pytest.raises(errors.RevisionNotFound):
            m.revert(store, m.head() + 100)


def test_revert_a_symlink_that_points_elsewhere_now(m, store):
    m.write(store, "/a", b"a")
    m.write(store, "/b", b"b")
    m.symlink(store, "/link", "a")
    base = m.head()
    m.delete(store, "/link")
    m.symlink(store, "/link", "b")
    out = m.revert(store, base, "/link")
    assert [r.op for r in out] == ["delete", "symlink"]
    assert m.read(store, "/link") == b"a"
    m.delete(store, "/link")
    m.symlink(store, "/link", "b")
    m.revert(store, base)
    assert m.read(store, "/link") == b"a" and m.doctor().ok


def test_blame_of_a_directory_is_refused(m, store):
    m.write(store, "/d/f", b"x\n")
    with pytest.raises(errors.IsADirectory):
        m.blame(store, "/d")
    with pytest.raises(errors.PathNotFound):
        m.blame(store, "/never")


def test_diff_store_of_a_subtree(m, store):
    m.write(store, "/d/a", b"a\n")
    m.write(store, "/dx", b"look-alike\n")
    m.write(store, "/other", b"o\n")
    base = m.head()
    m.write(store, "/d/a", b"a2\n")
    m.write(store, "/d/new", b"n\n")
    m.write(store, "/dx", b"look-alike 2\n")
    m.write(store, "/other", b"o2\n")
    sub = m.diff_store(store, base, path="/d")
    assert "+a2\n" in sub and "+n\n" in sub
    assert "o2" not in sub and "look-alike" not in sub
    whole = m.diff_store(store, base)
    assert "+o2\n" in whole and "+look-alike 2\n" in whole and "+a2\n" in whole


def test_revert_that_cannot_complete_changes_nothing(m, store, unchanged):
    m.write(store, "/big", b"x" * 50)
    base = m.head()
    m.delete(store, "/big")
    m.write(store, "/added", b"y")
    m.update_store(store, max_content_bytes=10)  # the old version no longer fits
    with unchanged():
        with pytest.raises(errors.ContentTooLarge):
            m.revert(store, base)
    assert m.read(store, "/added") == b"y"


def test_revert_is_all_or_nothing(m, store):
    """A revert whose last step fails leaves no partial change behind (one transaction)."""
    m.write(store, "/a", b"a1")
    m.write(store, "/b", b"b1")
    base = m.head()
    m.write(store, "/a", b"a2")
    m.write(store, "/b", b"b2")
    m.write(store, "/c", b"c2")
    # the plan first deletes /c, then writes a1 and b1 back; a limit of 1 byte makes those fail
    m.update_store(store, max_content_bytes=1)
    before = (m.head(), m.read(store, "/a"), m.read(store, "/b"), m.read(store, "/c"))
    with pytest.raises(errors.ContentTooLarge):
        m.revert(store, base)
    assert (m.head(), m.read(store, "/a"), m.read(store, "/b"), m.read(store, "/c")) == before
