"""Sessions, recorded conflicts, and `doctor` on a clean and on a damaged database."""

import os
import socket
import time

import pytest

from memfs import Identity, Memfs, errors
from memfs.store import sha256



# ---------------------------------------------------------------- sessions


def test_open_and_close_session(m, store):
    s = m.open_session("ses-1", agent="claude", kind="mount", stores={store.name: "rw"}, mountpoint="/mnt/x")
    assert (s.session_id, s.agent, s.kind, s.stores, s.mountpoint) == ("ses-1", "claude", "mount",
                                                                      {store.name: "rw"}, "/mnt/x")
    assert s.host == socket.gethostname() and s.pid == os.getpid()
    assert s.ended_at is None and s.started_at <= time.time()
    auto = m.open_session(agent="sdk", kind="api")
    assert auto.session_id.startswith("ses_") and auto.session_id != s.session_id
    assert [x.session_id for x in m.sessions(active=True)] == [auto.session_id, "ses-1"]
    m.close_session(s.id)
    closed = [x for x in m.sessions() if x.id == s.id][0]
    assert closed.ended_at is not None and closed.ended_at >= closed.started_at
    assert [x.session_id for x in m.sessions(active=True)] == [auto.session_id]
    assert [x.session_id for x in m.sessions(active=False)] == ["ses-1"]
    # closing twice keeps the first end
    m.close_session(s.id)
    assert [x for x in m.sessions() if x.id == s.id][0].ended_at == closed.ended_at


def test_sessions_of_a_store(m, db_path):
    a, b = m.create_store("a"), m.create_store("b")
    m.open_session("held-a", agent="x", stores={"a": "ro"})
    m.open_session("held-b-by-uid", agent="y", stores={b.uid: "rw"})
    m.open_session("wrote-a", agent="z", stores={})
    m.open_session("idle", agent="w", stores={})
    m.write(a, "/f", b"x", identity=Identity(agent="z", session="wrote-a", actor="agent"))
    m.write(b, "/f", b"x", identity=Identity(agent="q", session="wrote-b", actor="agent"))
    assert {s.session_id for s in m.sessions(a)} == {"held-a", "wrote-a"}
    assert {s.session_id for s in m.sessions("b")} == {"held-b-by-uid"}
    assert len(m.sessions()) == 4
    with pytest.raises(errors.StoreNotFound):
        m.sessions("nope")


def test_sessions_since(m, store):
    old = m.open_session("old-holder", agent="x", stores={store.name: "rw"})
    m.close_session(old.id)
    old_writer = m.open_session("old-writer", agent="x")
    m.write(store, "/early", b"1", identity=Identity(agent="x", session="old-writer", actor="agent"))
    m.close_session(old_writer.id)
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    m.open_session("still-open", agent="y", stores={store.name: "ro"})
    late = m.open_session("late-writer", agent="z")
    m.write(store, "/late", b"2", identity=Identity(agent="z", session="late-writer", actor="agent"))
    m.close_session(late.id)
    got = {s.session_id for s in m.sessions(store, since=since)}
    assert got == {"still-open", "late-writer"}
    assert {s.session_id for s in m.sessions(store)} == {"old-holder", "old-writer", "still-open", "late-writer"}
    # without a store: sessions active since then
    assert {s.session_id for s in m.sessions(since=since)} == {"still-open", "late-writer"}


# ---------------------------------------------------------------- conflicts


def test_record_and_list_conflicts(m, store):
    w = m.write(store, "/f", b"theirs")
    c = m.record_conflict(store, "/f", b"mine", base_sha256=sha256(b"base"), reason="stale write")
    assert (c.path, c.node_id, c.current_sha256, c.current_rev) == ("/f", w.node.id, w.node.sha256, w.revision.id)
    assert (c.sha256, c.base_sha256, c.reason) == (sha256(b"mine"), sha256(b"base"), "stale write")
    assert (c.session, c.agent) == ("s-test", "tester")
    # the refused content is kept and readable, but the file is unchanged
    assert m.blob(c.sha256) == b"mine" and m.read(store, "/f") == b"theirs"
    other = Identity(agent="b", session="s-b", actor="agent")
    c2 = m.record_conflict(store, "/new", None, base_sha256=None, reason="x", identity=other)
    assert c2.node_id is None and c2.current_sha256 is None and c2.sha256 is None
    assert [x.id for x in m.conflicts(store)] == [c.id, c2.id]
    assert [x.id for x in m.conflicts(store, session="s-b")] == [c2.id]
    assert m.conflicts(m.create_store("empty")) == []


