"""Files and directories: write/create/no-op, preconditions, mkdir/rmdir, delete, rename, chmod,
symlinks, and content stored once per SHA-256."""

import pytest

from memfs import Identity, Memfs, errors
from memfs.store import sha256



# ---------------------------------------------------------------- write, create, no-op


def test_create_then_write_are_revisions(m, store):
    r1 = m.write(store, "/notes/a.md", b"one\n", message="first")
    assert r1.changed and r1.revision.op == "create"
    assert r1.revision.sha256 == sha256(b"one\n") and r1.revision.prev_sha256 is None
    assert r1.revision.message == "first"
    assert r1.node.path == "/notes/a.md" and r1.node.size == 4 and r1.node.head_rev == r1.revision.id
    r2 = m.write(store, "/notes/a.md", b"two\n")
    assert r2.revision.op == "write"
    assert r2.revision.prev_sha256 == r1.revision.sha256 and r2.revision.base_rev == r1.revision.id
    assert r2.node.id == r1.node.id
    assert m.read(store, "/notes/a.md") == b"two\n"
    # the missing parent was created as a directory, with its own revision
    d = m.lookup(store, "/notes")
    assert d.is_dir and m.history(store, "/notes")[0].op == "mkdir"


def test_str_content_is_utf8(m, store):
    m.write(store, "/s", "naïve ✓")
    assert m.read(store, "/s") == "naïve ✓".encode()


def test_empty_content_allowed(m, store):
    r = m.write(store, "/empty", b"")
    assert r.revision.op == "create" and r.node.size == 0 and r.node.sha256 == sha256(b"")
    assert m.read(store, "/empty") == b""


def test_identical_content_is_a_noop(m, store, unchanged):
    first = m.write(store, "/a", b"same")
    with unchanged():
        again = m.write(store, "/a", b"same", message="retry")
    assert again.revision is None and not again.changed
    assert again.node.id == first.node.id and again.node.head_rev == first.revision.id


def test_write_without_parents_needs_the_directory(m, store, unchanged):
    with unchanged():
        with pytest.raises(errors.PathNotFound):
            m.write(store, "/no/such/dir/f", b"x", parents=False)
    m.mkdir(store, "/d")
    assert m.write(store, "/d/f", b"x", parents=False).changed


def test_write_under_a_file_or_onto_a_directory_refused(m, store, unchanged):
    m.write(store, "/file", b"x")
    m.mkdir(store, "/dir")
    with unchanged():
        with pytest.raises(errors.NotADirectory):
            m.write(store, "/file/child", b"y")
        with pytest.raises(errors.IsADirectory):
            m.write(store, "/dir", b"y")
        with pytest.raises(errors.IsADirectory):
            m.write(store, "/", b"y")
        with pytest.raises(errors.InvalidInput):
            m.write(store, "/file", 12345)


def test_read_errors(m, store):
    m.mkdir(store, "/d")
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/missing")
    with pytest.raises(errors.IsADirectory):
        m.read(store, "/d")


# ---------------------------------------------------------------- preconditions


def test_if_match_succeeds_on_current_hash(m, store):
    a = m.write(store, "/f", b"v1")
    b = m.write(store, "/f", b"v2", if_match=a.node.sha256)
    assert b.revision.prev_sha256 == a.node.sha256
    # upper-case hex is the same hash
    c = m.write(store, "/f", b"v3", if_match=b.node.sha256.upper())
    assert c.changed and m.read(store, "/f") == b"v3"


def test_stale_if_match_refused_with_current_hash(m, store, unchanged):
    a = m.write(store, "/f", b"v1")
    b = m.write(store, "/f", b"v2")
    with unchanged():
        with pytest.raises(errors.PreconditionFailed) as ei:
            m.write(store, "/f", b"v3", if_match=a.node.sha256)
    assert ei.value.current_sha256 == b.node.sha256
    assert ei.value.details["current_sha256"] == b.node.sha256
    assert ei.value.exit_code == 5 and ei.value.http_status == 409
    assert m.read(store, "/f") == b"v2"


