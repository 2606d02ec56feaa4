"""Branches through the store API, on both backends: creation (now, at a past revision or time),
isolation from the store, the three-way merge (one-sided, disjoint, conflict, delete/edit,
rename), a merge racing a concurrent write, bad input changing nothing."""

import time

import pytest

from memfs import Identity, Memfs, errors
from memfs.store import MergeConflicts


def files(m, ref):
    return {p: m.read(ref, p) for p, e in m.tree(ref).items() if e.kind == "file"}


@pytest.fixture
def sre(m, store):
    m.write(store, "/runbooks/db.md", b"1\n2\n3\n4\n5\n")
    m.write(store, "/notes.md", b"notes\n")
    m.write(store, "/old.md", b"old\n")
    return store


def test_branch_from_now_is_a_copy_with_new_ids_and_shared_blobs(m, sre):
    b = m.create_branch(sre, "try-1")
    assert b.ref == "team-sre@try-1" and b.status == "open" and b.base_rev == m.store_head(sre)
    assert files(m, b.ref) == files(m, sre)
    mine = {e.node_id for e in m.tree(b.store).values()}
    assert not mine & {e.node_id for e in m.tree(sre).values()}
    assert m.doctor().ok
    # hidden from the store list, found by name, listed as a branch
    assert [s.name for s in m.list_stores()] == ["team-sre"]
    assert m.get_store("team-sre@try-1").id == b.store.id
    assert [x.name for x in m.branches("team-sre")] == ["try-1"]


def test_branch_from_a_past_revision_and_time(m, sre):
    rev = m.store_head(sre)
    when = time.time()
    time.sleep(0.01)
    m.write(sre, "/notes.md", b"later\n")
    m.rename(sre, "/runbooks", "/books")
    old = m.create_branch(sre, "then", rev=rev)
    assert files(m, old.store) == {"/runbooks/db.md": b"1\n2\n3\n4\n5\n", "/notes.md": b"notes\n", "/old.md": b"old\n"}
    by_time = m.create_branch(sre, "by-time", at=when)
    assert files(m, by_time.store) == files(m, old.store)
    # the renamed directory's file appears under its path of the time
    assert "/books/db.md" in files(m, m.create_branch(sre, "now").store)


def test_branch_writes_leave_the_store_unchanged(m, sre):
    before, head = files(m, sre), m.store_head(sre)
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/notes.md", b"branch\n")
    m.delete(b.store, "/old.md")
    m.rename(b.store, "/runbooks/db.md", "/db.md")
    assert files(m, sre) == before and m.store_head(sre) == head
    # its own history, attributed like any other
    r = m.log(b.store, limit=1)[0]
    assert (r.op, r.agent, r.store_name) == ("rename", "tester", "team-sre@try-1")


def test_merge_one_sided_disjoint_rename_delete(m, sre, db_path):
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/runbooks/db.md", b"1\n2\n3\n4\n5\nbranch\n")  # both sides, disjoint
    m.write(sre, "/runbooks/db.md", b"store\n1\n2\n3\n4\n5\n")
    m.rename(b.store, "/notes.md", "/renamed.md")  # renamed on the branch, edited in the store
    m.write(sre, "/notes.md", b"notes, edited\n")
    m.delete(b.store, "/old.md")  # one side: deleted
    m.write(b.store, "/new/fresh.md", b"fresh\n")  # one side: new
    merger = Memfs(db_path, identity=Identity(agent="reviewer", actor="operator"))
    try:
        rep = merger.merge_branch("team-sre@try-1")
    finally:
        merger.close()
    by = {f.path: f.status for f in rep.files}
    assert by == {"/runbooks/db.md": "merged", "/renamed.md": "taken", "/old.md": "taken", "/new": "taken",
                  "/new/fresh.md": "taken"}
    assert files(m, sre) == {"/runbooks/db.md": b"store\n1\n2\n3\n4\n5\nbranch\n", "/renamed.md": b"notes, edited\n",
                             "/new/fresh.md": b"fresh\n"}
    revs = [m.revision(r) for r in rep.revisions]
    assert {r.agent for r in revs} == {"reviewer"} and all(r.message.startswith("merge team-sre@try-1") for r in revs)
    # each revision names the branch revision it brings in
    pointed = dict(m.db.all("SELECT id, merged_from FROM revisions WHERE id IN (%s)" % ",".join(map(str, rep.revisions))))
    fresh = [r for r in revs if r.path == "/new/fresh.md"][0]
    brev = m.revision(pointed[fresh.id])
    assert (brev.store_name, brev.path, brev.op) == ("team-sre@try-1", "/new/fresh.md", "create")
    assert m.branch("team-sre@try-1").status == "merged"
    with pytest.raises(errors.ReadOnly):
        m.write(b.store, "/x", b"closed\n")
    assert m.doctor().ok


