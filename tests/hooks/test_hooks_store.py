"""Write hooks through the store API: real hook processes allow, refuse and redact writes, before
the write transaction opens; timeouts, crashes and garbage fail closed or open as configured."""

import base64
import errno
import hashlib
import logging
import subprocess
import sys
import time

import pytest

from memfs import Identity, Memfs, errors

from hookhelpers import requests_of


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_hook_gets_the_write_as_json_and_allows(m, store, hook, tmp_path):
    m.add_hook(store, hook('answer({"decision": "allow"})'))
    r = m.write(store, "/notes/a.md", b"hello\n")
    assert r.revision.op == "create" and not r.redacted
    m.write(store, "/notes/a.md", b"hello again\n")
    m.append(store, "/notes/a.md", b"more\n")
    m.write(store, "/bin.dat", b"\xff\x00\xfe")
    reqs = requests_of(tmp_path)
    assert [(q["operation"], q["path"]) for q in reqs] == [
        ("create", "/notes/a.md"), ("write", "/notes/a.md"), ("append", "/notes/a.md"), ("create", "/bin.dat")]
    first = reqs[0]
    assert (first["store"], first["store_id"], first["content"], first["encoding"]) == (
        "team-sre", store.uid, "hello\n", "utf-8")
    assert first["sha256"] == sha(b"hello\n") and first["size"] == 6
    assert first["identity"] == {"agent": "tester", "session": "s-test", "actor": "agent"}
    assert reqs[2]["content"] == "more\n"  # an append's hook sees the appended bytes
    assert reqs[3]["encoding"] == "base64" and base64.b64decode(reqs[3]["content"]) == b"\xff\x00\xfe"
    assert m.read(store, "/notes/a.md") == b"hello again\nmore\n"


def test_refusal_writes_nothing_and_carries_the_reason(m, store, secret_hook):
    m.add_hook(store, secret_hook)
    head = m.head()
    with pytest.raises(errors.HookRefused) as e:
        m.write(store, "/a.md", b"the SECRET is 42\n")
    err = e.value
    assert err.reason == "no secrets here (found SECRET)" and "no secrets here" in err.message
    assert (err.errno, err.http_status, err.error_type, err.exit_code) == (errno.EACCES, 422, "hook_refused_error", 9)
    assert m.lookup(store, "/a.md") is None and m.head() == head
    m.write(store, "/a.md", b"fine\n")
    for call in (lambda: m.write(store, "/a.md", b"SECRET\n"), lambda: m.append(store, "/a.md", b"SECRET\n"),
                 lambda: m.create_file(store, "/b.md", b"SECRET"),
                 lambda: m.update_file(store, m.lookup(store, "/a.md").id, content=b"SECRET")):
        with pytest.raises(errors.HookRefused):
            call()
    assert m.read(store, "/a.md") == b"fine\n" and m.lookup(store, "/b.md") is None


def test_redaction_replaces_the_content_and_is_noted(m, store, secret_hook):
    m.add_hook(store, secret_hook)
    r = m.write(store, "/contacts.md", b"call 555-1234\n")
    assert r.redacted and m.read(store, "/contacts.md") == b"call [phone]\n"
    assert r.node.sha256 == sha(b"call [phone]\n")
    assert m.revision(r.revision.id).message == "redacted by hook 1: phone number"
    r = m.append(store, "/contacts.md", b"or 555-1234\n")
    assert r.redacted and m.read(store, "/contacts.md") == b"call [phone]\nor [phone]\n"
    r = m.create_file(store, "/c2.md", b"555-1234")
    assert m.read(store, "/c2.md") == b"[phone]"


def test_hooks_run_in_order_and_see_earlier_redactions(m, store, hook, tmp_path):
    m.add_hook(store, hook('answer({"decision": "redact", "content": req["content"].upper()})', name="up"))
    m.add_hook(store, hook('answer({"decision": "allow"})', name="seen"))
    m.write(store, "/a.md", b"quiet\n")
    assert m.read(store, "/a.md") == b"QUIET\n"
    assert [q["content"] for q in requests_of(tmp_path, "seen")] == ["QUIET\n"]


