"""memfs/merge.py: the three-way decisions, without a database (trees of State by node key)."""

import hashlib

from memfs.merge import State, merge_text, plan

BLOBS = {}


def f(path, text, kind="file", mode=0o644):
    data = text.encode()
    sha = hashlib.sha256(data).hexdigest()
    BLOBS[sha] = data
    return State(path, kind, sha, mode)


def read(sha):
    return BLOBS[sha]


def one(base, branch, store, **kw):
    p = plan(base, branch, store, read, **kw)
    assert len(p.files) == 1, p.files
    return p.files[0]


def test_merge_text_disjoint_and_overlapping():
    assert merge_text(b"a\nb\nc\n", b"A\nb\nc\n", b"a\nb\nC\n") == b"A\nb\nC\n"
    assert merge_text(b"a\nb\nc\n", b"a\nX\nc\n", b"a\nY\nc\n") is None
    assert merge_text(b"a\n", b"\xff\n", b"a\nb\n") is None  # not text


def test_untouched_on_the_branch_is_left_out():
    b = {1: f("/a", "x\n")}
    assert plan(b, dict(b), {1: f("/a", "store edit\n")}, read).files == []


def test_one_sided_branch_change_is_taken():
    r = one({1: f("/a", "x\n")}, {1: f("/a", "y\n")}, {1: f("/a", "x\n")})
    assert (r.status, r.action, r.content) == ("taken", "write", b"y\n")


def test_two_sided_disjoint_is_merged():
    base = {1: f("/a", "1\n2\n3\n4\n")}
    r = one(base, {1: f("/a", "1\n2\n3\n4\nbranch\n")}, {1: f("/a", "store\n1\n2\n3\n4\n")})
    assert (r.status, r.action, r.content) == ("merged", "write", b"store\n1\n2\n3\n4\nbranch\n")


def test_overlap_is_a_conflict_then_resolved_either_way():
    base, br, st = {1: f("/a", "x\n")}, {1: f("/a", "branch\n")}, {1: f("/a", "store\n")}
    r = one(base, br, st)
    assert (r.status, r.action) == ("conflict", None) and "overlap" in r.reason
    assert one(base, br, st, resolve=lambda p: "ours").status == "ours"
    t = one(base, br, st, resolve=lambda p: "theirs" if p == "/a" else None)
    assert (t.status, t.action, t.content) == ("theirs", "write", b"branch\n")


def test_delete_versus_edit_both_ways():
    base = {1: f("/a", "x\n")}
    r = one(base, {}, {1: f("/a", "edited\n")})
    assert r.status == "conflict" and "deleted on the branch" in r.reason
    r = one(base, {1: f("/a", "edited\n")}, {})
    assert r.status == "conflict" and "deleted in the store" in r.reason
    r = one(base, {}, {1: f("/a", "x\n")})
    assert (r.status, r.action) == ("taken", "delete")
    assert plan(base, {}, {}, read).files == []  # deleted on both sides


def test_rename_on_branch_with_edit_in_store_follows_identity():
    base = {1: f("/old.md", "1\n2\n3\n")}
    r = one(base, {1: f("/new.md", "1\n2\n3\n")}, {1: f("/old.md", "1\n2\n3\nstore\n")})
    assert (r.status, r.action, r.path, r.store_path, r.content) == ("taken", "rename", "/new.md", "/old.md", None)
    # the store renamed, the branch edited: the store's path, the branch's content
    r = one(base, {1: f("/old.md", "0\n1\n2\n3\n")}, {1: f("/moved.md", "1\n2\n3\n")})
    assert (r.action, r.path, r.content) == ("write", "/moved.md", b"0\n1\n2\n3\n")


def test_two_different_renames_conflict():
    base = {1: f("/a", "x\n")}
    r = one(base, {1: f("/b", "x\n")}, {1: f("/c", "x\n")})
    assert r.status == "conflict" and "renamed" in r.reason


def test_new_file_at_a_path_the_store_took_conflicts():
    r = one({}, {("new", 9): f("/n", "branch\n")}, {5: f("/n", "store\n")})
    assert r.status == "conflict" and "taken" in r.reason
    r = one({}, {("new", 9): f("/n", "branch\n")}, {})
    assert (r.status, r.action, r.content) == ("taken", "create", b"branch\n")
