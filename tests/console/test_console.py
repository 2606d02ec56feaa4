"""The web console in a real browser (headless chromium) against a real `memfs serve`: what it
shows is checked in the DOM, what it does is checked in the store through Memfs."""

import http.client
import json

from consoleworld import DNS1, DNS2
from planted import DISK_BOB


def store_hash(world, tab="files", query=""):
    return f"#/s/{world['store'].uid}/{tab}" + (f"?{query}" if query else "")


def cells(page, css):
    """The text of each cell of each row the selector matches."""
    return [[c.text for c in r.find_elements("css selector", "td")] for r in page.all(css)]


def post(served, path, key=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    headers = {"content-type": "application/json", **({"x-api-key": key} if key else {})}
    conn.request("POST", path, body=json.dumps(body or {}), headers=headers)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, data


# ---------------------------------------------------------------- reading


def test_stores_tree_content_and_activity(page, world, docs_shot):
    page.open("#/")
    row = page.find(f"tr[data-store='{world['store'].uid}']")
    assert row.text.split()[:3] == ["team-sre", "rw", "4"]  # name, access, files
    assert {e.get_attribute("data-agent") for e in row.find_elements("css selector", "svg.spark rect.bar")} >= {
        "alice", "bob"}  # this hour's writes in the sparkline
    assert page.find(f"tr[data-store='{world['org'].uid}']").text.startswith("org rw 1")
    docs_shot("stores", page.shot("stores"))
    page.click(f"tr[data-store='{world['store'].uid}'] a.store-link")
    assert page.texts("#tree a") == ["hostile.html", "disk-alerts.md", "disk.md", "dns.md"]
    # the chart: this hour's writes, stacked by agent
    agents = {e.get_attribute("data-agent") for e in page.all("#activity rect.bar")}
    assert {"alice", "bob"} <= agents
    page.click("#tree a[data-path='/runbooks/dns.md']")
    assert page.text("#content") == DNS2.decode().rstrip("\n")
    page.shot("store")


def test_content_is_shown_as_text_never_as_html(page, world):
    page.open(store_hash(world, query="path=/hostile.html"))
    assert page.text("#content").startswith("<img src=x onerror=")
    assert not page.all("#content img") and not page.all("#content script")
    assert page.d.title == "memfs console"


def test_history_diff_between_two_versions_and_blame(page, world, m, docs_shot):
    hist = m.history(world["store"], "/runbooks/dns.md")  # newest first
    page.open(store_hash(world, query="path=/runbooks/dns.md&view=history"))
    rows = page.all("#history tbody tr")
    assert [r.get_attribute("data-rev") for r in rows] == [str(r.id) for r in hist]
    first = [c.text for c in rows[0].find_elements("css selector", "td")]
    assert first[2:7] == [str(hist[0].id), "write", "bob", "s-bob", "agent"] and first[8] == hist[0].sha256[:12]
    assert [c.text for c in rows[1].find_elements("css selector", "td")][2:6] == [str(hist[1].id), "create", "alice",
                                                                                   "s-alice"]
    docs_shot("history", page.shot("history"))
    # pick two versions: older in A, newer in B
    page.click(f"#history input[name=a][value='{hist[1].id}']", wait=False)
    page.click(f"#history input[name=b][value='{hist[0].id}']", wait=False)
    page.click("#diff-selected")
    assert page.find("#file").get_attribute("data-view") == "diff"
    added = page.texts("#diff .line.add")
    assert added == ["+The TTL of internal zones is 300 seconds."], added
    assert not page.texts("#diff .line.del")
    docs_shot("diff", page.shot("diff"))
    # and from nothing to the first version, with the pickers
    page.go(store_hash(world, query=f"path=/runbooks/dns.md&view=diff&a=0&b={hist[1].id}"))
    assert page.texts("#diff .line.add") == ["+" + line for line in DNS1.decode().splitlines()]
    # blame: each line with the revision, agent and session that wrote it
    page.click("a[data-tab=blame]")
    rows = cells(page, "#blame tbody tr")
    assert rows[0][:3] == [str(hist[1].id), "alice", "s-alice"] and rows[0][5] == "# DNS"
    assert rows[-1][:3] == [str(hist[0].id), "bob", "s-bob"]
    assert rows[-1][5] == "The TTL of internal zones is 300 seconds."


def test_audit_log_filters(page, world, m, docs_shot):
    page.open(store_hash(world, "log"))
    all_revs = m.log(world["store"])
    assert len(page.all("#log tbody tr")) == len(all_revs)
    page.find("#log-filters input[name=agent]").send_keys("bob")
    page.click("#log-apply")
    assert "agent=bob" in page.d.current_url
    agents = page.texts("#log td.agent")
    assert agents and set(agents) == {"bob"}
    assert len(agents) == len(m.log(world["store"], agent="bob"))
    docs_shot("log", page.shot("log"))
    # operation and session, through the form too
    page.find("#log-filters input[name=agent]").clear()
    page.find("#log-filters input[name=session]").send_keys("s-alice")
    page.find("#log-filters select[name=op] option[value=write]").click()
    page.click("#log-apply")
    assert page.texts("#log tbody tr") == []  # alice only ever created files
    page.find("#log-filters select[name=op] option[value=create]").click()
    page.click("#log-apply")
    paths = [r.find_elements("css selector", "td")[3].text for r in page.all("#log tbody tr")]
    assert sorted(paths) == ["/runbooks/disk.md", "/runbooks/dns.md"]
    # a time range that holds nothing, then one that holds everything
    page.go(store_hash(world, "log", "since=2099-01-01T00:00:00Z"))
    assert page.all("#log tbody tr") == [] and page.text("#log-count").startswith("0 revisions")
    page.go(store_hash(world, "log", "since=2000-01-01T00:00:00Z&until=2099-01-01T00:00:00Z"))
    assert len(page.all("#log tbody tr")) == len(all_revs)


def test_conflicts_and_search(page, world):
    page.open(store_hash(world, "conflicts"))
    summary = page.text("#conflicts details summary")
    assert "/runbooks/dns.md" in summary and "alice" in summary and "stale" in summary
    page.go(store_hash(world, "search", "q=resolver"))
    rows = cells(page, "#search-results tbody tr")
    assert [r[:3] for r in rows] == [["/runbooks/dns.md", "3", DNS1.decode().splitlines()[2]]]
    page.go(store_hash(world, "search", "q=TTL|resolver&history=true"))
    assert len(page.all("#search-results tbody tr")) == 3  # two versions: line 3 in both, the TTL line in the second


# ---------------------------------------------------------------- dreams


def dream_hash(world):
    return f"#/d/{world['job'].id}"


def test_dream_proposal_side_by_side_apply_all_then_revert(page, world, m, docs_shot):
    s, job = world["store"], world["job"]
    page.open(store_hash(world, "dreams"))
    page.click(f"tr[data-dream='{job.id}'] a.dream-link")
    files = page.all("article.dream-file")
    assert [f.get_attribute("data-path") for f in files] == ["/notes/disk-alerts.md", "/runbooks/disk.md"]
    disk = page.find("article.dream-file[data-path='/runbooks/disk.md']")
    assert "Compressed core dumps in the crash directory can be removed after a week." in \
        [c.text for c in disk.find_elements("css selector", "table.sbs td.add")]
    why = page.find("article.dream-file[data-path='/notes/disk-alerts.md'] .why").text
    assert "merged into /runbooks/disk.md" in why and "agent bob" in why and "[merge_duplicates]" in why
    docs_shot("dream", page.shot("dream", height=1500))
    page.click("#btn-apply-all")
    assert page.status().startswith("applied 2 file(s)"), page.status()
    assert page.text("#dream-review") == "applied"
    assert m.lookup(s, "/notes/disk-alerts.md") is None
    assert "Compressed core dumps" in m.read(s, "/runbooks/disk.md").decode()
    last = m.log(s, limit=1)[0]
    assert last.actor == "dream" and last.dream_job == job.id
    assert m.dream_job(job.id).review == "applied"
    assert not page.all("#btn-apply-all") and not page.all("#btn-reject")
    page.click("#btn-revert")
    assert page.status().startswith("reverted 2 file(s)"), page.status()
    assert m.read(s, "/notes/disk-alerts.md") == DISK_BOB.encode()
    assert m.dream_job(job.id).review == "reverted"


def test_dream_partial_apply(page, world, m):
    s, job = world["store"], world["job"]
    before = m.read(s, "/runbooks/disk.md")
    page.open(dream_hash(world))
    page.click("input.pick[value='/notes/disk-alerts.md']", wait=False)
    page.click("#btn-apply-selected")
    assert page.status().startswith("applied 1 file(s)"), page.status()
    assert m.lookup(s, "/notes/disk-alerts.md") is None and m.read(s, "/runbooks/disk.md") == before
    assert m.dream_job(job.id).review == "partially_applied"
    assert page.text("article.dream-file[data-path='/notes/disk-alerts.md'] .state") == "applied"
    # what is left can still be applied; rejecting an applied dream is not offered
    assert page.all("input.pick[value='/runbooks/disk.md']") and not page.all("#btn-reject")
    page.click("#btn-apply-all")
    assert "Compressed core dumps" in m.read(s, "/runbooks/disk.md").decode()
    assert m.dream_job(job.id).review == "applied"


def test_dream_reject(page, world, m):
    s, job = world["store"], world["job"]
    head = m.store_head(s)
    page.open(dream_hash(world))
    page.click("#btn-reject")
    assert page.text("#dream-review") == "rejected"
    assert m.dream_job(job.id).review == "rejected" and m.store_head(s) == head
    assert not page.all("#dream-controls button")


# ---------------------------------------------------------------- redaction


def test_redact_an_old_version(page, world, m):
    s = world["store"]
    old, cur = m.history(s, "/runbooks/dns.md")[::-1]
    page.open(store_hash(world, query="path=/runbooks/dns.md&view=history"))
    assert not page.all(f"tr[data-rev='{cur.id}'] .btn-redact")  # the version the file shows cannot be
    page.click(f"tr[data-rev='{old.id}'] .btn-redact", wait=False)  # first click arms it
    assert page.text(f"tr[data-rev='{old.id}'] .btn-redact") == "Confirm redact"
    assert m.revision(old.id).redacted_at is None
    page.click(f"tr[data-rev='{old.id}'] .btn-redact")
    assert "redacted" in page.find(f"tr[data-rev='{old.id}']").get_attribute("class")
    r = m.revision(old.id)
    assert r.redacted_at is not None and r.sha256 is None
    assert m.read(s, "/runbooks/dns.md") == DNS2


# ---------------------------------------------------------------- keys and scopes


def sign_in(page, key):
    page.open("#/")
    page.find("#login #api-key").send_keys(key)
    page.click("#use-key")


def test_read_only_key_sees_no_write_controls_and_is_refused(page, world, m, served, docs_shot):
    ro = m.create_api_key(stores={"team-sre": "ro"}, name="auditor")[1]
    page.open("#/")
    assert page.find("#login")  # keys exist now: the console asks for one
    sign_in(page, ro)
    assert "auditor" in page.text("#who")
    assert [r.get_attribute("data-store") for r in page.all("tr[data-store]")] == [world["store"].uid]  # not org
    assert page.find(f"tr[data-store='{world['store'].uid}']").text.split()[1] == "ro"
    page.go(store_hash(world, query="path=/runbooks/dns.md&view=history"))
    assert len(page.all("#history tbody tr")) == 2 and not page.all(".write")
    page.go(dream_hash(world))
    assert page.all("article.dream-file") and not page.all(".write") and not page.all("#dream-controls")
    page.shot("read-only-dream")
    # the server refuses anyway
    job, old = world["job"], m.history(world["store"], "/runbooks/dns.md")[-1]
    for path in (f"/v1/dreams/{job.id}/apply", f"/v1/dreams/{job.id}/reject", f"/v1/dreams/{job.id}/revert",
                 f"/v1/memory_stores/{world['store'].uid}/memory_versions/memver_{old.id}/redact"):
        status, body = post(served, path, ro)
        assert status == 403 and body["error"]["type"] == "permission_error", (path, status, body)
    assert m.dream_job(job.id).review == "proposed" and m.revision(old.id).redacted_at is None
    # a store outside the key's scope does not exist for it
    page.go(f"#/s/{world['org'].uid}/files")
    assert "not_found_error" in page.text("#view-error")


def test_read_write_key_sees_write_controls(page, world, m):
    rw = m.create_api_key(stores={"team-sre": "rw"}, name="reviewer")[1]
    page.open("#/")
    page.find("#login #api-key").send_keys("sk-memfs-wrong")
    page.click("#use-key")
    assert "invalid API key" in page.text("#login .error")
    page.find("#login #api-key").clear()
    page.find("#login #api-key").send_keys(rw)
    page.click("#use-key")
    page.go(store_hash(world, query="path=/runbooks/dns.md&view=history"))
    assert len(page.all(".btn-redact")) == 1
    page.go(dream_hash(world))
    assert {b.get_attribute("id") for b in page.all("#dream-controls button")} == {
        "btn-apply-all", "btn-apply-selected", "btn-reject"}
    page.click("#sign-out")
    assert page.find("#login")


# ---------------------------------------------------------------- health


def get_json(served, path):
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    return resp.status, data


def test_health_page_shows_the_stats_figures_and_a_trend(page, world, m, served, docs_shot):
    uid = world["store"].uid
    st, api = get_json(served, f"/v1/memfs/stores/{uid}/stats")
    assert st == 200 and api["type"] == "memory_store_stats"
    want = m.stats(world["store"])
    for k in ("files", "bytes", "revisions", "active_agents", "active_sessions", "idle_files",
              "conflicts", "refusals", "nearest_size_limit", "revisions_per_day"):
        assert api[k] == want[k], k
    figure = ("paragraphs", "duplicated", "share", "method")  # not how long it took, nor whether it was kept
    assert [api["duplicated"][k] for k in figure] == [want["duplicated"][k] for k in figure]
    assert api["conflicts"]["total"] == 1 and api["duplicated"]["duplicated"] >= 1
    assert len(api["dreams"]) == 1 and api["dreams"][0]["id"] == world["job"].id
    assert get_json(served, f"/v1/memfs/stores/{uid}/stats?days=0")[0] == 400
    assert get_json(served, "/v1/memfs/stores/memstore_nope/stats")[0] == 404

    page.open(store_hash(world, "health"))
    fig = {r.get_attribute("data-figure"): r.find_element("css selector", "td").text
           for r in page.all("#health-figures tr")}
    assert fig["files"] == str(want["files"]) and fig["revisions"] == str(want["revisions"])
    dup = want["duplicated"]
    assert fig["duplicated"] == f"{dup['duplicated']} of {dup['paragraphs']} ({dup['share'] * 100:.1f}%)"
    assert fig["conflicts"] == "1 (1)" and fig["refusals"] == "0 (0)"
    assert fig["agents"].startswith(f"{len(want['active_agents'])} (")
    bars = page.all("#trend rect.day")
    assert len(bars) == 30
    assert int(bars[-1].get_attribute("data-n")) == want["revisions_per_day"][-1]["revisions"] > 0
    assert cells(page, "#nearest tbody tr")[0][0] == want["nearest_size_limit"][0]["path"]
    assert page.texts("#health-dreams a") == [world["job"].id]
    docs_shot("health", page.shot("health"))