def test_if_match_on_missing_path(m, store, unchanged):
    with unchanged():
        with pytest.raises(errors.PreconditionFailed) as ei:
            m.write(store, "/nothing", b"x", if_match=sha256(b"whatever"))
    assert ei.value.current_sha256 is None
    assert m.lookup(store, "/nothing") is None


def test_if_absent(m, store, unchanged):
    r = m.write(store, "/new", b"first", if_absent=True)
    assert r.revision.op == "create"
    with unchanged():
        with pytest.raises(errors.PreconditionFailed) as ei:
            m.write(store, "/new", b"second", if_absent=True)
    assert ei.value.current_sha256 == r.node.sha256
    assert m.read(store, "/new") == b"first"


def test_identical_content_succeeds_despite_stale_precondition(m, store, unchanged):
    a = m.write(store, "/f", b"v1")
    m.write(store, "/f", b"v2")
    with unchanged():
        # a retry of a write that already landed is safe
        assert m.write(store, "/f", b"v2", if_match=a.node.sha256).revision is None
        assert m.write(store, "/f", b"v2", if_absent=True).revision is None


@pytest.mark.parametrize("bad", ["abc", "z" * 64, sha256(b"x")[:63], 42])
def test_malformed_if_match_refused(m, store, unchanged, bad):
    m.write(store, "/f", b"v1")
    with unchanged():
        with pytest.raises(errors.InvalidInput):
            m.write(store, "/f", b"v2", if_match=bad)
        with pytest.raises(errors.InvalidInput):
            m.delete(store, "/f", if_match=bad)


def test_delete_and_rename_honour_if_match(m, store, unchanged):
    a = m.write(store, "/f", b"v1")
    b = m.write(store, "/f", b"v2")
    with unchanged():
        with pytest.raises(errors.PreconditionFailed) as e1:
            m.delete(store, "/f", if_match=a.node.sha256)
        with pytest.raises(errors.PreconditionFailed) as e2:
            m.rename(store, "/f", "/g", if_match=a.node.sha256)
    assert e1.value.current_sha256 == e2.value.current_sha256 == b.node.sha256
    assert m.rename(store, "/f", "/g", if_match=b.node.sha256).path == "/g"
    assert m.delete(store, "/g", if_match=b.node.sha256).op == "delete"


# ---------------------------------------------------------------- mkdir, rmdir, delete


def test_mkdir_and_rmdir(m, store, unchanged):
    d = m.mkdir(store, "/d", mode=0o700)
    assert d.is_dir and d.mode == 0o700 and m.history(store, "/d")[0].op == "mkdir"
    with unchanged():
        with pytest.raises(errors.AlreadyExists):
            m.mkdir(store, "/d")
        with pytest.raises(errors.PathNotFound):
            m.mkdir(store, "/x/y/z")
    assert m.mkdir(store, "/d", exist_ok=True).id == d.id
    deep = m.mkdir(store, "/x/y/z", parents=True)
    assert deep.path == "/x/y/z" and m.lookup(store, "/x/y").is_dir
    m.write(store, "/d/f", b"x")
    with unchanged():
        with pytest.raises(errors.DirectoryNotEmpty):
            m.rmdir(store, "/d")
        with pytest.raises(errors.NotADirectory):
            m.rmdir(store, "/d/f")
        with pytest.raises(errors.PathNotFound):
            m.rmdir(store, "/nope")
        with pytest.raises(errors.NotPermitted):
            m.rmdir(store, "/")
    m.delete(store, "/d/f")
    r = m.rmdir(store, "/d", message="tidy")
    assert (r.op, r.path, r.kind, r.message) == ("rmdir", "/d", "dir", "tidy")
    assert m.lookup(store, "/d") is None
    assert [e.path for e in m.listdir(store, "/")] == ["/x"]


def test_mkdir_over_a_file_refused(m, store, unchanged):
    m.write(store, "/f", b"x")
    with unchanged():
        with pytest.raises(errors.AlreadyExists):
            m.mkdir(store, "/f", exist_ok=True)
        with pytest.raises(errors.NotADirectory):
            m.mkdir(store, "/f/sub", parents=True)


