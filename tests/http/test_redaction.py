"""Redaction (`Memfs.redact`, `redact_matching`, `memfs redact`): the content goes for good, the
audit rows stay, the head of a live file is never touched, `memfs doctor` still passes."""

import json
import sqlite3

import pytest

from memfs import Identity, Memfs, errors

SECRET = "SECRET-4111-1111-1111-1111"


def raw_bytes(db_path) -> bytes:
    """The database file as it lies on disk after a checkpoint and a vacuum."""
    c = sqlite3.connect(db_path)
    try:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.execute("VACUUM")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        c.close()
    data = open(db_path, "rb").read()
    try:
        data += open(db_path + "-wal", "rb").read()
    except FileNotFoundError:
        pass
    return data


def redacted_fields(m, rev_id):
    r = m.revision(rev_id)
    return r.sha256, r.size, r.redacted_at is not None, json.loads(r.redacted_by) if r.redacted_by else None


@pytest.fixture
def leaky(m, store):
    """A store where SECRET sits in old versions of two files, a refused write, a blob that
    nothing refers to any more, and (unrelated) other content."""
    s = store
    w1 = m.write(s, "/notes/customer.md", f"card {SECRET}\n".encode()).revision
    m.write(s, "/notes/customer.md", b"card on file\n")
    w2 = m.write(s, "/other.md", f"also {SECRET} here\n".encode()).revision
    m.rename(s, "/other.md", "/moved.md")  # a rename revision carries the same content
    m.write(s, "/moved.md", b"cleaned\n")
    m.write(s, "/keep.md", b"nothing to hide\n")
    m.record_conflict(s, "/notes/customer.md", f"stale {SECRET}\n".encode(), base_sha256=None, reason="stale")
    with m.db.write() as tx:  # what a crash between blob and revision leaves behind
        m._put_blob(tx, "f" * 64, f"orphan {SECRET}".encode(), 0.0)
    return {"w1": w1, "w2": w2}


@pytest.mark.sqlite_only  # reads the database file's bytes
def test_pattern_redaction_leaves_no_copy_in_the_database_file(m, store, leaky, db_path, memfs_cli):
    assert SECRET.encode() in raw_bytes(db_path)  # the check below can fail
    revs_before = m.db.all("SELECT id, op, path FROM revisions ORDER BY id")
    r = memfs_cli("--agent", "dpo", "redact", "--store", "team-sre", "--pattern", r"SECRET-[\d-]+", "--vacuum")
    assert r.exit_code == 0, r.output
    # w1, w2 and the rename of w2; the blobs of w1, w2, the refused write and the orphan
    assert "3 revisions redacted, 1 refused write blanked, 4 blobs removed" in r.stdout
    assert SECRET.encode() not in raw_bytes(db_path)
    # every audit row is still there, in order, with who redacted it
    assert m.db.all("SELECT id, op, path FROM revisions ORDER BY id") == revs_before
    for rev in (leaky["w1"].id, leaky["w2"].id):
        sha, size, redacted, by = redacted_fields(m, rev)
        assert (sha, size, redacted) == (None, 0, True) and by["agent"] == "dpo" and by["actor"] == "agent"
    assert m.read(store, "/notes/customer.md") == b"card on file\n"
    assert m.read(store, "/moved.md") == b"cleaned\n" and m.read(store, "/keep.md") == b"nothing to hide\n"
    assert SECRET.encode() not in m.read(store, "/notes/customer.md", rev=leaky["w1"].id)
    assert m.conflicts(store)[0].sha256 is None and m.conflicts(store)[0].reason == "stale"
    rep = m.doctor()
    assert rep.ok, rep.problems
    assert memfs_cli("doctor").exit_code == 0
    assert m.redact_matching(store, "SECRET").redacted == []  # nothing left to do


def test_dry_run_changes_nothing(m, store, leaky, memfs_cli, db_path):
    before = m.db.all("SELECT id, sha256, redacted_at FROM revisions"), m.db.all("SELECT sha256 FROM blobs")
    r = memfs_cli("redact", "--store", "team-sre", "--pattern", "SECRET", "--dry-run")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("would redact") == 3 and "3 revisions would be redacted" in r.stdout
    assert (m.db.all("SELECT id, sha256, redacted_at FROM revisions"), m.db.all("SELECT sha256 FROM blobs")) == before


