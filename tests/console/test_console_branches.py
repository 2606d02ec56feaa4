"""The console's branches view in a real browser: the list, a branch's merge preview and diff,
merge (with a conflict settled by a button), discard, and no write controls for a read-only key."""

from memfs import Identity

ALICE = Identity(agent="alice", session="s-alice", actor="agent")


def branches_hash(store, name=None):
    return f"#/s/{store.uid}/branches" + (f"?branch={name}" if name else "")


def test_branch_list_diff_merge_and_discard(page, m, store):
    m.write(store, "/notes.md", b"a\nb\nc\n", identity=ALICE)
    m.write(store, "/hosts.md", b"db-1\n", identity=ALICE)
    m.create_branch(store, "try-1")
    m.create_branch(store, "gone")
    m.write("team-sre@try-1", "/notes.md", b"a\nb\nc\nbranch line\n", identity=ALICE)
    m.write("team-sre@try-1", "/hosts.md", b"db-branch\n", identity=ALICE)
    m.write(store, "/hosts.md", b"db-store\n", identity=ALICE)  # a conflict
    page.open(branches_hash(store))
    assert page.texts("#branches tbody tr td a.branch-link") == ["team-sre@try-1", "team-sre@gone"]
    page.click("tr[data-branch='try-1'] a.branch-link")
    assert page.find("#branch").get_attribute("data-status") == "open"
    plan = {r.get_attribute("data-path"): r.get_attribute("class") for r in page.all("#branch-merge tbody tr")}
    assert plan == {"/hosts.md": "conflict", "/notes.md": "taken"}
    assert "+branch line" in page.texts("#diff .line.add")
    page.shot("branch")
    # a plain merge is refused (the conflict), nothing written
    page.click("#btn-merge", wait=False)
    page.find("#status.error")
    assert "merge_conflict_error" in page.text("#status") and m.read(store, "/notes.md") == b"a\nb\nc\n"
    page.click("#btn-merge-theirs")
    assert "merged team-sre@try-1" in page.text("#status")
    assert page.find("#branch").get_attribute("data-status") == "merged" and not page.all("#branch-controls")
    assert m.read(store, "/notes.md") == b"a\nb\nc\nbranch line\n" and m.read(store, "/hosts.md") == b"db-branch\n"
    page.go(branches_hash(store, "gone"))
    page.click("#btn-discard")
    assert m.branch("team-sre@gone").status == "discarded"
    assert page.find("#branch").get_attribute("data-status") == "discarded"


def test_read_only_key_sees_no_branch_controls(page, m, store):
    m.write(store, "/notes.md", b"a\n", identity=ALICE)
    m.create_branch(store, "try-1")
    ro = m.create_api_key(stores={"team-sre": "ro"}, name="auditor")[1]
    page.open(branches_hash(store, "try-1"), key=ro)
    assert page.find("#branch") and not page.all("#branch-controls") and not page.all(".write")