def test_delete_file(m, store, unchanged):
    w = m.write(store, "/f", b"bye")
    r = m.delete(store, "/f", message="gone")
    assert (r.op, r.path, r.sha256, r.prev_sha256, r.size) == ("delete", "/f", None, w.node.sha256, 0)
    assert r.node_id == w.node.id and r.base_rev == w.revision.id
    assert m.lookup(store, "/f") is None and m.node(w.node.id) is None
    with pytest.raises(errors.PathNotFound):
        m.read(store, "/f")
    # the old content is still there at its revision
    assert m.read(store, "/f", rev=w.revision.id) == b"bye"
    m.mkdir(store, "/d")
    with unchanged():
        with pytest.raises(errors.PathNotFound):
            m.delete(store, "/f")
        with pytest.raises(errors.IsADirectory):
            m.delete(store, "/d")
    # a new file at the same path is a new node
    again = m.write(store, "/f", b"back")
    assert again.revision.op == "create" and again.node.id != w.node.id


def test_remove_tree(m, store):
    for p in ("/t/a", "/t/b/c", "/t/b/d", "/keep"):
        m.write(store, p, p.encode())
    revs = m.remove_tree(store, "/t")
    assert sorted(r.path for r in revs) == ["/t", "/t/a", "/t/b", "/t/b/c", "/t/b/d"]
    # deepest first: every directory's removal comes after its children's
    order = [r.path for r in revs]
    assert order.index("/t/b") > max(order.index("/t/b/c"), order.index("/t/b/d"))
    assert order[-1] == "/t"
    assert [r.id for r in revs] == sorted(r.id for r in revs)
    assert sorted(m.tree(store)) == ["/", "/keep"]
    with pytest.raises(errors.NotPermitted):
        m.remove_tree(store, "/")
    with pytest.raises(errors.PathNotFound):
        m.remove_tree(store, "/t")


# ---------------------------------------------------------------- rename


def test_rename_file_keeps_node_id(m, store):
    w = m.write(store, "/a.md", b"content")
    r = m.rename(store, "/a.md", "/b.md", message="better name")
    assert (r.op, r.old_path, r.path, r.node_id, r.message) == ("rename", "/a.md", "/b.md", w.node.id, "better name")
    assert r.sha256 == r.prev_sha256 == w.node.sha256
    assert m.lookup(store, "/a.md") is None
    n = m.lookup(store, "/b.md")
    assert n.id == w.node.id and n.sha256 == w.node.sha256 and n.head_rev == r.id
    assert m.read(store, "/b.md") == b"content"


def test_rename_into_another_directory(m, store):
    w = m.write(store, "/in/f", b"x")
    m.mkdir(store, "/out")
    r = m.rename(store, "/in/f", "/out/g")
    assert r.parent_id == m.lookup(store, "/out").id
    assert m.lookup(store, "/out/g").id == w.node.id
    assert [e.path for e in m.listdir(store, "/in")] == []


def test_rename_directory_moves_descendants_with_their_ids(m, store):
    files = {p: m.write(store, p, p.encode()).node.id for p in ("/d/a", "/d/sub/b", "/d/sub/deeper/c")}
    sub_id = m.lookup(store, "/d/sub").id
    dir_id = m.lookup(store, "/d").id
    m.write(store, "/dx/not-moved", b"prefix look-alike")  # '/dx' must not move with '/d'
    r = m.rename(store, "/d", "/e")
    assert (r.op, r.kind, r.old_path, r.path, r.node_id) == ("rename", "dir", "/d", "/e", dir_id)
    for old, nid in files.items():
        new = "/e" + old[2:]
        n = m.lookup(store, new)
        assert n is not None and n.id == nid and n.path == new
        assert m.lookup(store, old) is None
        assert m.read(store, new) == old.encode()
        assert m.node(nid).path == new
    assert m.lookup(store, "/e/sub").id == sub_id
    assert m.lookup(store, "/dx/not-moved") is not None
    # one revision for the whole move
    assert [x.op for x in m.changes(r.id - 1)] == ["rename"]
    assert m.doctor().ok