@pytest.mark.sqlite_only  # reads the database file's bytes
def test_the_version_a_live_file_shows_is_not_redacted(m, store, db_path, memfs_cli):
    old = m.write(store, "/a.md", f"v1 {SECRET}".encode()).revision
    cur = m.write(store, "/a.md", f"v2 {SECRET}".encode()).revision
    with pytest.raises(errors.CurrentVersion):
        m.redact(cur.id)
    r = memfs_cli("redact", "--store", "team-sre", "--pattern", "SECRET")
    assert r.exit_code == errors.CurrentVersion.exit_code
    err = r.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith("Error: 1 matching version is") and "/a.md" in err[0]
    assert "Traceback" not in r.output
    assert redacted_fields(m, old.id)[2] and not redacted_fields(m, cur.id)[2]
    assert m.read(store, "/a.md") == f"v2 {SECRET}".encode()  # the head is whole
    assert m.doctor().ok
    # once the file changes, the old current version can go too
    m.write(store, "/a.md", b"v3")
    assert m.redact(cur.id).redacted_at is not None
    assert SECRET.encode() not in raw_bytes(db_path)
    assert m.doctor().ok
    # a deleted file shows nothing: its last version can be redacted, and so can its deletion
    last = m.write(store, "/b.md", f"b {SECRET}".encode()).revision
    gone = m.delete(store, "/b.md")
    m.redact(last.id)
    m.redact(gone.id)
    assert SECRET.encode() not in raw_bytes(db_path)
    assert m.doctor().ok and m.history(store, "/b.md")[0].redacted_at is not None


def test_a_mode_change_does_not_hide_the_current_version(m, store):
    w = m.write(store, "/a.md", b"x").revision
    m.chmod(store, "/a.md", 0o600)  # the head is now the chmod; the file still shows w's content
    with pytest.raises(errors.CurrentVersion):
        m.redact(w.id)
    with pytest.raises(errors.CurrentVersion):
        m.redact(m.lookup(store, "/a.md").head_rev)


def test_redact_one_revision_cli(m, store, memfs_cli, db_path):
    w = m.write(store, "/a.md", b"first").revision
    m.write(store, "/a.md", b"second")
    r = memfs_cli("redact", str(w.id))
    assert r.exit_code == 0 and r.stdout.strip() == f"redacted revision {w.id} (team-sre:/a.md)"
    assert memfs_cli("redact", str(w.id)).exit_code == 0  # again: harmless
    assert m.blob(m.revision(w.id).sha256) == b""
    shown = json.loads(memfs_cli("show", str(w.id), "--json").stdout)
    assert shown["sha256"] is None and shown["redacted_at"] and json.loads(shown["redacted_by"])["actor"] == "operator"
    for args, code in ((["redact", "99999"], errors.RevisionNotFound.exit_code),
                       (["redact", "1"], errors.InvalidInput.exit_code),  # the root's mkdir: no content
                       (["redact"], errors.InvalidInput.exit_code),
                       (["redact", "--pattern", "x"], errors.InvalidInput.exit_code),
                       (["redact", "--store", "team-sre", "--pattern", "("], errors.InvalidInput.exit_code),
                       (["redact", "--store", "nope", "--pattern", "x"], errors.StoreNotFound.exit_code),
                       (["redact", str(w.id), "--store", "team-sre"], errors.InvalidInput.exit_code)):
        r = memfs_cli(*args)
        assert r.exit_code == code, (args, r.output)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.output


def test_shared_content_stays_while_something_uses_it(m, store):
    """Blobs are shared by hash: redacting one version keeps the bytes another file shows."""
    old = m.write(store, "/a.md", b"shared words").revision
    m.write(store, "/a.md", b"changed")
    m.write(store, "/b.md", b"shared words")
    m.redact(old.id)
    assert m.read(store, "/b.md") == b"shared words"
    assert m.db.one("SELECT 1 FROM blobs WHERE sha256 = ?", (old.sha256,)) is not None
    assert m.doctor().ok
    # the same words in another store are that store's business: a pattern run here leaves them
    other = m.create_store("other")
    m.write(other, "/c.md", b"shared words")
    m.write(other, "/c.md", b"gone")
    m.delete(store, "/b.md")
    m.redact_matching(store, "shared")
    assert m.read(other, "/c.md", rev=m.history(other, "/c.md")[1].id) == b"shared words"


def test_redaction_is_recorded_with_the_redactor(db_path, store):
    with Memfs(db_path, identity=Identity(agent="scanner", session="s9", actor="api", api_key_id="apikey_1")) as m:
        w = m.write(store.name, "/a.md", b"x").revision
        m.write(store.name, "/a.md", b"y")
        r = m.redact(w.id)
    assert json.loads(r.redacted_by) == {"actor": "api", "agent": "scanner", "session": "s9", "api_key_id": "apikey_1"}
    assert r.redacted_at >= r.created_at