def test_conflict_applies_nothing_until_settled(m, sre, unchanged):
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/notes.md", b"branch\n")
    m.write(sre, "/notes.md", b"store\n")
    m.write(b.store, "/runbooks/db.md", b"1\n2\n3\n4\n5\n6\n")  # clean
    m.delete(b.store, "/old.md")  # deleted on the branch, edited in the store: conflict
    m.write(sre, "/old.md", b"old, edited\n")
    with unchanged():
        with pytest.raises(MergeConflicts) as e:
            m.merge_branch(b.ref)
        rep = m.merge_branch(b.ref, dry_run=True)
    assert {f.path for f in e.value.report.conflicts} == {"/notes.md", "/old.md"}
    assert {f.path: f.status for f in rep.files}["/runbooks/db.md"] == "taken"
    rep = m.merge_branch(b.ref, resolve={"/notes.md": "theirs"}, take="ours")
    assert {f.path: f.status for f in rep.files} == {"/notes.md": "theirs", "/old.md": "ours",
                                                     "/runbooks/db.md": "taken"}
    assert files(m, sre) == {"/notes.md": b"branch\n", "/old.md": b"old, edited\n",
                             "/runbooks/db.md": b"1\n2\n3\n4\n5\n6\n"}


def test_clean_only_then_merge_again_from_the_merged_base(m, sre):
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/notes.md", b"branch\n")
    m.write(sre, "/notes.md", b"store\n")
    m.write(b.store, "/runbooks/db.md", b"1\n2\n3\n4\n5\nb1\n")
    rep = m.merge_branch(b.ref, clean_only=True)
    assert [f.path for f in rep.conflicts] == ["/notes.md"] and m.branch(b.ref).status == "open"
    assert m.read(sre, "/runbooks/db.md") == b"1\n2\n3\n4\n5\nb1\n"
    # the store edits the merged file, the branch goes on: the next merge starts from what was merged
    m.write(sre, "/runbooks/db.md", b"s\n1\n2\n3\n4\n5\nb1\n")
    m.write(b.store, "/runbooks/db.md", b"1\n2\n3\n4\n5\nb1\nb2\n")
    m.write(b.store, "/notes.md", b"store\n")  # the branch settles the conflict itself
    m.merge_branch(b.ref)
    assert files(m, sre)["/runbooks/db.md"] == b"s\n1\n2\n3\n4\n5\nb1\nb2\n"
    assert files(m, sre)["/notes.md"] == b"store\n"


def test_merge_racing_a_concurrent_write_loses_nothing(m, sre, db_path):
    """A write lands on the store after the merge was computed: the merge computes again and
    keeps both sides (never overwrites)."""
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/runbooks/db.md", b"1\n2\n3\n4\n5\nbranch\n")
    other = Memfs(db_path, identity=Identity(agent="racer", actor="agent"))
    real, fired = m._merge_hooks, []

    def hooks_then_race(*a, **kw):
        out = real(*a, **kw)
        if not fired:  # between the plan and the transaction, another process writes
            fired.append(other.write("team-sre", "/runbooks/db.md", b"racer\n1\n2\n3\n4\n5\n"))
        return out

    m._merge_hooks = hooks_then_race
    try:
        rep = m.merge_branch(b.ref)
    finally:
        other.close()
    assert fired and rep.attempts == 2
    assert m.read(sre, "/runbooks/db.md") == b"racer\n1\n2\n3\n4\n5\nbranch\n"


