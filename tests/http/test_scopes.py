"""API keys and scopes, for every endpoint: 401 without a valid key, 403 for a write with a
read-only key (nothing written), 404 for a store outside the key's scope, worded exactly as for a
store that does not exist, so that no store's existence leaks."""

import time

import anthropic
import pytest

from httphelpers import api_error, raw_error
from memfs import Memfs

NO_SUCH_STORE = "memstore_" + "0" * 24


@pytest.fixture
def world(server, sdk, admin):
    """Stores A and B with a memory and versions each, and keys of every kind."""
    ms = sdk.beta.memory_stores
    a, b = ms.create(name="A"), ms.create(name="B")
    out = {"a": a, "b": b}
    for name, s in (("a", a), ("b", b)):
        mem = ms.memories.create(s.id, path="/dir/m.md", content=f"in {name}")
        ms.memories.update(mem.id, memory_store_id=s.id, content=f"in {name}, v2")
        out["m" + name] = mem
        out["old" + name], out["cur" + name] = list(ms.memory_versions.list(s.id, memory_id=mem.id))[::-1]
    out["keys"] = {"ro_a": admin(stores={"A": "ro"}), "rw_a": admin(stores={"A": "rw"}),
                   "all_ro": admin(all_stores="ro"), "mixed": admin(stores={"A": "rw"}, all_stores="ro")}
    return out


def calls(w, store, mem_id, ver_id):
    """Every endpoint against one store: name -> (is_write, fn(client))."""
    sid = store if isinstance(store, str) else store.id
    return {
        "retrieve store": (False, lambda c: c.beta.memory_stores.retrieve(sid)),
        "list memories": (False, lambda c: c.beta.memory_stores.memories.list(sid)),
        "retrieve memory": (False, lambda c: c.beta.memory_stores.memories.retrieve(mem_id, memory_store_id=sid)),
        "list versions": (False, lambda c: c.beta.memory_stores.memory_versions.list(sid)),
        "retrieve version": (False, lambda c: c.beta.memory_stores.memory_versions.retrieve(ver_id, memory_store_id=sid)),
        "update store": (True, lambda c: c.beta.memory_stores.update(sid, description="changed")),
        "create memory": (True, lambda c: c.beta.memory_stores.memories.create(sid, path="/new.md", content="n")),
        "update memory": (True, lambda c: c.beta.memory_stores.memories.update(mem_id, memory_store_id=sid,
                                                                              content="changed")),
        "delete memory": (True, lambda c: c.beta.memory_stores.memories.delete(mem_id, memory_store_id=sid)),
        "redact version": (True, lambda c: c.beta.memory_stores.memory_versions.redact(ver_id, memory_store_id=sid)),
        "archive store": (True, lambda c: c.beta.memory_stores.archive(sid)),
        "delete store": (True, lambda c: c.beta.memory_stores.delete(sid)),
    }


def snapshot(db_path):
    with Memfs(db_path) as m:
        return (m.head(), [(s.name, s.description, s.archived_at) for s in m.list_stores()],
                m.db.all("SELECT id, sha256, redacted_at FROM revisions"), m.db.all("SELECT sha256 FROM blobs"))


def test_read_only_key_reads_but_cannot_write_anything(server, world, db_path):
    ro = server.client(world["keys"]["ro_a"])
    before = snapshot(db_path)
    for name, (write, fn) in calls(world, world["a"], world["ma"].id, world["olda"].id).items():
        if write:
            with pytest.raises(anthropic.PermissionDeniedError) as e:
                fn(ro)
            assert "read" in api_error(e, 403, "permission_error")["message"], name
        else:
            fn(ro)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        ro.beta.memory_stores.create(name="mine")
    api_error(e, 403, "permission_error")
    assert snapshot(db_path) == before
    assert [s.name for s in ro.beta.memory_stores.list()] == ["A"]


