"""Bad input gets the right status and error type in Anthropic's envelope, never a 500, and
changes nothing: malformed JSON, wrong types, paths breaking the rules, content over the limit,
unknown ids, bad cursors and parameters."""

import base64
import json

import anthropic
import pytest

from httphelpers import api_error, raw_error
from memfs import Memfs

BAD_PATHS = [
    "", "a.md", "/", "/a/", "//a", "/a//b", "/./a", "/a/./b", "/a/../b", "/..", "/a\x00b", "/a\x07b", "/a\nb",
    "/a\u200bb",  # a format character
    "/a\u2028b", "/a\u2029b",  # line and paragraph separators
    "/e\u0301.md",  # not NFC
    "/" + "x" * 1024,  # 1,025 bytes
    "/" + "/".join("s" * 21),  # 21 segments
    "/" + "é" * 128,  # a segment over 255 bytes (memfs: a name on the mount is at most 255 bytes)
]


@pytest.fixture
def st(sdk, m):
    """A store with /a.md and /dir/x.md; the raw client's key; the database fingerprint."""
    s = sdk.beta.memory_stores.create(name="bad")
    a = sdk.beta.memory_stores.memories.create(s.id, path="/a.md", content="a")
    x = sdk.beta.memory_stores.memories.create(s.id, path="/dir/x.md", content="x")
    return {"id": s.id, "a": a, "x": x}


@pytest.fixture
def key(root_key):
    return root_key


def fingerprint(db_path):
    with Memfs(db_path) as m:
        return (m.head(), m.db.all("SELECT id, name, description, metadata, archived_at FROM stores"),
                m.db.all("SELECT sha256 FROM blobs ORDER BY sha256"), m.db.all("SELECT id, path FROM nodes"))


@pytest.fixture
def unchanged(db_path):
    from contextlib import contextmanager

    @contextmanager
    def check():
        before = fingerprint(db_path)
        yield
        assert fingerprint(db_path) == before

    return check


def test_malformed_and_mistyped_bodies(server, st, key, unchanged):
    sid = st["id"]
    targets = [("POST", "/v1/memory_stores"), ("POST", f"/v1/memory_stores/{sid}"),
               ("POST", f"/v1/memory_stores/{sid}/memories"),
               ("POST", f"/v1/memory_stores/{sid}/memories/{st['a'].id}"),
               ("PATCH", f"/v1/memory_stores/{sid}/memories/{st['a'].id}")]
    bodies = [b'{"name": ', b"{'name': 'x'}", b"\xff\xfe", b"[]", b'"x"', b"null", b"42", b"name=x"]
    with unchanged():
        for method, path in targets:
            for body in bodies:
                e = raw_error(server.raw(method, path, body, {"content-type": "application/json"}, key=key),
                              400, "invalid_request_error")
                assert "Traceback" not in e["message"]
            if method == "PATCH" or path.endswith(sid):
                continue
            # no body at all
            raw_error(server.raw(method, path, key=key), 400, "invalid_request_error")
        post = lambda path, body: server.raw("POST", path, body, key=key)  # noqa: E731
        for body in ({}, {"name": 5}, {"name": None}, {"name": "x", "metadata": "m"}, {"name": "x", "metadata": {"k": 1}},
                     {"name": "x", "metadata": ["k"]}, {"name": "x", "description": 3}, {"name": "x", "extra": 1},
                     {"name": ["x"]}, {"name": {"x": 1}}, {"name": True}):
            raw_error(post("/v1/memory_stores", body), 400, "invalid_request_error")
        mems = f"/v1/memory_stores/{sid}/memories"
        for body in ({}, {"path": "/n.md"}, {"content": "c"}, {"path": "/n.md", "content": None},
                     {"path": 5, "content": "c"}, {"path": "/n.md", "content": 5}, {"path": "/n.md", "content": ["c"]},
                     {"path": "/n.md", "content": "c", "precondition": None, "x": 1}, {"path": None, "content": "c"}):
            raw_error(post(mems, body), 400, "invalid_request_error")
        one = f"{mems}/{st['a'].id}"
        for body in ({"content": 5}, {"path": 5}, {"precondition": {"type": "etag", "content_sha256": "0" * 64}},
                     {"content": "x", "precondition": {"type": "content_sha256"}},
                     {"content": "x", "precondition": {"type": "content_sha256", "content_sha256": "xyz"}},
                     {"content": "x", "precondition": {"type": "content_sha256", "content_sha256": "g" * 64}},
                     {"content": "x", "precondition": "abc"}, {"unknown": "x"}):
            raw_error(post(one, body), 400, "invalid_request_error")