def test_paths_are_case_sensitive_in_subtree_operations(m, store):
    # SQLite's LIKE ignores ASCII case by default: renaming /a once moved /A's files too
    m.mkdir(store, "/a"), m.mkdir(store, "/A")
    m.write(store, "/A/x", b"upper"), m.write(store, "/a/y", b"lower")
    m.rename(store, "/a", "/b")
    assert list(m.tree(store)) == ["/", "/A", "/A/x", "/b", "/b/y"]
    assert m.read(store, "/A/x") == b"upper"
    assert [r.path for r in m.history(store, "/b/y")] == ["/a/y"]  # the node, under its old name
    m.remove_tree(store, "/b")
    assert list(m.tree(store)) == ["/", "/A", "/A/x"]


def test_rename_over_existing_file_replaces_it(m, store):
    src = m.write(store, "/new", b"new content")
    dst = m.write(store, "/old", b"old content")
    r = m.rename(store, "/new", "/old")
    assert r.node_id == src.node.id
    assert m.read(store, "/old") == b"new content"
    assert m.lookup(store, "/old").id == src.node.id and m.lookup(store, "/new") is None
    # the replaced file's end is recorded as its deletion, just before the rename
    gone = m.revision(r.id - 1)
    assert (gone.op, gone.node_id, gone.prev_sha256) == ("delete", dst.node.id, dst.node.sha256)
    assert m.read(store, "/old", rev=dst.revision.id) == b"old content"


def test_rename_noreplace_and_refusals(m, store, unchanged):
    m.write(store, "/a", b"a")
    m.write(store, "/b", b"b")
    m.write(store, "/full/x", b"x")
    m.mkdir(store, "/emptydir")
    m.mkdir(store, "/d")
    with unchanged():
        with pytest.raises(errors.AlreadyExists):
            m.rename(store, "/a", "/b", noreplace=True)
        with pytest.raises(errors.PathNotFound):
            m.rename(store, "/missing", "/c")
        with pytest.raises(errors.PathNotFound):
            m.rename(store, "/a", "/no/such/dir/a")
        with pytest.raises(errors.IsADirectory):
            m.rename(store, "/a", "/emptydir")
        with pytest.raises(errors.NotADirectory):
            m.rename(store, "/d", "/a")
        with pytest.raises(errors.DirectoryNotEmpty):
            m.rename(store, "/d", "/full")
        with pytest.raises(errors.InvalidInput):
            m.rename(store, "/d", "/d/inside")
        with pytest.raises(errors.NotPermitted):
            m.rename(store, "/", "/root2")
        with pytest.raises(errors.NotPermitted):
            m.rename(store, "/a", "/")
        with pytest.raises(errors.InvalidName):
            m.rename(store, "/a", "/../escape")
    # a directory may replace an empty directory
    r = m.rename(store, "/d", "/emptydir")
    assert m.lookup(store, "/emptydir").id == r.node_id
    # renaming onto itself changes nothing
    with unchanged():
        assert m.rename(store, "/a", "/a").node_id == m.lookup(store, "/a").id


# ---------------------------------------------------------------- chmod, symlink


def test_chmod_is_a_revision(m, store, unchanged):
    w = m.write(store, "/f", b"x")
    r = m.chmod(store, "/f", 0o600)
    assert (r.op, r.mode, r.sha256, r.prev_sha256) == ("chmod", 0o600, w.node.sha256, w.node.sha256)
    assert m.lookup(store, "/f").mode == 0o600 and m.stat(store, "/f").mode == 0o600
    assert m.stat(store, "/f", rev=w.revision.id).mode == 0o644
    with unchanged():
        assert m.chmod(store, "/f", 0o600) is None  # same mode: no revision
        with pytest.raises(errors.PathNotFound):
            m.chmod(store, "/nope", 0o600)
    # a write keeps the mode
    assert m.write(store, "/f", b"y").node.mode == 0o600