def test_key_for_a_cannot_learn_that_b_exists(server, world):
    for kind in ("ro_a", "rw_a"):
        c = server.client(world["keys"][kind])
        real = calls(world, world["b"], world["mb"].id, world["oldb"].id)
        fake = calls(world, NO_SUCH_STORE, world["mb"].id, world["oldb"].id)
        for name in real:
            with pytest.raises(anthropic.NotFoundError) as e1:
                real[name][1](c)
            with pytest.raises(anthropic.NotFoundError) as e2:
                fake[name][1](c)
            m1 = api_error(e1, 404, "not_found_error")["message"]
            m2 = api_error(e2, 404, "not_found_error")["message"]
            assert m1.replace(world["b"].id, "ID") == m2.replace(NO_SUCH_STORE, "ID"), name
        assert [s.name for s in c.beta.memory_stores.list(include_archived=True)] == ["A"]
    # B is untouched, and the keys still work on A
    root = server.client(world["keys"]["mixed"])
    assert root.beta.memory_stores.memories.retrieve(world["mb"].id, memory_store_id=world["b"].id).content == "in b, v2"


def test_ids_from_another_store_are_not_found(server, world):
    c = server.client(world["keys"]["rw_a"])
    a = world["a"].id
    for fn in (lambda: c.beta.memory_stores.memories.retrieve(world["mb"].id, memory_store_id=a),
               lambda: c.beta.memory_stores.memories.update(world["mb"].id, memory_store_id=a, content="x"),
               lambda: c.beta.memory_stores.memories.delete(world["mb"].id, memory_store_id=a),
               lambda: c.beta.memory_stores.memory_versions.retrieve(world["oldb"].id, memory_store_id=a),
               lambda: c.beta.memory_stores.memory_versions.redact(world["oldb"].id, memory_store_id=a)):
        with pytest.raises(anthropic.NotFoundError) as e:
            fn()
        api_error(e, 404, "not_found_error")
    assert list(c.beta.memory_stores.memory_versions.list(a, memory_id=world["mb"].id)) == []


def test_read_write_key_writes_only_its_store(server, world, db_path):
    c = server.client(world["keys"]["rw_a"])
    a = world["a"].id
    for name, (write, fn) in calls(world, world["a"], world["ma"].id, world["olda"].id).items():
        fn(c)  # every endpoint works on A, down to deleting it
    with pytest.raises(anthropic.PermissionDeniedError):
        c.beta.memory_stores.create(name="C")  # creating stores needs --all-stores=rw
    with Memfs(db_path) as m:
        assert [s.name for s in m.list_stores()] == ["B"]
    with pytest.raises(anthropic.NotFoundError):
        c.beta.memory_stores.retrieve(a)


def test_all_stores_keys(server, world, sdk):
    ro = server.client(world["keys"]["all_ro"])
    assert {s.name for s in ro.beta.memory_stores.list()} == {"A", "B"}
    with pytest.raises(anthropic.PermissionDeniedError):
        ro.beta.memory_stores.memories.create(world["b"].id, path="/x.md", content="x")
    # stores made later are in an all-stores key's scope too
    c = sdk.beta.memory_stores.create(name="C")
    assert {s.name for s in ro.beta.memory_stores.list()} == {"A", "B", "C"}
    mixed = server.client(world["keys"]["mixed"])  # rw on A, ro everywhere else
    mixed.beta.memory_stores.memories.create(world["a"].id, path="/ok.md", content="ok")
    with pytest.raises(anthropic.PermissionDeniedError):
        mixed.beta.memory_stores.memories.create(c.id, path="/no.md", content="no")


