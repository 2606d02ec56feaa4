"""Branches over HTTP (/v1/memfs/stores/{id}/branches…): list, create, show, diff, merge
(dry run, conflicts as 409 with the report, resolutions), discard; a key scoped to a store
reaches its branches with the same access, and nothing outside it."""

from httphelpers import raw_error
from memfs import Identity

ALICE = Identity(agent="alice", session="s-alice", actor="agent")


def call(server, method, path, body=None, key=None, status=200):
    code, out, _ = server.raw(method, path, body, key=key)
    assert code == status, (method, path, code, out)
    return out


def test_branch_life_cycle_over_http(server, m, store, admin):
    rw, ro = admin(stores={"team-sre": "rw"}), admin(stores={"team-sre": "ro"})
    m.write(store, "/notes.md", b"a\nb\nc\n", identity=ALICE)
    B = f"/v1/memfs/stores/{store.uid}/branches"
    b = call(server, "POST", B, {"name": "try-1"}, key=rw, status=201)
    assert (b["ref"], b["status"], b["files"]) == ("team-sre@try-1", "open", 1)
    # the key reaches the branch's files through the ordinary routes too (same access as its store)
    m.write("team-sre@try-1", "/notes.md", b"a\nb\nc\nbranch\n", identity=ALICE)
    m.write(store, "/notes.md", b"store\na\nb\nc\n", identity=ALICE)
    tree = call(server, "GET", f"/v1/memfs/stores/{b['branch_store_id']}/tree", key=ro)
    assert [e["path"] for e in tree["data"]] == ["/notes.md"]
    assert [x["name"] for x in call(server, "GET", B, key=ro)["data"]] == ["try-1"]
    shown = call(server, "GET", B + "/try-1", key=ro)
    assert shown["merge"][0]["status"] == "merged"
    assert "+branch\n" in call(server, "GET", B + "/try-1/diff", key=ro)["diff"]
    dry = call(server, "POST", B + "/try-1/merge", {"dry_run": True}, key=ro)
    assert dry["applied"] is False and "+branch\n" in dry["diff"]
    raw_error(server.raw("POST", B + "/try-1/merge", {}, key=ro), 403, "permission_error")
    out = call(server, "POST", B + "/try-1/merge", {}, key=rw)
    assert out["applied"] and len(out["revisions"]) == 1
    assert m.read(store, "/notes.md") == b"store\na\nb\nc\nbranch\n"
    assert m.revision(out["revisions"][0]).api_key_id is not None
    # the merge's version names the branch version it brought in
    v = call(server, "GET", f"/v1/memory_stores/{store.uid}/memory_versions/memver_{out['revisions'][0]}", key=ro)
    src = m.history("team-sre@try-1", "/notes.md")[0]
    assert v["merged_from_version_id"] == f"memver_{src.id}"  # (line-merged: its content is the merge's)


def test_conflict_resolution_discard_and_scope(server, m, store, admin):
    other = m.create_store("other")
    rw, stranger = admin(stores={"team-sre": "rw"}), admin(stores={"other": "rw"})
    m.write(store, "/notes.md", b"x\n", identity=ALICE)
    m.create_branch(store, "try-1")
    m.create_branch(store, "gone")
    m.write("team-sre@try-1", "/notes.md", b"branch\n", identity=ALICE)
    m.write(store, "/notes.md", b"store\n", identity=ALICE)
    B = f"/v1/memfs/stores/{store.uid}/branches"
    code, body, _ = server.raw("POST", B + "/try-1/merge", {}, key=rw)
    assert code == 409 and body["error"]["type"] == "merge_conflict_error"
    assert [f["status"] for f in body["report"]["files"]] == ["conflict"] and m.read(store, "/notes.md") == b"store\n"
    out = call(server, "POST", B + "/try-1/merge", {"theirs": "*"}, key=rw)
    assert out["files"][0]["status"] == "theirs" and m.read(store, "/notes.md") == b"branch\n"
    assert call(server, "POST", B + "/gone/discard", {}, key=rw)["status"] == "discarded"
    raw_error(server.raw("POST", B + "/gone/merge", {}, key=rw), 400, "invalid_request_error")
    raw_error(server.raw("GET", B + "/nope", key=rw), 404, "not_found_error")
    raw_error(server.raw("POST", B, {"name": "try-1"}, key=rw), 409, "memory_path_conflict_error")
    # a key of another store sees neither the branches nor the branch store
    raw_error(server.raw("GET", B, key=stranger), 404, "not_found_error")
    branch_uid = m.branch("team-sre@try-1").store.uid
    raw_error(server.raw("GET", f"/v1/memfs/stores/{branch_uid}/tree", key=stranger), 404, "not_found_error")
    assert other.name == "other"