def test_identical_content_runs_no_hook(m, store, hook, tmp_path):
    m.write(store, "/a.md", b"same\n")
    m.add_hook(store, hook('answer({"decision": "allow"})'))
    assert m.write(store, "/a.md", b"same\n").revision is None
    assert requests_of(tmp_path) == []
    m.write(store, "/a.md", b"changed\n")
    assert len(requests_of(tmp_path)) == 1


def test_hooks_are_per_store(m, store, secret_hook):
    other = m.create_store("other")
    m.add_hook(store, secret_hook)
    m.write(other, "/a.md", b"SECRET\n")
    assert m.read(other, "/a.md") == b"SECRET\n"


@pytest.mark.parametrize("command, why", [
    ("sleep 30", "timed out after 0.5s"),
    ("exit 3", "exited with status 3"),
    ("echo garbage", "not JSON"),
    ("echo '{\"decision\": \"maybe\"}'", "without a decision"),
    ("echo '{\"decision\": \"redact\"}'", "redact without content"),
    ("kill -9 $$", "killed by signal 9"),
])
def test_a_failing_hook_fails_closed_by_default(m, store, command, why):
    m.add_hook(store, command, timeout=0.5)
    t = time.monotonic()
    with pytest.raises(errors.HookRefused) as e:
        m.write(store, "/a.md", b"x\n")
    assert time.monotonic() - t < 5
    assert why in e.value.reason and "fails closed" in e.value.message
    assert m.lookup(store, "/a.md") is None


def test_a_failing_hook_that_fails_open_lets_the_write_through(m, store, caplog):
    m.add_hook(store, "sleep 30", timeout=0.5, fail="open")
    m.add_hook(store, "echo garbage", fail="open")
    t = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="memfs.hooks"):
        r = m.write(store, "/a.md", b"x\n")
    assert time.monotonic() - t < 5
    assert r.revision is not None and m.read(store, "/a.md") == b"x\n"
    msgs = [rec.getMessage() for rec in caplog.records]
    assert any("timed out after 0.5s" in s and "allowed" in s for s in msgs)
    assert any("not JSON" in s and "allowed" in s for s in msgs)


def test_a_timed_out_hook_is_killed_with_its_children(m, store, tmp_path):
    marker = tmp_path / "survivor"
    m.add_hook(store, f"(sleep 2; touch {marker}) & sleep 30", timeout=0.3, fail="open")
    m.write(store, "/a.md", b"x\n")
    time.sleep(2.5)
    assert not marker.exists()


def test_a_slow_hook_holds_no_database_lock(db_path, m, store, tmp_path, hook):
    """While a writer waits for its hook, other connections read and write at once."""
    started = tmp_path / "started"
    m.add_hook(store, hook(f"""
        open({str(started)!r}, "w").close()
        time.sleep(3)
        answer({{"decision": "allow"}})
    """))
    m.write(m.create_store("other"), "/x.md", b"x\n")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from memfs import Memfs\n"
        "Memfs(sys.argv[1]).write('team-sre', '/slow.md', b'slow\\n')\n"), db_path])
    try:
        deadline = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < deadline and writer.poll() is None, "the hook never started"
            time.sleep(0.02)
        with Memfs(db_path, busy_timeout=0.5) as other:
            t = time.monotonic()
            assert other.read("other", "/x.md") == b"x\n"
            other.write("other", "/y.md", b"written while the hook runs\n")
            assert time.monotonic() - t < 1
        assert writer.poll() is None  # the hook was still running all along
    finally:
        assert writer.wait(20) == 0
    assert m.read(store, "/slow.md") == b"slow\n"


def test_manage_hooks(m, store):
    h = m.add_hook(store, "true", timeout=2, fail="open")
    assert (h.store_name, h.event, h.command, h.timeout, h.fail) == ("team-sre", "write", "true", 2.0, "open")
    other = m.create_store("other")
    h2 = m.add_hook(other, "true")
    assert (h2.timeout, h2.fail) == (5.0, "closed")
    assert [x.id for x in m.hooks()] == [h2.id, h.id]  # by store name, then in run order
    assert [x.id for x in m.hooks(store)] == [h.id]
    for bad in (dict(on="delete"), dict(fail="maybe"), dict(timeout=0), dict(timeout=1000), dict(timeout="x")):
        with pytest.raises(errors.InvalidInput):
            m.add_hook(store, "true", **bad)
    with pytest.raises(errors.InvalidInput):
        m.add_hook(store, "   ")
    assert m.remove_hook(h.id).id == h.id and m.hooks(store) == []
    with pytest.raises(errors.NotFound):
        m.remove_hook(h.id)
    m.delete_store(other)
    assert m.hooks() == []


