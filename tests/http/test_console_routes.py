"""The routes the web console reads (/v1/memfs/…), the dream reject and revert routes, and the
page itself: each a thin view of one Memfs call, under the same keys and scopes as the rest."""

import pytest

from httphelpers import raw_error
from memfs import Identity, dream
from planted import DISK, DISK_BOB

ALICE = Identity(agent="alice", session="s-alice", actor="agent")
BOB = Identity(agent="bob", session="s-bob", actor="agent")


@pytest.fixture
def seeded(m, store):
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=ALICE)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=BOB)
    m.write(store, "/a.md", b"one\n", identity=ALICE)
    m.write(store, "/a.md", b"one\ntwo\n", identity=BOB)
    job = dream.run(m, store, engine="local", since=0.0).job
    other = m.create_store("other")
    return store, job, other


def get(server, path, key=None):
    code, body, _ = server.raw("GET", path, key=key)
    assert code == 200, (path, code, body)
    return body


def test_page_and_assets(server):
    code, body, headers = server.raw("GET", "/")
    assert code == 200 and b"/console/app.js" in body and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    code, body, headers = server.raw("GET", "/console/app.js")
    assert code == 200 and headers["content-type"].startswith("text/javascript") and b"x-api-key" in body
    raw_error(server.raw("GET", "/console/../app.py"), 404, "not_found_error")
    raw_error(server.raw("GET", "/console/secret.txt"), 404, "not_found_error")


def test_reads(server, m, seeded):
    store, job, _ = seeded
    S = f"/v1/memfs/stores/{store.uid}"
    listed = get(server, "/v1/memfs/stores")["data"]
    me = next(s for s in listed if s["id"] == store.uid)
    assert me["access"] == "rw" and me["usage"] == m.usage(store) and me["last_agent"] == "bob"
    assert [e["path"] for e in get(server, S + "/tree")["data"]] == [
        "/a.md", "/notes", "/notes/disk-alerts.md", "/runbooks", "/runbooks/disk.md"]
    f = get(server, S + "/file?path=/a.md")
    assert f["content"] == "one\ntwo\n" and f["sha256"] == m.stat(store, "/a.md").sha256
    hist = m.history(store, "/a.md")
    assert get(server, S + f"/file?path=/a.md&rev={hist[1].id}")["content"] == "one\n"
    h = get(server, S + "/history?path=/a.md")["data"]
    assert [(r["id"], r["agent"], r["session"], r["version_id"]) for r in h] == [
        (r.id, r.agent, r.session, f"memver_{r.id}") for r in hist]
    d = get(server, S + f"/diff?path=/a.md&a={hist[1].id}&b={hist[0].id}")["diff"]
    assert d == m.diff(store, "/a.md", hist[1].id, hist[0].id) and "+two\n" in d
    assert [(x["text"], x["agent"]) for x in get(server, S + "/blame?path=/a.md")["lines"]] == [
        ("one", "alice"), ("two", "bob")]
    log = get(server, S + "/log?agent=bob&op=write")["data"]
    assert [r["id"] for r in log] == [hist[0].id]
    assert get(server, S + "/log?since=2099-01-01T00:00:00Z")["data"] == []
    assert get(server, S + "/log?limit=1")["more"] is True
    act = get(server, S + "/activity?hours=2")
    total = {}
    for b in act["buckets"]:  # two hours: the writes may straddle an hour
        for agent, n in b["counts"].items():
            total[agent] = total.get(agent, 0) + n
    # each agent: a file, its directory, /a.md once; tester: the store's root
    assert len(act["buckets"]) == 2 and total == {"alice": 3, "bob": 3, "tester": 1}
    hits = get(server, S + "/search?q=two|one&history=true")["data"]
    assert [(x["path"], x["line"], x["rev"]) for x in hits] == [
        ("/a.md", 1, hist[1].id), ("/a.md", 1, hist[0].id), ("/a.md", 2, hist[0].id)]
    assert get(server, S + "/conflicts")["data"] == []