def test_redacting_through_the_api_in_an_archived_store(sdk, m):
    """Anthropic lets an archived store's versions be redacted; so does memfs."""
    ms = sdk.beta.memory_stores
    s = ms.create(name="frozen")
    mem = ms.memories.create(s.id, path="/a.md", content=SECRET)
    ms.memories.update(mem.id, memory_store_id=s.id, content="clean")
    old = list(ms.memory_versions.list(s.id, operation="created"))[0]
    ms.archive(s.id)
    assert ms.memory_versions.redact(old.id, memory_store_id=s.id).redacted_at is not None
    assert m.doctor().ok


@pytest.mark.sqlite_only  # reads the database file's bytes
def test_redaction_reaches_the_branches_and_leaves_no_copy(m, store, db_path, memfs_cli):
    """A secret written to the store, a branch made, the secret overwritten in both: redacting
    the store's revision blanks the branch's copy too, and no byte of it stays in the file."""
    w = m.write(store, "/notes.md", f"token {SECRET}\n".encode()).revision
    b = m.create_branch(store, "try-1")
    m.write(store, "/notes.md", b"clean\n")
    m.write(b.store, "/notes.md", b"clean on the branch\n")
    assert SECRET.encode() in raw_bytes(db_path)  # the check below can fail
    copy = m.history(b.store, "/notes.md")[-1]
    r = memfs_cli("redact", str(w.id), "--vacuum")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"redacted revision {w.id} (team-sre:/notes.md)",
                                     f"redacted revision {copy.id} (team-sre@try-1:/notes.md), its copy in a branch",
                                     "database file rebuilt"]
    assert SECRET.encode() not in raw_bytes(db_path)
    hist = m.history("team-sre@try-1", "/notes.md")
    assert [(x.id, x.redacted_at is not None, x.sha256) for x in hist][-1] == (copy.id, True, None)
    assert m.read(b.store, "/notes.md") == b"clean on the branch\n" and m.doctor().ok
    # a pattern, on a store whose branch was merged and whose merged branch still shows the secret
    m.write(b.store, "/new.md", f"new {SECRET}\n".encode())
    m.merge_branch(b.ref, take="ours")
    m.write(store, "/new.md", b"clean\n")
    r = memfs_cli("redact", "--store", "team-sre", "--pattern", SECRET)
    assert r.exit_code == errors.CurrentVersion.exit_code
    assert r.stdout.splitlines()[-1] == "1 revision redacted, 0 refused writes blanked, 0 blobs removed (in " \
                                        "team-sre and its 1 branch)"
    err = r.stderr.splitlines()
    assert len(err) == 1 and "team-sre@try-1:/new.md (revision" in err[0] and "memfs store rm" in err[0], err
    assert SECRET.encode() in raw_bytes(db_path)  # the merged branch still shows it
    assert memfs_cli("store", "rm", "team-sre@try-1", "--yes").exit_code == 0
    assert memfs_cli("redact", "--store", "team-sre", "--pattern", SECRET, "--vacuum").exit_code == 0
    assert SECRET.encode() not in raw_bytes(db_path) and m.doctor().ok


def test_redacting_over_http_reaches_the_branches(server, m, store, root_key):
    from httphelpers import raw_error

    w = m.write(store, "/a.md", SECRET.encode()).revision
    b = m.create_branch(store, "try-1")
    m.write(store, "/a.md", b"clean")
    path = f"/v1/memory_stores/{store.uid}/memory_versions/memver_{w.id}/redact"
    err = raw_error(server.raw("POST", path, {}, key=root_key), 409, "invalid_request_error")
    assert "team-sre@try-1:/a.md" in err["message"] and m.revision(w.id).redacted_at is None
    m.write(b.store, "/a.md", b"clean on the branch")
    copy = m.history(b.store, "/a.md")[-1]
    code, out, _ = server.raw("POST", path, {}, key=root_key)
    assert code == 200 and out["redacted_at"] and out["content_sha256"] is None, out
    assert out["redacted_copies"] == [{"memory_store_id": b.store.uid, "memory_version_id": f"memver_{copy.id}"}]
    assert m.revision(copy.id).redacted_at is not None
    assert m.db.one("SELECT 1 FROM blobs WHERE sha256 = ?", (w.sha256,)) is None
