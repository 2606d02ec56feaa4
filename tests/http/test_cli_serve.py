"""`memfs keys create|list|revoke` and `memfs serve`, run as a user runs them."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import anthropic
import pytest

from memfs import Memfs, errors
from memfs.http import check_bind, is_loopback

# the memfs command, as its console script runs it (not `python -m memfs.cli`)
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]


@pytest.fixture
def stores(ok):
    ok("store", "create", "team-sre")
    ok("store", "create", "other")




@pytest.mark.sqlite_only  # reads the database file's bytes
def test_keys_create_list_revoke(ok, fails, stores, db_path):
    r = ok("keys", "create", "--store", "team-sre=ro", "--store", "other=rw", "--name", "ci")
    secret = r.stdout.strip()
    assert secret.startswith("sk-memfs-") and len(r.stdout.splitlines()) == 1
    assert "shown only now" in r.stderr
    root = ok("keys", "create", "--all-stores").stdout.strip()
    ro_all = ok("keys", "create", "--all-stores=ro", "--store", "other=rw").stdout.strip()
    assert len({secret, root, ro_all}) == 3

    keys = json.loads(ok("keys", "list", "--json").stdout)
    assert [k["name"] for k in keys][0] == "ci" and len(keys) == 3
    ci = keys[0]
    assert ci["id"].startswith("apikey_") and ci["stores"] == {"team-sre": "ro", "other": "rw"}
    assert ci["all_stores"] is None and ci["revoked_at"] is None
    assert (keys[1]["all_stores"], keys[1]["stores"]) == ("rw", {})
    assert (keys[2]["all_stores"], keys[2]["stores"]) == ("ro", {"other": "rw"})
    listing = ok("keys", "list").stdout
    assert "ci" in listing and "team-sre=ro" in listing and "*=rw" in listing
    assert all(s not in listing + json.dumps(keys) for s in (secret, root, ro_all))
    # only a hash is kept
    ok("store", "rename", "team-sre", "sre")  # scopes follow the store, not its name
    assert json.loads(ok("keys", "list", "--json").stdout)[0]["stores"] == {"sre": "ro", "other": "rw"}
    with Memfs(db_path) as m:
        m.vacuum()
        assert m.authenticate(secret).id == ci["id"] and m.authenticate(secret + "x") is None
    raw = open(db_path, "rb").read()
    assert all(s.encode() not in raw for s in (secret, root, ro_all))

    assert ok("keys", "revoke", "ci").stdout.strip() == f"revoked API key {ci['id']} (ci)"
    ok("keys", "revoke", keys[1]["id"])
    assert [k["name"] for k in json.loads(ok("keys", "list", "--json").stdout)] == [keys[2]["name"]]
    every = json.loads(ok("keys", "list", "--all", "--json").stdout)
    assert len(every) == 3 and every[0]["revoked_at"]
    with Memfs(db_path) as m:
        assert m.authenticate(secret) is None and m.authenticate(ro_all) is not None

    fails(errors.InvalidInput.exit_code, "keys", "create")
    fails(errors.InvalidInput.exit_code, "keys", "create", "--store", "other")
    fails(errors.InvalidInput.exit_code, "keys", "create", "--store", "other=admin")
    fails(errors.StoreNotFound.exit_code, "keys", "create", "--store", "nope=rw")
    fails(errors.NotFound.exit_code, "keys", "revoke", "apikey_nope")
    assert "--all-stores" in ok("keys", "create", "--help").stdout


def test_serve_refuses_an_open_server_beyond_loopback(fails, ok, stores, db_path):
    for host in ("0.0.0.0", "192.0.2.10", "::", "example.org"):
        line = fails(errors.NotPermitted.exit_code, "serve", "--host", host, "--port", "1").stderr.strip()
        assert "without API keys" in line and "memfs keys create" in line
    assert is_loopback("127.0.0.1") and is_loopback("127.3.4.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
    ok("keys", "create", "--store", "other=ro")
    with Memfs(db_path) as m:
        check_bind(m, "0.0.0.0")  # with a key the server is closed: fine to bind anywhere
        m.revoke_api_key(m.api_keys()[0].id)
        with pytest.raises(errors.NotPermitted):
            check_bind(m, "0.0.0.0")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_memfs_serve_as_a_process(ok, stores, db_path, tmp_path):
    key = ok("keys", "create", "--store", "team-sre=rw").stdout.strip()
    port = free_port()
    env = {**os.environ, "MEMFS_DB": db_path}
    log = open(tmp_path / "serve.log", "w+")
    p = subprocess.Popen([*MEMFS, "serve", "--port", str(port)], env=env,
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        client = anthropic.Anthropic(api_key=key, base_url=f"http://127.0.0.1:{port}", max_retries=0)
        deadline = time.monotonic() + 15
        while True:
            try:
                stores = client.beta.memory_stores.list()
                break
            except anthropic.APIConnectionError:
                assert p.poll() is None and time.monotonic() < deadline, open(tmp_path / "serve.log").read()
                time.sleep(0.05)
        assert [s.name for s in stores] == ["team-sre"]
        mem = client.beta.memory_stores.memories.create(stores.data[0].id, path="/hello.md", content="hi")
        with Memfs(db_path) as m:
            assert m.read("team-sre", "/hello.md") == b"hi"
        assert client.beta.memory_stores.memories.retrieve(mem.id, memory_store_id=stores.data[0].id).content == "hi"
        openapi = json.loads(subprocess.run(
            [sys.executable, "-c", f"import urllib.request; print(urllib.request.urlopen("
                                   f"'http://127.0.0.1:{port}/openapi.json').read().decode())"],
            capture_output=True, text=True, timeout=20).stdout)
        assert "/v1/memory_stores/{memory_store_id}/memories" in openapi["paths"]
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    out = open(tmp_path / "serve.log").read()
    assert p.returncode == 0, out
    assert f"memfs API on http://127.0.0.1:{port}" in out and "1 API keys" in out
    assert "Traceback" not in out and "ERROR" not in out


def test_a_connection_opened_later_keeps_earlier_ones_safe(db_path):
    """The server opens connections as its threads need them. Opening one must not drop the
    POSIX locks of those already open (closing any descriptor of the file would): otherwise
    another process closing its last connection deletes the WAL under them and their commits
    vanish."""
    first = Memfs(db_path)
    first.create_store("s")
    second = Memfs(db_path)  # opened while `first` is open, as a new server thread does
    code = "import sys; from memfs import Memfs; Memfs(sys.argv[1]).close()"
    subprocess.run([sys.executable, "-c", code, db_path], check=True, timeout=30)  # another process comes and goes
    first.write("s", "/kept.md", b"still here")
    with Memfs(db_path) as third:
        assert third.read("s", "/kept.md") == b"still here"
    first.close()
    second.close()


def test_serve_on_a_busy_port_says_so(ok, db_path):
    """Issue 17: the banner came first, then a failure with exit 3 ("not found"). Now: one line
    naming the port, exit 1, no banner."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = subprocess.run([*MEMFS, "--db", db_path, "serve", "--port", str(port)], capture_output=True, text=True,
                           timeout=60)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == f"Error: port {port} is in use on 127.0.0.1 (another server? try --port)\n"


def test_the_banner_comes_once_listening(ok, db_path):
    port = free_port()
    p = subprocess.Popen([*MEMFS, "--db", db_path, "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        assert line.startswith(f"memfs API on http://127.0.0.1:{port} "), line
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # at once: no retry
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/memory_stores", timeout=30) as r:
            assert r.status == 200
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
    assert p.returncode == 0