def test_revert_restores_without_hooks(m, store, secret_hook):
    """Reverting brings back content the store already held; hooks added since do not block it."""
    r1 = m.write(store, "/a.md", b"old SECRET\n")
    m.write(store, "/a.md", b"new\n")
    m.add_hook(store, secret_hook)
    m.revert(store, r1.revision.id, "/a.md")
    assert m.read(store, "/a.md") == b"old SECRET\n"


def test_identity_of_the_writer_reaches_the_hook(db_path, store, hook, tmp_path):
    with Memfs(db_path, identity=Identity(agent="bob", session="s-9", actor="api")) as mb:
        mb.add_hook("team-sre", hook('answer({"decision": "allow"})'))
        mb.write("team-sre", "/a.md", b"x")
    assert requests_of(tmp_path)[0]["identity"] == {"agent": "bob", "session": "s-9", "actor": "api"}


def test_a_hook_refusal_is_recorded_without_its_content(m, store):
    """record_conflict(hook_id=...) keeps who, when, which hook and why; content given anyway is
    dropped, and no blob is made of it."""
    m.write(store, "/f.md", b"v1\n")
    blobs = m.db.one("SELECT COUNT(*) FROM blobs")[0]
    c = m.record_conflict(store, "/f.md", b"AKIA-SECRET\n", base_sha256=sha(b"v1\n"),
                          reason="refused by write hook 3: pii-scan found AWS access key on line 1", hook_id=3)
    assert (c.sha256, c.hook_id, c.agent, c.session, c.refused_by_hook) == (None, 3, "tester", "s-test", True)
    assert c.current_sha256 == sha(b"v1\n") and c.created_at <= time.time()
    assert m.db.one("SELECT COUNT(*) FROM blobs")[0] == blobs
    [back] = m.conflicts(store)
    assert back == c
    # a stale write (no hook) still keeps its content, to merge from
    s = m.record_conflict(store, "/f.md", b"mine\n", base_sha256=None, reason="stale")
    assert (s.sha256, s.hook_id, s.refused_by_hook) == (sha(b"mine\n"), None, False) and m.blob(s.sha256) == b"mine\n"


@pytest.mark.sqlite_only
def test_m008_drops_content_kept_of_earlier_hook_refusals(db_path):
    """A database from before m008 kept the content of writes its hooks refused: the migration
    deletes it (unless something else still refers to the same bytes) and keeps the record."""
    with Memfs(db_path, identity=Identity(agent="old", actor="agent")) as m:
        m.create_store("legacy")
        m.write("legacy", "/kept.md", b"shared bytes\n")
        secret = m.record_conflict("legacy", "/a.md", b"AKIA0000SECRET\n", base_sha256=None,
                                   reason="refused by write hook 1: pii-scan found AWS access key on line 1")
        shared = m.record_conflict("legacy", "/b.md", b"shared bytes\n", base_sha256=None,
                                   reason="refused by write hook 1: no")
        stale = m.record_conflict("legacy", "/c.md", b"stale bytes\n", base_sha256=None, reason="stale")
        m.db.conn.executescript("ALTER TABLE conflicts DROP COLUMN hook_id;"
                                " DELETE FROM _memfs_migrations WHERE name = 'm008_hook_refusals';")
    with Memfs(db_path) as m:
        assert "m008_hook_refusals" in m.db.migrations()
        got = {c.path: c for c in m.conflicts("legacy")}
        assert got["/a.md"].sha256 is None and got["/a.md"].refused_by_hook and got["/a.md"].hook_id is None
        assert got["/a.md"].reason == secret.reason
        assert m.db.one("SELECT COUNT(*) FROM blobs WHERE sha256 = ?", (secret.sha256,))[0] == 0
        assert got["/b.md"].sha256 is None and m.read("legacy", "/kept.md") == b"shared bytes\n"
        assert got["/c.md"].sha256 == stale.sha256 and m.blob(stale.sha256) == b"stale bytes\n"
        assert shared.sha256 == sha(b"shared bytes\n")