def test_authentication(server, world, db_path):
    every = calls(world, world["a"], world["ma"].id, world["olda"].id)
    before = snapshot(db_path)
    for bad in ("", "sk-memfs-not-a-key", world["keys"]["rw_a"] + "x"):
        c = server.client(bad or "placeholder", default_headers={"Authorization": "Bearer " + bad} if bad else
                          {"Authorization": anthropic.Omit()})
        for name, (_, fn) in every.items():
            with pytest.raises(anthropic.AuthenticationError) as e:
                fn(c)
            api_error(e, 401, "authentication_error")
        with pytest.raises(anthropic.AuthenticationError):
            c.beta.memory_stores.list()
    assert snapshot(db_path) == before
    # the raw header forms: x-api-key and Authorization: Bearer both work
    path = f"/v1/memory_stores/{world['a'].id}"
    assert server.raw("GET", path, headers={"x-api-key": world["keys"]["ro_a"]})[0] == 200
    assert server.raw("GET", path, headers={"Authorization": "Bearer " + world["keys"]["ro_a"]})[0] == 200
    assert server.raw("GET", path, headers={"Authorization": "bearer " + world["keys"]["ro_a"]})[0] == 200
    raw_error(server.raw("GET", path, headers={"Authorization": "Basic " + world["keys"]["ro_a"]}),
              401, "authentication_error")
    raw_error(server.raw("GET", path), 401, "authentication_error")
    raw_error(server.raw("GET", "/v1/memory_stores", headers={"x-api-key": "nope"}), 401, "authentication_error")
    # a malformed Authorization header is refused even beside a good x-api-key
    raw_error(server.raw("GET", path, headers={"x-api-key": world["keys"]["ro_a"], "Authorization": "Bearer"}),
              401, "authentication_error")


def test_revoked_key_stops_working_at_once(server, world, m):
    key = world["keys"]["rw_a"]
    c = server.client(key)
    c.beta.memory_stores.retrieve(world["a"].id)
    kid = next(k.id for k in m.api_keys() if k.scopes == {world["a"].id: "rw"})
    k = m.revoke_api_key(kid)
    with pytest.raises(anthropic.AuthenticationError) as e:
        c.beta.memory_stores.retrieve(world["a"].id)
    err = api_error(e, 401, "authentication_error")
    # issue 17: its holder is told it was revoked, not that it is invalid
    assert err["message"] == (f"API key {kid} ({k.name}) was revoked at "
                              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(k.revoked_at))}: "
                              "ask for a new one (memfs keys create)")
    with pytest.raises(anthropic.AuthenticationError) as e:
        server.client(key + "x").beta.memory_stores.retrieve(world["a"].id)
    assert api_error(e, 401, "authentication_error")["message"] == "invalid API key"


def test_open_without_keys_only_until_the_first_key(server, m):
    """No key configured (loopback only): anyone on the machine may use it, attributed as
    anonymous; once a key exists, every request needs one."""
    c = server.client("anything")
    s = c.beta.memory_stores.create(name="open")
    c.beta.memory_stores.memories.create(s.id, path="/a.md", content="a")
    v = list(c.beta.memory_stores.memory_versions.list(s.id))[0]
    assert v.created_by.api_key_id == "anonymous" and v.model_extra["agent_id"] == "anonymous"
    assert server.raw("GET", "/v1/memory_stores")[0] == 200
    key = m.create_api_key(stores={"open": "ro"})[1]
    raw_error(server.raw("GET", "/v1/memory_stores"), 401, "authentication_error")
    with pytest.raises(anthropic.AuthenticationError):
        c.beta.memory_stores.list()
    assert [x.name for x in server.client(key).beta.memory_stores.list()] == ["open"]


def test_closed_server_without_keys(db_path, server_errors):
    """A server bound beyond loopback never runs open, even if every key gets revoked."""
    from apiserver import Server

    with Memfs(db_path):
        pass
    s = Server(db_path, open_without_keys=False).start()
    try:
        raw_error(s.raw("GET", "/v1/memory_stores"), 401, "authentication_error")
        with pytest.raises(anthropic.AuthenticationError):
            s.client("x").beta.memory_stores.create(name="nope")
    finally:
        s.stop()
    assert not server_errors