# ---------------------------------------------------------------- doctor


def _populate(m):
    s = m.create_store("doc")
    m.write(s, "/a", b"alpha\n")
    m.write(s, "/b/c", b"gamma\n")
    m.write(s, "/a", b"alpha 2\n")
    m.rename(s, "/b", "/bb")
    m.delete(s, "/a")
    return s


def test_doctor_clean(m):
    _populate(m)
    rep = m.doctor()
    assert rep.ok and rep.problems == []
    d = rep.to_dict()
    assert d["ok"] is True and d["num_errors"] == 0
    assert d["checked"]["blobs_read"] == d["checked"]["blobs"] == 3
    assert d["checked"]["revisions"] == m.head()
    assert m.doctor(read_data=False).checked["blobs_read"] == 0


def test_doctor_finds_corrupt_blob(m, db_path):
    s = _populate(m)
    target = m.lookup(s, "/bb/c").sha256
    with m.db.write() as tx:  # damage, underneath the store API
        tx.run("UPDATE blobs SET content = ? WHERE sha256 = ?", (b"gammA\n", target))  # same size, other bytes
    rep = m.doctor()
    assert not rep.ok
    corrupt = [p for p in rep.problems if p["type"] == "corrupt_blob"]
    assert [p["sha256"] for p in corrupt] == [target]
    assert target in corrupt[0]["message"]
    # a structural check only does not re-hash, so it does not see it
    assert m.doctor(read_data=False).ok


def test_doctor_finds_missing_blob(m, db_path):
    s = _populate(m)
    w = m.write(s, "/lonely", b"only here\n")
    with m.db.write() as tx:
        tx.run("DELETE FROM blobs WHERE sha256 = ?", (w.node.sha256,))
    rep = m.doctor(read_data=False)
    missing = [p for p in rep.problems if p["type"] == "missing_blob"]
    assert missing and {p["sha256"] for p in missing} == {w.node.sha256}
    assert w.revision.id in {p["revision"] for p in missing}
    with pytest.raises(errors.MemfsError):
        m.read(s, "/lonely")


def test_doctor_finds_bad_head(m, db_path):
    s = _populate(m)
    n = m.lookup(s, "/bb/c")
    with m.db.write() as tx:
        tx.run("UPDATE nodes SET head_rev = ? WHERE id = ?", (m.head() + 999, n.id))
    assert {p["type"] for p in m.doctor().problems} == {"bad_head"}


# ---------------------------------------------------------------- a locked database


def test_locked_database_gives_busy_and_changes_nothing(m, store, db_path, unchanged):
    m.write(store, "/f", b"v1")
    with Memfs(db_path, busy_timeout=0.2) as impatient, Memfs(db_path) as other:
        holding = other.db.write()
        holding.__enter__()  # another writer in the middle of its transaction
        try:
            with unchanged():
                t0 = time.time()
                with pytest.raises(errors.Busy) as ei:
                    impatient.write("team-sre", "/f", b"v2")
                assert time.time() - t0 < 5
                # readers are not blocked by a writer (WAL)
                assert impatient.read("team-sre", "/f") == b"v1"
        finally:
            holding.__exit__(RuntimeError, RuntimeError("rolled back"), None)
        assert ei.value.exit_code == 7
        # once the lock is gone, the same connection writes again
        assert impatient.write("team-sre", "/f", b"v2").changed
    assert m.read(store, "/f") == b"v2"