def test_symlink_inside_store(m, store):
    m.write(store, "/d/target", b"t")
    n = m.symlink(store, "/d/link", "target")
    assert n.kind == "symlink"
    assert m.read(store, "/d/link") == b"target"
    assert m.history(store, "/d/link")[0].op == "symlink"
    up = m.symlink(store, "/d/up", "../d/target")
    assert m.read(store, "/d/up") == b"../d/target"
    with pytest.raises(errors.InvalidInput):
        m.write(store, "/d/link", b"through the link")  # symlinks are not followed by writes
    with pytest.raises(errors.AlreadyExists):
        m.symlink(store, "/d/link", "target")
    assert m.delete(store, "/d/up").node_id == up.id


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../outside", "../../x", "", "a\0b"])
def test_symlink_escaping_store_refused(m, store, unchanged, target):
    with unchanged():
        with pytest.raises(errors.NotPermitted):
            m.symlink(store, "/link", target)


def test_symlink_depth_counts_from_its_directory(m, store, unchanged):
    m.mkdir(store, "/a/b", parents=True)
    assert m.symlink(store, "/a/b/ok", "../../top").kind == "symlink"
    with unchanged():
        with pytest.raises(errors.NotPermitted):
            m.symlink(store, "/a/b/bad", "../../../top")


# ---------------------------------------------------------------- blobs


def test_blobs_stored_once_per_hash(m, db_path):
    s1, s2 = m.create_store("one"), m.create_store("two")
    body = b"the same words\n" * 20
    m.write(s1, "/a", body)
    m.write(s1, "/b", body)
    m.write(s2, "/c", body)
    m.write(s1, "/a", b"other")
    m.write(s1, "/a", body)  # back to the first content: a new revision, the same blob
    n = m.db.one("SELECT COUNT(*) FROM blobs WHERE sha256 = ?", (sha256(body),))[0]
    refs = m.db.one("SELECT COUNT(*) FROM revisions WHERE sha256 = ?", (sha256(body),))[0]
    total = m.db.one("SELECT COUNT(*) FROM blobs")[0]
    assert n == 1 and refs == 4 and total == 2


def test_binary_content_allowed_and_flagged(m, store, db_path):
    blob = bytes(range(256)) * 4
    r = m.write(store, "/img.bin", blob)
    assert m.read(store, "/img.bin") == blob
    m.write(store, "/text.md", "plain ünïcode\n".encode())
    m.write(store, "/nul", b"abc\0def")
    flags = {r[0]: r[1] for r in m.db.all("SELECT sha256, is_binary FROM blobs")}
    assert flags[r.node.sha256] == 1
    assert flags[sha256("plain ünïcode\n".encode())] == 0
    assert flags[sha256(b"abc\0def")] == 1
    # binary diffs do not pretend to be text
    m.write(store, "/img.bin", blob[::-1])
    assert "Binary" in m.diff(store, "/img.bin")


def test_identity_override_per_call(m, store):
    dream = Identity(agent="dreamer", session="job-session", actor="dream", dream_job="drm_1")
    r = m.write(store, "/by-dream", b"x", identity=dream)
    assert (r.revision.agent, r.revision.session, r.revision.actor, r.revision.dream_job) == \
        ("dreamer", "job-session", "dream", "drm_1")
    with pytest.raises(errors.InvalidInput):
        Identity(actor="robot")


def test_default_identity_is_operator(db_path, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    with Memfs(db_path) as mem:
        s = mem.create_store("op")
        r = mem.write(s, "/f", b"x").revision
    assert (r.actor, r.agent) == ("operator", "alice")


def test_like_wildcards_in_names_are_literal(m, store):
    """'_' and '%' are SQL LIKE wildcards: a directory named 'a_b' must not drag 'aXb' along."""
    m.write(store, "/a_b/f", b"1")
    m.write(store, "/aXb/f", b"2")
    m.write(store, "/100%/f", b"3")
    m.write(store, "/100x/f", b"4")
    m.rename(store, "/a_b", "/moved")
    assert m.read(store, "/aXb/f") == b"2" and m.read(store, "/moved/f") == b"1"
    m.remove_tree(store, "/100%")
    assert m.read(store, "/100x/f") == b"4"
    assert {r.path for r in m.log(store, "/aXb")} == {"/aXb", "/aXb/f"}
    assert [e.path for e in m.walk(store, "/moved")] == ["/moved", "/moved/f"]
