"""The store's public calls for front ends: write options, change following, snapshots, diffs."""

import threading
import time

import pytest

from memfs import Memfs, errors
from memfs.store import HooksOutsideTransaction, Identity, WriteOptions


def test_a_leased_file_refuses_at_once_a_writer_that_will_not_wait(m, store, db_path):
    n = m.write(store, "/f", b"one").node
    m.lease(n.id, "mount-a", seconds=30)
    with Memfs(db_path) as other:
        t0 = time.monotonic()
        with pytest.raises(errors.Leased):
            other.write(store.name, "/f", b"two", opts=WriteOptions(wait=False))
        with pytest.raises(errors.Leased):
            other.delete(store.name, "/f", opts=WriteOptions(wait=False))
        with pytest.raises(errors.Leased):
            other.rename(store.name, "/f", "/g", opts=WriteOptions(wait=False))
        assert time.monotonic() - t0 < 1.0  # no waiting out the 30 s lease
    # the holder writes through its own lease, and its commit ends it
    r = m.write(store, "/f", b"two", opts=WriteOptions(lease_owner="mount-a"))
    assert r.changed and m.read(store, "/f") == b"two"
    assert m.write(store, "/f", b"three", opts=WriteOptions(wait=False)).changed


def test_a_writer_that_waits_gets_the_file_when_the_lease_is_released(m, store, db_path):
    n = m.write(store, "/f", b"one").node
    m.lease(n.id, "mount-a", seconds=30)
    threading.Timer(0.2, lambda: Memfs(db_path).release_lease(n.id, "mount-a")).start()
    with Memfs(db_path) as other:
        assert other.write(store.name, "/f", b"two").changed  # waited, then wrote
    assert m.read(store, "/f") == b"two"


def test_write_options_place_a_new_file_at_a_reserved_id_with_its_mtime(m, store):
    ids = m.reserve_node_ids(3)
    f = m.write(store, "/f", b"x", opts=WriteOptions(node_id=ids[0], mtime_ns=123_000_000_000)).node
    assert (f.id, f.mtime_ns) == (ids[0], 123_000_000_000)
    assert m.mkdir(store, "/d", opts=WriteOptions(node_id=ids[1])).id == ids[1]
    assert m.symlink(store, "/l", "f", opts=WriteOptions(node_id=ids[2])).id == ids[2]
    with pytest.raises(errors.InvalidInput):
        m.write(store, "/g", b"y", opts=WriteOptions(node_id=ids[0]))  # taken
    with pytest.raises(TypeError):
        m.write(store, "/g", b"y", node_id=ids[0])  # the loose keyword is gone


def test_a_write_hook_added_by_another_process_runs_on_the_next_write(m, store, db_path):
    m.write(store, "/f", b"before")  # no hooks: the store is remembered as hook-less
    with Memfs(db_path) as other:
        other.add_hook(store.name, "exit 1")
    with pytest.raises(errors.HookRefused):
        m.write(store, "/f", b"after")
    assert m.read(store, "/f") == b"before"


def test_a_write_whose_hooks_must_run_first_refuses_inside_a_transaction(m, store):
    # the store worker's group commit runs such a write again alone, outside its transaction
    m.add_hook(store, "cat >/dev/null; echo '{\"decision\": \"allow\"}'")
    with pytest.raises(HooksOutsideTransaction):
        with m.atomic():
            m.write(store, "/f", b"x")
    assert m.lookup(store, "/f") is None
    assert m.write(store, "/f", b"x").changed  # alone, its hooks run first


def test_reopen_is_another_connection_to_the_same_database(m, store):
    with m.reopen(identity=Identity(agent="other", session="s2")) as other:
        assert other is not m and other.url == m.url
        assert other.write(store.name, "/f", b"x").revision.agent == "other"
    assert m.read(store, "/f") == b"x"
    with m.reopen() as same:
        assert same.identity == m.identity


def test_data_version_moves_and_wait_for_change_wakes_on_another_connections_commit(m, store, db_path):
    v = m.data_version()
    assert m.wait_for_change(0.1) is False
    with Memfs(db_path) as other:
        threading.Timer(0.2, lambda: other.write(store.name, "/f", b"x")).start()
        t0 = time.monotonic()
        assert m.wait_for_change(10) is True
        assert time.monotonic() - t0 < 5
    assert m.data_version() != v
    assert isinstance(m.notifies, bool)


def test_a_snapshot_reads_one_moment_and_refuses_writes(m, store, db_path):
    m.write(store, "/f", b"one")
    with Memfs(db_path) as other:
        with m.snapshot():
            head = m.head()
            other.write(store.name, "/f", b"two")
            assert m.head() == head and m.read(store, "/f") == b"one"
            with pytest.raises(RuntimeError):
                m.write(store, "/g", b"x")
    assert m.read(store, "/f") == b"two"


def test_diff_text_between_two_revisions(m, store):
    a = m.write(store, "/f", b"one\n").revision.id
    b = m.write(store, "/f", b"two\n").revision.id
    text = m.diff_text(store.name, "/f", a, b)
    assert "-one\n+two\n" in text and f"a/f@{a}" in text
    assert m.diff_text(store, "/f", a, a) == ""


def test_one_identity_rule_for_the_library_and_the_cli(db_path, monkeypatch, memfs_cli):
    import getpass

    from memfs import config

    monkeypatch.setenv("MEMFS_AGENT", "bot-7")
    monkeypatch.setenv("MEMFS_SESSION", "ses-1")
    with Memfs(db_path) as lib:
        s = lib.create_store("ident")
        r = lib.write(s, "/a", b"x").revision
    assert (r.agent, r.session, r.actor) == ("bot-7", "ses-1", "agent")
    with Memfs(db_path) as lib:
        assert config.identity() == lib.identity
    assert memfs_cli("put", "ident:/b", input=b"y").exit_code == 0
    with Memfs(db_path) as lib:
        assert lib.log("ident", "/b")[0].actor == "agent"
    monkeypatch.delenv("MEMFS_AGENT")
    with Memfs(db_path) as lib:
        r = lib.write("ident", "/c", b"z").revision
    assert (r.agent, r.actor) == (getpass.getuser(), "operator")