def test_lone_surrogates_are_refused(server, st, key, unchanged):
    """JSON can carry a lone UTF-16 surrogate (\\ud800), which is not text; SQLite cannot store it."""
    sid = st["id"]
    cases = [("/v1/memory_stores", b'{"name": "x\\ud800"}'),
             ("/v1/memory_stores", b'{"name": "x", "description": "\\udfff"}'),
             ("/v1/memory_stores", b'{"name": "x", "metadata": {"k\\ud800": "v"}}'),
             (f"/v1/memory_stores/{sid}", b'{"metadata": {"k": "\\ud800"}}'),
             (f"/v1/memory_stores/{sid}/memories", b'{"path": "/x\\ud800.md", "content": "c"}'),
             (f"/v1/memory_stores/{sid}/memories", b'{"path": "/y.md", "content": "c\\ud800"}'),
             (f"/v1/memory_stores/{sid}/memories/{st['a'].id}", b'{"content": "\\ud800"}'),
             (f"/v1/memory_stores/{sid}/memories/{st['a'].id}", b'{"path": "/\\ud800"}')]
    with unchanged():
        for path, body in cases:
            raw_error(server.raw("POST", path, body, {"content-type": "application/json"}, key=key),
                      400, "invalid_request_error")


def test_paths_breaking_the_rules(sdk, st, unchanged):
    mem = sdk.beta.memory_stores.memories
    with unchanged():
        for path in BAD_PATHS:
            with pytest.raises(anthropic.BadRequestError) as e:
                mem.create(st["id"], path=path, content="c")
            api_error(e, 400, "invalid_request_error")
            with pytest.raises(anthropic.BadRequestError) as e:
                mem.update(st["a"].id, memory_store_id=st["id"], path=path)
            api_error(e, 400, "invalid_request_error")
            if path not in ("", "/", "/a/"):  # fine as prefixes
                with pytest.raises(anthropic.BadRequestError) as e:
                    mem.list(st["id"], path_prefix=path if path.endswith("/") else path + "/")
                api_error(e, 400, "invalid_request_error")


def test_paths_at_the_limits_are_fine(sdk, st):
    mem = sdk.beta.memory_stores.memories
    # 1,024 bytes; segments stay within 255 bytes, the mount's limit for a name (NAME_MAX)
    for path in ("/" + "/".join(["x" * 255] * 4), "/" + "/".join("s" * 20), "/" + "é" * 127, "/ünïcödé/日本語.md", "/a b/c-d_e.f"):
        got = mem.create(st["id"], path=path, content="ok")
        assert got.path == path and mem.retrieve(got.id, memory_store_id=st["id"]).path == path
    with pytest.raises(anthropic.BadRequestError):
        mem.list(st["id"], path_prefix="/dir")  # a prefix must end with '/'


def test_paths_that_collide_with_files_or_directories(sdk, st, unchanged):
    mem = sdk.beta.memory_stores.memories
    with unchanged():
        with pytest.raises(anthropic.ConflictError) as e:  # a file stands where a directory would be
            mem.create(st["id"], path="/a.md/b.md", content="c")
        assert api_error(e, 409, "memory_path_conflict_error")["conflicting_memory_id"] == st["a"].id
        with pytest.raises(anthropic.ConflictError) as e:  # a directory of other memories
            mem.create(st["id"], path="/dir", content="c")
        assert "conflicting_memory_id" not in api_error(e, 409, "memory_path_conflict_error")
        with pytest.raises(anthropic.ConflictError) as e:
            mem.update(st["x"].id, memory_store_id=st["id"], path="/a.md/x.md")
        assert api_error(e, 409, "memory_path_conflict_error")["conflicting_memory_id"] == st["a"].id
        with pytest.raises(anthropic.ConflictError):
            mem.update(st["a"].id, memory_store_id=st["id"], path="/dir")