def test_merge_racing_a_conflicting_write_refuses(m, sre, db_path, unchanged):
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/notes.md", b"branch\n")
    other = Memfs(db_path, identity=Identity(agent="racer", actor="agent"))
    real = m._merge_hooks

    def race(*a, **kw):
        out = real(*a, **kw)
        other.write("team-sre", "/notes.md", b"racer\n")
        return out

    m._merge_hooks = race
    try:
        with pytest.raises(MergeConflicts):
            m.merge_branch(b.ref)
    finally:
        other.close()
    assert m.read(sre, "/notes.md") == b"racer\n" and m.branch(b.ref).status == "open"


def test_bad_input_changes_nothing(m, sre, unchanged):
    m.create_branch(sre, "try-1")
    gone = m.create_branch(sre, "gone")
    m.discard_branch(gone.ref)
    with unchanged():
        with pytest.raises(errors.NotFound, match="no branch 'nope'"):
            m.branch("team-sre@nope")
        with pytest.raises(errors.AlreadyExists, match="already has a branch named 'try-1'"):
            m.create_branch(sre, "try-1")
        with pytest.raises(errors.InvalidInput, match="discarded"):
            m.merge_branch("team-sre@gone")
        with pytest.raises(errors.RevisionNotFound, match="did not exist"):
            m.create_branch(sre, "early", rev=0)
        with pytest.raises(errors.RevisionNotFound, match="did not exist"):
            m.create_branch(sre, "early", at=sre.created_at - 3600)
        with pytest.raises(errors.InvalidName):
            m.create_branch(sre, "bad name/")
        with pytest.raises(errors.StoreNotFound):
            m.create_branch("nope", "x")
    assert m.branch("team-sre@gone").status == "discarded"


def test_snapshot_is_read_only_and_dropped(m, sre):
    s = m.create_branch(sre, "", snapshot=True)
    assert s.status == "snapshot" and s.store.archived
    with pytest.raises(errors.ReadOnly):
        m.write(s.store, "/notes.md", b"no\n")
    assert m.branches(sre) == [] and len(m.branches(sre, include_snapshots=True)) == 1
    m.drop_branch(s.store)
    assert m.branches(sre, include_snapshots=True) == [] and files(m, sre)["/notes.md"] == b"notes\n"
    assert m.doctor().ok


def test_hooks_follow_the_branch(m, sre):
    m.add_hook(sre, "cat >/dev/null; echo '{\"decision\": \"refuse\", \"reason\": \"no\"}'")
    b = m.create_branch(sre, "try-1")
    with pytest.raises(errors.HookRefused):
        m.write(b.store, "/x.md", b"x\n")


def test_merge_while_another_process_keeps_appending_loses_nothing(m, sre, db_path):
    """A real race: a writer thread with its own connection appends to the file the branch
    changed (at its other end) while the merge runs; every appended line and the branch's edit
    end up in the store."""
    import threading

    m.write(sre, "/log.md", b"header\nbody\n")
    b = m.create_branch(sre, "try-1")
    m.write(b.store, "/log.md", b"header, edited on the branch\nbody\n")
    m.write(b.store, "/notes.md", b"notes from the branch\n")
    started, done = threading.Event(), []

    def racer():
        with Memfs(db_path, identity=Identity(agent="racer", actor="agent")) as w:
            for i in range(40):
                w.append("team-sre", "/log.md", f"line {i}\n".encode())
                started.set()
                time.sleep(0.002)
        done.append(True)

    t = threading.Thread(target=racer)
    t.start()
    started.wait(10)
    for _ in range(20):
        try:
            rep = m.merge_branch(b.ref)
            break
        except errors.PreconditionFailed as e:
            assert not isinstance(e, MergeConflicts)
    t.join(30)
    assert done and rep.applied
    text = m.read(sre, "/log.md").decode()
    assert text.startswith("header, edited on the branch\nbody\n")
    assert text.splitlines()[2:] == [f"line {i}" for i in range(40)]
    assert m.read(sre, "/notes.md") == b"notes from the branch\n"
