"""Branches and the rest of the store, on both backends: redaction reaches a store's branches
(open, merged, discarded, time-travel copies) and the blob goes; renaming a store renames its
branches in one transaction; a merge's revisions name the branch revision they brought in;
time-travel copies whose mount is gone are found and removed; replication leaves branches out."""

import socket
import subprocess
import sys

import pytest

from memfs import Identity, Memfs, errors

SECRET = b"key AKIA-SECRET-1234"


def blob_exists(m, sha) -> bool:
    return m.db.one("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)) is not None


def refs(m, sha) -> int:
    """How many rows anywhere still name this content."""
    return sum(m.db.one(q, (sha,) * q.count("?"))[0] for q in (
        "SELECT COUNT(*) FROM revisions WHERE sha256 = ? OR prev_sha256 = ?",
        "SELECT COUNT(*) FROM nodes WHERE sha256 = ?", "SELECT COUNT(*) FROM conflicts WHERE sha256 = ?"))


@pytest.fixture
def leaky(m, store):
    """SECRET written to the store, then copied into an open branch (which renames the file), a
    discarded branch and a time-travel copy; overwritten everywhere but in the time-travel copy."""
    w = m.write(store, "/notes.md", SECRET + b"\n").revision
    m.write(store, "/other.md", b"nothing to hide\n")
    b = m.create_branch(store, "try-1")
    d = m.create_branch(store, "old")
    snap = m.create_branch(store, "", snapshot=True)
    m.write(store, "/notes.md", b"clean\n")
    m.rename(b.store, "/notes.md", "/n.md")  # the rename revision carries the content too
    m.write(b.store, "/n.md", b"clean on the branch\n")
    m.write(d.store, "/notes.md", b"clean on the old branch\n")
    m.discard_branch(d.store)
    return {"w": w, "b": b, "d": d, "snap": snap}


def test_redacting_a_store_revision_blanks_its_copies_in_branches(m, store, leaky, unchanged):
    w, b, d, snap = leaky["w"], leaky["b"], leaky["d"], leaky["snap"]
    copies = m.redaction_copies(w.id)
    assert sorted((c.store_name, c.op, c.path) for c in copies) == sorted([
        (snap.ref, "create", "/notes.md"), ("team-sre@old", "create", "/notes.md"),
        ("team-sre@try-1", "create", "/notes.md"), ("team-sre@try-1", "rename", "/n.md")])
    # the time-travel copy still shows it: nothing is redacted, and the error says where and how
    with unchanged():
        with pytest.raises(errors.CurrentVersion) as e:
            m.redact(w.id)
    assert f"{snap.ref}:/notes.md" in e.value.message and "unmount it" in e.value.message
    assert "nothing was redacted" in e.value.message
    m.drop_branch(snap.store)
    r = m.redact(w.id, identity=Identity(agent="dpo", actor="operator"))
    assert r.redacted_at is not None and r.sha256 is None
    # the branches' history shows their copies redacted, by the same hand; the live files are whole
    for ref, path in ((b.ref, "/n.md"), (d.ref, "/notes.md")):
        hist = m.history(ref, path)
        old = [x for x in hist if x.redacted_at is not None]
        assert old and all(x.sha256 is None and '"dpo"' in x.redacted_by for x in old)
        assert [x.op for x in old] == (["rename", "create"] if ref == b.ref else ["create"])
    assert m.read(b.store, "/n.md") == b"clean on the branch\n"
    assert m.read(d.store, "/notes.md") == b"clean on the old branch\n"
    # the content is gone from the database: no row names it, its blob is deleted
    assert refs(m, w.sha256) == 0 and not blob_exists(m, w.sha256)
    assert m.redaction_copies(w.id) == [] and m.redact(w.id).redacted_at == r.redacted_at  # again: harmless
    assert m.doctor().ok, m.doctor().problems


def test_an_open_branch_showing_the_content_refuses_the_redaction(m, store, unchanged):
    w = m.write(store, "/a.md", SECRET).revision
    b = m.create_branch(store, "try-1")
    m.write(store, "/a.md", b"clean")
    with unchanged():
        with pytest.raises(errors.CurrentVersion) as e:
            m.redact(w.id)
    assert "team-sre@try-1:/a.md" in e.value.message and "change or delete the file in team-sre@try-1" in e.value.message
    m.delete(b.store, "/a.md")  # a deleted file shows nothing
    m.redact(w.id)
    assert not blob_exists(m, w.sha256) and refs(m, w.sha256) == 0
    # a branch's own revision: its store and the store's branches, not the store it came from
    w2 = m.write(store, "/c.md", b"in both").revision
    b2 = m.create_branch(store, "try-2")
    m.write(b2.store, "/c.md", b"changed on the branch")
    copy = m.history(b2.store, "/c.md")[-1]
    m.redact(copy.id)
    assert m.read(store, "/c.md") == b"in both" and m.revision(w2.id).redacted_at is None


def test_redacting_a_merge_blanks_the_branch_version_it_brought_in(m, store):
    b = m.create_branch(store, "try-1")
    m.write(b.store, "/new.md", SECRET)  # new on the branch
    m.merge_branch(b.ref)
    merged = m.history(store, "/new.md")[0]
    assert merged.merged_from is not None
    m.write(store, "/new.md", b"clean")
    # the merged branch still shows it, and it is read-only: the fix is to delete the branch
    with pytest.raises(errors.CurrentVersion) as e:
        m.redact(merged.id)
    assert "team-sre@try-1 is merged (read-only): delete it with memfs store rm 'team-sre@try-1'" in e.value.message
    m.delete_store(b.store)
    m.redact(merged.id)
    assert not blob_exists(m, merged.sha256)


def test_pattern_redaction_covers_every_branch(m, store, leaky):
    w, b, snap = leaky["w"], leaky["b"], leaky["snap"]
    m.record_conflict(b.store, "/n.md", SECRET + b" (refused)", base_sha256=None, reason="stale")
    bb = m.create_branch(b.store, "deeper")  # a branch of the branch: it has /n.md clean, and...
    m.write(bb.store, "/deep.md", b"deep " + SECRET)
    m.write(bb.store, "/deep.md", b"deep, clean")
    dry = m.redact_matching(store, "AKIA-SECRET", dry_run=True)
    assert dry.stores == ["team-sre", "team-sre@try-1", "team-sre@old", snap.ref, "team-sre@try-1@deeper"]
    rep = m.redact_matching(store, "AKIA-SECRET")
    assert rep.redacted == dry.redacted and rep.current == dry.current
    # what the time-travel copy shows is left alone, and named by where it is
    assert [(m.revision(r).store_name, m.revision(r).path) for r in rep.current] == [(snap.ref, "/notes.md")]
    assert {m.revision(r).store_name for r in rep.redacted} == {"team-sre", "team-sre@try-1", "team-sre@old",
                                                                 "team-sre@try-1@deeper"}
    assert rep.conflicts_blanked == 1 and m.conflicts(b.store)[0].sha256 is None
    assert rep.blobs_removed == 2  # the deep file's and the refused write's
    assert blob_exists(m, w.sha256)  # the copy still shows it
    m.drop_branch(snap.store)  # (its mount ends): nothing else names the content, and it goes with it
    assert not blob_exists(m, w.sha256) and refs(m, w.sha256) == 0
    assert m.db.one("SELECT COUNT(*) FROM blobs WHERE sha256 IN (SELECT sha256 FROM revisions WHERE path ="
                    " '/deep.md' AND redacted_at IS NULL)")[0] == 1  # the clean version stays
    assert m.redact_matching(store, "AKIA").redacted == [] and m.doctor().ok


def test_renaming_a_store_renames_its_branches(m, store, unchanged):
    m.write(store, "/a.md", b"a")
    b = m.create_branch(store, "try-1")
    m.create_branch(b.store, "deeper")
    gone = m.create_branch(store, "gone")
    m.discard_branch(gone.store)  # closed (read-only): renamed all the same
    m.update_store(store, name="sre")
    assert sorted(s.name for s in m.list_stores(include_branches=True)) == [
        "sre", "sre@gone", "sre@try-1", "sre@try-1@deeper"]
    assert [x.ref for x in m.branches("sre")] == ["sre@try-1", "sre@gone"]
    assert m.branch("sre@try-1@deeper").parent.name == "sre@try-1"
    assert m.read("sre@try-1", "/a.md") == b"a"
    # a name a branch would take is held: nothing is renamed
    m.create_store("ops@try-1")
    with unchanged():
        with pytest.raises(errors.AlreadyExists) as e:
            m.update_store("sre", name="ops")
    assert "'ops@try-1'" in e.value.message and "renames its branches too" in e.value.message
    # a branch is renamed within its store only (its name says where it merges)
    m.update_store("sre@try-1", name="sre@try-2")
    assert m.branch("sre", "try-2").ref == "sre@try-2" and m.get_store("sre@try-2@deeper")
    m.create_branch("sre", "taken")
    with unchanged():
        for bad in ("other", "sre@bad name", "ops@try-2"):
            with pytest.raises(errors.InvalidName):
                m.update_store("sre@try-2", name=bad)
        with pytest.raises(errors.AlreadyExists):
            m.update_store("sre@try-2", name="sre@taken")
    assert m.doctor().ok


def test_a_merge_names_the_branch_revision_it_brought_in(m, store):
    m.write(store, "/a.md", b"1\n")
    b = m.create_branch(store, "try-1")
    src = m.write(b.store, "/a.md", b"2\n").revision
    m.merge_branch(b.ref)
    r = m.log(store, limit=1)[0]
    assert (r.merged_from, r.merged_from_store) == (src.id, "team-sre@try-1")
    assert m.revision(r.id).to_dict()["merged_from"] == src.id
    assert m.history(store, "/a.md")[0].merged_from_store == "team-sre@try-1"
    assert m.log(store)[-1].merged_from is None


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_time_travel_copies_whose_mount_is_gone(m, store):
    m.write(store, "/a.md", b"a")
    fresh = m.create_branch(store, "", snapshot=True)  # its mount is starting: no session yet
    held = m.create_branch(store, "", snapshot=True)
    killed = m.create_branch(store, "", snapshot=True)
    ended = m.create_branch(store, "", snapshot=True)
    elsewhere = m.create_branch(store, "", snapshot=True)
    m.open_session(kind="mount", stores={held.ref: "ro"})  # this process: alive
    dead = m.open_session(kind="mount", stores={killed.ref: "ro"}, pid=dead_pid())
    m.close_session(m.open_session(kind="mount", stores={ended.ref: "ro"}).id)
    with m.db.write() as tx:  # a mount on another host: its process cannot be checked from here
        tx.run("UPDATE sessions SET host = ? WHERE id = ?",
               (socket.gethostname() + "-other", m.open_session(kind="mount", stores={elsewhere.ref: "ro"},
                                                                pid=dead_pid()).id))
    assert {b.ref for b in m.stale_snapshots()} == {killed.ref, ended.ref}
    rep = m.doctor(read_data=False)
    assert sorted(p["store"] for p in rep.problems if p["type"] == "stale_snapshot") == sorted([killed.ref, ended.ref])
    assert "memfs doctor --fix removes it" in rep.problems[0]["message"]
    assert {b.ref for b in m.stale_snapshots(grace=0)} == {killed.ref, ended.ref, fresh.ref}
    # renaming the store renames the copies; they stay tied to their sessions
    m.update_store(store, name="sre")
    dropped = m.drop_stale_snapshots()
    assert sorted(b.ref for b in dropped) == sorted(["sre@" + killed.name, "sre@" + ended.name])
    assert sorted(b.name for b in m.branches("sre", include_snapshots=True)) == sorted(
        [fresh.name, held.name, elsewhere.name])
    assert [s.ended_at is not None for s in m.sessions() if s.id == dead.id] == [True]
    assert m.drop_stale_snapshots() == [] and m.doctor(read_data=False).ok


def test_replication_leaves_branches_out(m, store, tmp_path):
    from memfs.replication import open_target, replicate

    m.write(store, "/a.md", b"a\n")
    b = m.create_branch(store, "try-1")
    m.write(b.store, "/a.md", b"a\nfrom the branch\n")
    m.create_branch(store, "", snapshot=True)
    t = open_target(str(tmp_path / "replica.db"), None)
    try:
        replicate(m, t, once=True)
        with pytest.raises(errors.InvalidInput, match="team-sre@try-1 is a branch of team-sre: branches are not"):
            replicate(m, t, stores=["team-sre@try-1"], once=True)
        m.merge_branch(b.ref)  # merged: its changes are the store's, and replicate
        n, _ = replicate(m, t, once=True)
    finally:
        t.close()
    assert n == 1
    with Memfs(str(tmp_path / "replica.db")) as r:
        assert [s.name for s in r.list_stores(include_branches=True)] == ["team-sre"]
        assert r.read("team-sre", "/a.md") == b"a\nfrom the branch\n"
        assert r.log("team-sre", limit=1)[0].message == "merge team-sre@try-1"