def test_content_over_the_limit(sdk, server, st, key, unchanged):
    mem = sdk.beta.memory_stores.memories
    limit = 102_400
    assert mem.create(st["id"], path="/max.md", content="x" * limit).content_size_bytes == limit
    assert mem.create(st["id"], path="/max-utf8.md", content="é" * (limit // 2)).content_size_bytes == limit
    with unchanged():
        for content in ("x" * (limit + 1), "é" * (limit // 2) + "x"):
            with pytest.raises(anthropic.APIStatusError) as e:
                mem.create(st["id"], path="/big.md", content=content)
            api_error(e, 413, "request_too_large")
            with pytest.raises(anthropic.APIStatusError) as e:
                mem.update(st["a"].id, memory_store_id=st["id"], content=content)
            api_error(e, 413, "request_too_large")
        # a body beyond any content limit is refused before it is parsed
        huge = b'{"path": "/h.md", "content": "' + b"x" * (8 * 1024 * 1024) + b'"}'
        raw_error(server.raw("POST", f"/v1/memory_stores/{st['id']}/memories", huge,
                             {"content-type": "application/json"}, key=key), 413, "request_too_large")


def test_store_fields_breaking_the_rules(sdk, unchanged):
    ms = sdk.beta.memory_stores
    with unchanged():
        for kw in ({"name": ""}, {"name": "   "}, {"name": "a\x00b"}, {"name": "x" * 256},
                   {"name": "ok", "description": "d" * 1025},
                   {"name": "ok", "metadata": {f"k{i}": "v" for i in range(17)}},
                   {"name": "ok", "metadata": {"k" * 65: "v"}}, {"name": "ok", "metadata": {"": "v"}},
                   {"name": "ok", "metadata": {"k": "v" * 513}}):
            with pytest.raises(anthropic.BadRequestError) as e:
                ms.create(**kw)
            api_error(e, 400, "invalid_request_error")
    s = ms.create(name="x" * 255, description="d" * 1024, metadata={f"k{i}": "v" * 512 for i in range(16)})
    with pytest.raises(anthropic.BadRequestError):
        ms.update(s.id, metadata={"k16": "one too many"})
    with pytest.raises(anthropic.ConflictError) as e:  # memfs store names are unique
        ms.create(name="x" * 255)
    api_error(e, 409, "invalid_request_error")


def test_unknown_ids(sdk, server, st, key, unchanged):
    ms = sdk.beta.memory_stores
    sid = st["id"]
    with unchanged():
        for bad_store in ("memstore_" + "0" * 24, "memstore_xyz", "bad", "memstore_" + "0" * 25, "%00"):
            for fn in (lambda: ms.retrieve(bad_store), lambda: ms.update(bad_store, name="n"),
                       lambda: ms.delete(bad_store), lambda: ms.archive(bad_store),
                       lambda: ms.memories.list(bad_store), lambda: ms.memory_versions.list(bad_store)):
                with pytest.raises(anthropic.NotFoundError) as e:
                    fn()
                api_error(e, 404, "not_found_error")
        for bad_mem in ("mem_0", "mem_007", "mem_abc", "mem_99999999", "mem_-1", "mem_" + "9" * 30, "memver_3",
                        st["id"]):
            for fn in (lambda: ms.memories.retrieve(bad_mem, memory_store_id=sid),
                       lambda: ms.memories.update(bad_mem, memory_store_id=sid, content="x"),
                       lambda: ms.memories.delete(bad_mem, memory_store_id=sid)):
                with pytest.raises(anthropic.NotFoundError) as e:
                    fn()
                api_error(e, 404, "not_found_error")
        root_mkdir = "memver_1"  # a revision, but of a directory: not a memory version
        for bad_ver in ("memver_0", "memver_99999999", "memver_x", root_mkdir, st["a"].id):
            for fn in (lambda: ms.memory_versions.retrieve(bad_ver, memory_store_id=sid),
                       lambda: ms.memory_versions.redact(bad_ver, memory_store_id=sid)):
                with pytest.raises(anthropic.NotFoundError) as e:
                    fn()
                api_error(e, 404, "not_found_error")
        for bad in ("mem_x", "memver_2", ""):
            with pytest.raises(anthropic.BadRequestError) as e:
                ms.memory_versions.list(sid, memory_id=bad)
            api_error(e, 400, "invalid_request_error")
    raw_error(server.raw("GET", "/v1/nothing", key=key), 404, "not_found_error")
    raw_error(server.raw("GET", "/v1", key=key), 404, "not_found_error")  # (/ is the web console)
    raw_error(server.raw("PUT", "/v1/memory_stores", key=key), 405, "invalid_request_error")
    raw_error(server.raw("DELETE", f"/v1/memory_stores/{sid}/memory_versions", key=key), 405,
              "invalid_request_error")


def cursor(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def test_bad_cursors_and_parameters(sdk, st, server, key):
    ms = sdk.beta.memory_stores
    sid = st["id"]
    for i in range(3):
        ms.memories.create(sid, path=f"/p/{i}.md", content=str(i))
    store_cursor = ms.list(limit=1).next_page or cursor({"k": "memory_stores", "s": "", "v": 1})
    mem_cursor = ms.memories.list(sid, limit=1, path_prefix="/p/").next_page
    ver_cursor = ms.memory_versions.list(sid, limit=1).next_page
    assert mem_cursor and ver_cursor
    listings = {
        "stores": lambda page: ms.list(page=page),
        "memories": lambda page: ms.memories.list(sid, page=page),
        "memories /p/": lambda page: ms.memories.list(sid, page=page, path_prefix="/p/"),
        "versions": lambda page: ms.memory_versions.list(sid, page=page),
    }
    good = {"stores": store_cursor, "memories /p/": mem_cursor, "versions": ver_cursor}
    bad = ["garbage", "!!!", "é", "x" * 5000, cursor([1, 2]), cursor({"k": "memories"}), cursor("str"),
           cursor({"k": "memories", "s": sid, "v": 5}), cursor({"k": "memory_versions", "s": sid, "v": "x"}),
           cursor({"k": "memory_stores", "s": "", "v": "x"}), store_cursor, mem_cursor, ver_cursor]
    for name, fn in listings.items():
        for page in bad:
            if good.get(name) == page:
                fn(page)  # its own cursor works
                continue
            with pytest.raises(anthropic.BadRequestError) as e:
                fn(page)
            api_error(e, 400, "invalid_request_error")

    base = f"/v1/memory_stores/{sid}"
    for path, query in [("/v1/memory_stores", "limit=0"), ("/v1/memory_stores", "limit=101"),
                        ("/v1/memory_stores", "limit=abc"), ("/v1/memory_stores", "include_archived=maybe"),
                        ("/v1/memory_stores", "created_at%5Bgte%5D=yesterday"),
                        ("/v1/memory_stores", "created_at%5Blte%5D=99999-01-01T00:00:00Z"),
                        (base + "/memories", "depth=-1"), (base + "/memories", "depth=21"),
                        (base + "/memories", "view=huge"), (base + "/memories", "limit=0"),
                        (base + "/memories", "path_prefix=notes"), (base + "/memories", "path_prefix=%2Fa%2F%2F"),
                        (base + f"/memories/{st['a'].id}", "view=everything"),
                        (base + "/memory_versions", "operation=exploded"), (base + "/memory_versions", "limit=1000"),
                        (base + "/memory_versions", "created_at%5Bgte%5D=2026-13-45")]:
        raw_error(server.raw("GET", f"{path}?{query}", key=key), 400, "invalid_request_error")
    for q in ("expected_content_sha256=xyz", "expected_content_sha256=" + "g" * 64):
        raw_error(server.raw("DELETE", f"{base}/memories/{st['a'].id}?{q}", key=key), 400, "invalid_request_error")
    assert ms.memories.retrieve(st["a"].id, memory_store_id=sid).content == "a"
