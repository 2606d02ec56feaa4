"""Stores: create, list, get, update (rename, describe, metadata patch), archive, delete; name rules."""

import pytest

from memfs import Memfs, errors
from memfs.store import DEFAULT_MAX_CONTENT



def test_create_store_has_uid_root_and_defaults(m, db_path):
    s = m.create_store("org-knowledge", "what the org knows", metadata={"team": "sre"})
    assert s.uid.startswith("memstore_") and len(s.uid) > len("memstore_")
    assert (s.name, s.description, s.metadata) == ("org-knowledge", "what the org knows", {"team": "sre"})
    assert s.max_content_bytes == DEFAULT_MAX_CONTENT == 100 * 1024
    assert not s.archived and s.archived_at is None
    assert s.slug == "org-knowledge"
    root = m.lookup(s, "/")
    assert root is not None and root.is_dir and root.id == s.root_node
    assert m.listdir(s, "/") == []
    # the store's birth is itself a revision (mkdir of its root)
    first = m.log(s)
    assert [(r.op, r.path) for r in first] == [("mkdir", "/")]
    # survives reopening the file
    with Memfs(db_path) as other:
        again = other.get_store("org-knowledge")
    assert (again.id, again.uid, again.metadata) == (s.id, s.uid, {"team": "sre"})


def test_store_uids_are_unique(m):
    uids = {m.create_store(f"s{i}").uid for i in range(5)}
    assert len(uids) == 5


def test_list_stores_sorted_and_archived_filter(m):
    for n in ("zeta", "alpha", "mid"):
        m.create_store(n)
    m.archive_store("mid")
    assert [s.name for s in m.list_stores()] == ["alpha", "mid", "zeta"]
    assert [s.name for s in m.list_stores(include_archived=False)] == ["alpha", "zeta"]


def test_get_store_by_name_uid_id_and_object(m, store):
    for ref in (store.name, store.uid, store.id, store):
        got = m.get_store(ref)
        assert (got.id, got.uid, got.name) == (store.id, store.uid, store.name)


@pytest.mark.parametrize("ref", ["nope", "memstore_000000000000000000000000", 424242])
def test_get_unknown_store(m, store, ref):
    with pytest.raises(errors.StoreNotFound) as ei:
        m.get_store(ref)
    assert isinstance(ei.value, errors.NotFound) and ei.value.exit_code == 3


def test_unknown_store_is_refused_by_every_call(m, store, unchanged):
    with unchanged():
        for call in (lambda: m.write("ghost", "/a", b"x"), lambda: m.read("ghost", "/a"),
                     lambda: m.mkdir("ghost", "/d"), lambda: m.delete("ghost", "/a"),
                     lambda: m.rename("ghost", "/a", "/b"), lambda: m.log("ghost"),
                     lambda: m.update_store("ghost", description="x"), lambda: m.archive_store("ghost"),
                     lambda: m.delete_store("ghost"), lambda: m.revert("ghost", 1)):
            with pytest.raises(errors.StoreNotFound):
                call()


def test_duplicate_store_name_refused(m, store, unchanged):
    with unchanged():
        with pytest.raises(errors.AlreadyExists):
            m.create_store(store.name)
        # names are NFC-normalised and trimmed before the comparison
        with pytest.raises(errors.AlreadyExists):
            m.create_store(f"  {store.name} ")


def test_rename_store_keeps_uid_and_content(m, store):
    m.write(store, "/a.md", b"kept\n")
    s2 = m.update_store(store.uid, name="team-ops")
    assert (s2.id, s2.uid, s2.name) == (store.id, store.uid, "team-ops")
    assert m.read("team-ops", "/a.md") == b"kept\n"
    with pytest.raises(errors.StoreNotFound):
        m.get_store("team-sre")
    assert s2.updated_at >= store.updated_at


def test_rename_store_onto_taken_name_refused(m, store, unchanged):
    m.create_store("other")
    with unchanged():
        with pytest.raises(errors.AlreadyExists):
            m.update_store(store, name="other")


def test_update_description_and_max_content(m, store):
    s = m.update_store(store, description="new words", max_content_bytes=10)
    assert (s.description, s.max_content_bytes) == ("new words", 10)
    assert m.get_store(store.name).description == "new words"
    with pytest.raises(errors.ContentTooLarge):
        m.write(store, "/big", b"x" * 11)


def test_update_with_nothing_changes_nothing(m, store, unchanged):
    with unchanged():
        assert m.update_store(store).uid == store.uid


def test_metadata_patch_semantics(m):
    s = m.create_store("meta", metadata={"a": "1", "b": "2"})
    s = m.update_store(s, metadata={"b": "20", "c": "3"})
    assert s.metadata == {"a": "1", "b": "20", "c": "3"}
    s = m.update_store(s, metadata={"a": None, "zz": None})  # None deletes; deleting a missing key is fine
    assert s.metadata == {"b": "20", "c": "3"}
    assert m.get_store("meta").metadata == {"b": "20", "c": "3"}


@pytest.mark.parametrize("bad", [
    {f"k{i}": "v" for i in range(17)},      # more than 16 pairs
    {"": "v"},                                # empty key
    {"k" * 65: "v"},                          # key too long
    {"k": "v" * 513},                         # value too long
    {"k": 5},                                 # value not a string
])
def test_bad_metadata_refused(m, store, unchanged, bad):
    with unchanged():
        with pytest.raises(errors.InvalidInput):
            m.create_store("with-bad-meta", metadata=bad)
        with pytest.raises(errors.InvalidInput):
            m.update_store(store, metadata=bad)