@pytest.mark.parametrize("path,status,etype", [
    ("/search?q=(", 400, "invalid_request_error"),
    ("/search?q=", 400, "invalid_request_error"),
    ("/history?path=relative.md", 400, "invalid_request_error"),
    ("/history?path=/nope.md", 404, "not_found_error"),
    ("/file?path=/notes", 409, "invalid_request_error"),
    ("/blame?path=/notes", 409, "invalid_request_error"),
    ("/log?since=yesterday", 400, "invalid_request_error"),
    ("/log?op=explode", 400, "invalid_request_error"),
    ("/log?agent=%00", 400, "invalid_request_error"),
    ("/diff?path=/a.md&a=-1", 400, "invalid_request_error"),
    ("/activity?hours=0", 400, "invalid_request_error"),
    ("/tree?rev=abc", 400, "invalid_request_error"),
    ("/file?path=/a.md&rev=427671311137104933683200", 400, "invalid_request_error"),  # past SQLite's integers
    ("/diff?path=/a.md&b=99999999999999999999", 400, "invalid_request_error"),
    ("/conflicts?session=a&session=b", 400, "invalid_request_error"),  # one value each, not the last one
])
def test_bad_input_is_a_4xx(server, seeded, path, status, etype):
    store = seeded[0]
    raw_error(server.raw("GET", f"/v1/memfs/stores/{store.uid}{path}"), status, etype)


def test_scopes(server, m, seeded, admin):
    store, job, other = seeded
    ro = admin(stores={store.name: "ro"}, name="auditor")
    raw_error(server.raw("GET", "/v1/memfs/whoami"), 401, "authentication_error")
    who = get(server, "/v1/memfs/whoami", ro)
    assert who["key"]["name"] == "auditor" and who["stores"] == {store.uid: "ro"} and not who["can_create_stores"]
    assert [s["id"] for s in get(server, "/v1/memfs/stores", ro)["data"]] == [store.uid]
    assert get(server, f"/v1/memfs/stores/{store.uid}/history?path=/a.md", ro)["data"]
    for tail in ("tree", "log", "conflicts", "activity", "search?q=x", "history?path=/a.md"):
        raw_error(server.raw("GET", f"/v1/memfs/stores/{other.uid}/{tail}", key=ro), 404, "not_found_error")
    for action in ("reject", "revert"):
        raw_error(server.raw("POST", f"/v1/dreams/{job.id}/{action}", {}, key=ro), 403, "permission_error")
    assert m.dream_job(job.id).review == "proposed"


def test_reject_and_revert(server, m, seeded):
    store, job, _ = seeded
    raw_error(server.raw("POST", f"/v1/dreams/{job.id}/revert", {}), 409, "invalid_request_error")  # nothing applied
    code, body, _ = server.raw("POST", f"/v1/dreams/{job.id}/apply", {})
    assert code == 200 and len(body["applied"]) == 2
    raw_error(server.raw("POST", f"/v1/dreams/{job.id}/reject"), 409, "invalid_request_error")  # applied: revert it
    code, body, _ = server.raw("POST", f"/v1/dreams/{job.id}/revert", {"dry_run": True})
    assert code == 200 and body["dry_run"] and m.lookup(store, "/notes/disk-alerts.md") is None
    code, body, _ = server.raw("POST", f"/v1/dreams/{job.id}/revert", {})
    assert code == 200 and sorted(body["reverted"]) == ["/notes/disk-alerts.md", "/runbooks/disk.md"], body
    assert body["dream"]["memfs"]["review"] == "reverted" and m.read(store, "/runbooks/disk.md") == DISK.encode()
    again = dream.run(m, store, engine="local", since=0.0).job
    code, body, _ = server.raw("POST", f"/v1/dreams/{again.id}/reject")
    assert code == 200 and body["memfs"]["review"] == "rejected"
    raw_error(server.raw("POST", f"/v1/dreams/{again.id}/apply", {}), 409, "invalid_request_error")
    raw_error(server.raw("POST", "/v1/dreams/drm_nope/reject"), 404, "not_found_error")