def test_metadata_patch_cannot_exceed_16_keys(m):
    s = m.create_store("full", metadata={f"k{i}": "v" for i in range(16)})
    with pytest.raises(errors.InvalidInput):
        m.update_store(s, metadata={"one-more": "v"})
    assert len(m.get_store("full").metadata) == 16
    # replacing one key while deleting another keeps it within the limit
    s = m.update_store(s, metadata={"k0": None, "new": "v"})
    assert "new" in s.metadata and "k0" not in s.metadata and len(s.metadata) == 16


def test_description_limit(m, store, unchanged):
    assert m.create_store("d1", "x" * 1024).description == "x" * 1024
    with unchanged():
        with pytest.raises(errors.InvalidInput):
            m.create_store("d2", "x" * 1025)
        with pytest.raises(errors.InvalidInput):
            m.update_store(store, description="x" * 1025)


@pytest.mark.parametrize("name,err", [
    ("", errors.InvalidName),
    ("   ", errors.InvalidName),
    ("tab\there", errors.InvalidName),
    ("nul\0", errors.InvalidName),
    ("bell\x07", errors.InvalidName),
    ("rtl\u202eoverride", errors.InvalidName),   # format character
    ("team:sre", errors.InvalidName),            # ':' separates STORE:PATH on the command line
    ("memstore_abc", errors.InvalidName),        # would be mistaken for a uid
    ("x" * 256, errors.NameTooLong),
])
def test_store_name_rules(m, store, unchanged, name, err):
    with unchanged():
        with pytest.raises(err):
            m.create_store(name)
        with pytest.raises(err):
            m.update_store(store, name=name)


def test_store_name_limits_accept_255_and_unicode(m):
    assert m.create_store("x" * 255).name == "x" * 255
    s = m.create_store("Team SRE / Notes")  # spaces and '/' are fine in a store name
    assert s.name == "Team SRE / Notes" and s.slug == "team-sre-notes"
    # NFD input is stored as NFC
    s2 = m.create_store("cafe\u0301")
    assert s2.name == "caf\u00e9"
    assert m.get_store("cafe\u0301").id == s2.id


def test_archive_is_permanent_and_read_only(m, store, unchanged):
    m.write(store, "/d/f", b"before\n")
    m.mkdir(store, "/empty")
    m.symlink(store, "/d/ln", "f")
    a = m.archive_store(store)
    assert a.archived and a.archived_at is not None
    # archiving again keeps the first time
    assert m.archive_store(store.name).archived_at == a.archived_at
    with unchanged():
        writes = [
            lambda: m.write(store, "/d/f", b"after\n"),
            lambda: m.write(store, "/d/f", b"before\n"),      # even a would-be no-op
            lambda: m.write(store, "/new", b"x"),
            lambda: m.mkdir(store, "/d2"),
            lambda: m.symlink(store, "/ln2", "d/f"),
            lambda: m.delete(store, "/d/f"),
            lambda: m.rmdir(store, "/empty"),
            lambda: m.remove_tree(store, "/d"),
            lambda: m.rename(store, "/d/f", "/d/g"),
            lambda: m.chmod(store, "/d/f", 0o600),
            lambda: m.set_mtime(m.lookup(store, "/d/f").id, 1),
            lambda: m.revert(store, m.head() - 1),
            lambda: m.update_store(store, name="renamed"),
            lambda: m.update_store(store, description="changed"),
        ]
        for w in writes:
            with pytest.raises(errors.ReadOnly):
                w()
    # reads still work
    assert m.read(store, "/d/f") == b"before\n"
    assert [e.path for e in m.listdir(store, "/d")] == ["/d/f", "/d/ln"]
    assert m.history(store, "/d/f")


def test_delete_store_removes_history_and_orphan_blobs(m, db_path):
    keep = m.create_store("keep")
    gone = m.create_store("gone")
    m.write(keep, "/shared", b"shared content\n")
    m.write(gone, "/copy", b"shared content\n")
    m.write(gone, "/only", b"only in gone v1\n")
    m.write(gone, "/only", b"only in gone v2\n")
    m.record_conflict(gone, "/only", b"conflict-only bytes", base_sha256=None, reason="test")
    gone_revs = [r.id for r in m.log(gone)]
    assert len(gone_revs) >= 4

    deleted = m.delete_store("gone")
    assert deleted.name == "gone"
    with pytest.raises(errors.StoreNotFound):
        m.get_store("gone")
    with pytest.raises(errors.StoreNotFound):
        m.get_store(gone.uid)
    for rid in gone_revs:
        with pytest.raises(errors.RevisionNotFound):
            m.revision(rid)
    assert all(r.store_id != gone.id for r in m.changes(0))

    from memfs.store import sha256
    blobs = {r[0] for r in m.db.all("SELECT sha256 FROM blobs")}
    nodes = m.db.one("SELECT COUNT(*) FROM nodes WHERE store_id = ?", (gone.id,))[0]
    conflicts = m.db.one("SELECT COUNT(*) FROM conflicts WHERE store_id = ?", (gone.id,))[0]
    assert sha256(b"shared content\n") in blobs            # still used by "keep"
    assert sha256(b"only in gone v1\n") not in blobs       # orphans are removed
    assert sha256(b"only in gone v2\n") not in blobs
    assert sha256(b"conflict-only bytes") not in blobs
    assert nodes == 0 and conflicts == 0
    assert m.read(keep, "/shared") == b"shared content\n"
    assert m.doctor().ok
    # the name is free again, and the new store starts empty
    again = m.create_store("gone")
    assert again.uid != gone.uid and m.listdir(again) == []
