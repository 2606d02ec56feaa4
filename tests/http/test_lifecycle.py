"""The whole life cycle through the official SDK, changing only base_url: stores, memories,
versions, a precondition conflict, pagination, a rename, a deletion and a redaction."""

import hashlib
from datetime import datetime, timedelta, timezone

import anthropic
import pytest

from httphelpers import api_error
from memfs import Memfs


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_store_life_cycle(sdk, db_path):
    ms = sdk.beta.memory_stores
    s = ms.create(name="Team SRE", description="what the SRE agents learned", metadata={"owner": "sre"})
    assert s.id.startswith("memstore_") and s.type == "memory_store"
    assert (s.name, s.description, s.metadata, s.archived_at) == ("Team SRE", "what the SRE agents learned",
                                                                   {"owner": "sre"}, None)
    assert s.created_at.tzinfo is not None and abs(s.created_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
    with Memfs(db_path) as m:  # the same store, seen through the library
        assert m.get_store(s.id).name == "Team SRE"

    got = ms.retrieve(s.id)
    assert got == s
    up = ms.update(s.id, description="new words", metadata={"owner": None, "tier": "1"})
    assert (up.name, up.description, up.metadata) == ("Team SRE", "new words", {"tier": "1"})
    assert up.updated_at >= s.updated_at
    assert ms.update(s.id, name="sre").name == "sre"

    other = ms.create(name="other")
    assert [x.id for x in ms.list()] == [other.id, s.id]  # newest first
    arch = ms.archive(other.id)
    assert arch.archived_at is not None and ms.archive(other.id).archived_at == arch.archived_at  # idempotent
    assert [x.id for x in ms.list()] == [s.id]
    assert [x.id for x in ms.list(include_archived=True)] == [other.id, s.id]
    with pytest.raises(anthropic.PermissionDeniedError) as e:  # archived: read-only
        ms.memories.create(other.id, path="/x.md", content="x")
    api_error(e, 403, "permission_error")
    with pytest.raises(anthropic.PermissionDeniedError):
        ms.update(other.id, description="no")

    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(ms.list(created_at_gte=later)) == []
    assert [x.id for x in ms.list(created_at_lte=later, include_archived=True)] == [other.id, s.id]

    deleted = ms.delete(other.id)
    assert (deleted.id, deleted.type) == (other.id, "memory_store_deleted")
    with pytest.raises(anthropic.NotFoundError) as e:
        ms.retrieve(other.id)
    api_error(e, 404, "not_found_error")
    with Memfs(db_path) as m:
        assert [x.name for x in m.list_stores()] == ["sre"]


def test_store_pagination(sdk):
    ms = sdk.beta.memory_stores
    made = [ms.create(name=f"s{i:02}").id for i in range(7)]
    first = ms.list(limit=3)
    assert [x.id for x in first.data] == made[::-1][:3] and first.next_page
    assert [x.id for x in ms.list(limit=3)] == made[::-1]  # auto-pagination follows next_page
    last = ms.list(limit=7)
    assert len(last.data) == 7 and last.next_page is None


def test_memory_life_cycle(sdk, db_path):
    ms = sdk.beta.memory_stores
    s = ms.create(name="notes")
    mem = ms.memories
    m1 = mem.create(s.id, path="/projects/alpha/notes.md", content="alpha uses postgres\n")
    assert m1.id.startswith("mem_") and m1.type == "memory" and m1.memory_store_id == s.id
    assert m1.content is None  # create answers in the basic view
    assert (m1.path, m1.content_sha256, m1.content_size_bytes) == ("/projects/alpha/notes.md",
                                                                    sha("alpha uses postgres\n"), 20)
    assert m1.memory_version_id.startswith("memver_")
    empty = mem.create(s.id, path="/empty.md", content="", view="full")
    assert (empty.content, empty.content_size_bytes, empty.content_sha256) == ("", 0, sha(""))
    uni = mem.create(s.id, path="/ünï/çödé.md", content="naïve 🧠")
    assert mem.retrieve(uni.id, memory_store_id=s.id).content == "naïve 🧠"
    assert uni.content_size_bytes == len("naïve 🧠".encode())

    got = mem.retrieve(m1.id, memory_store_id=s.id)
    assert got.content == "alpha uses postgres\n" and got.content_sha256 == m1.content_sha256
    assert mem.retrieve(m1.id, memory_store_id=s.id, view="basic").content is None

    # a taken path: 409 naming the memory in the way, whether or not the content is the same
    for content in ("other", "alpha uses postgres\n"):
        with pytest.raises(anthropic.ConflictError) as e:
            mem.create(s.id, path="/projects/alpha/notes.md", content=content)
        assert api_error(e, 409, "memory_path_conflict_error")["conflicting_memory_id"] == m1.id

    # update with a precondition that holds
    v2 = mem.update(m1.id, memory_store_id=s.id, content="alpha uses postgres 16\n",
                    precondition={"type": "content_sha256", "content_sha256": m1.content_sha256})
    assert v2.id == m1.id and v2.content_sha256 == sha("alpha uses postgres 16\n")
    assert v2.memory_version_id != m1.memory_version_id and v2.updated_at >= m1.updated_at

    # ... and one that no longer holds: 409, nothing written
    with pytest.raises(anthropic.ConflictError) as e:
        mem.update(m1.id, memory_store_id=s.id, content="stale idea\n",
                   precondition={"type": "content_sha256", "content_sha256": m1.content_sha256})
    api_error(e, 409, "memory_precondition_failed_error")
    assert e.value.response.headers["x-should-retry"] == "false"
    assert mem.retrieve(m1.id, memory_store_id=s.id).content == "alpha uses postgres 16\n"

    # a retry of the update that succeeded: the stale precondition fails, but the stored content
    # and path already equal the request, so 200 and no new version
    again = mem.update(m1.id, memory_store_id=s.id, content="alpha uses postgres 16\n",
                       precondition={"type": "content_sha256", "content_sha256": m1.content_sha256})
    assert again.memory_version_id == v2.memory_version_id

    # a rename keeps the id; the precondition refers to the content
    moved = mem.update(m1.id, memory_store_id=s.id, path="/archive/2026/alpha.md",
                       precondition={"type": "content_sha256", "content_sha256": v2.content_sha256})
    assert (moved.id, moved.path, moved.content_sha256) == (m1.id, "/archive/2026/alpha.md", v2.content_sha256)
    with pytest.raises(anthropic.ConflictError) as e:  # rename onto a taken path
        mem.update(m1.id, memory_store_id=s.id, path="/empty.md")
    assert api_error(e, 409, "memory_path_conflict_error")["conflicting_memory_id"] == empty.id
    # rename and change at once
    both = mem.update(m1.id, memory_store_id=s.id, path="/alpha.md", content="alpha moved to mysql\n", view="full")
    assert (both.path, both.content) == ("/alpha.md", "alpha moved to mysql\n")
    with Memfs(db_path) as m:
        assert m.read("notes", "/alpha.md") == b"alpha moved to mysql\n"
        assert m.lookup("notes", "/archive/2026/alpha.md") is None

    # delete with a stale expectation: 409, still there; with the right one: gone
    with pytest.raises(anthropic.ConflictError) as e:
        mem.delete(m1.id, memory_store_id=s.id, expected_content_sha256=v2.content_sha256)
    api_error(e, 409, "memory_precondition_failed_error")
    gone = mem.delete(m1.id, memory_store_id=s.id, expected_content_sha256=both.content_sha256)
    assert (gone.id, gone.type) == (m1.id, "memory_deleted")
    with pytest.raises(anthropic.NotFoundError) as e:
        mem.retrieve(m1.id, memory_store_id=s.id)
    api_error(e, 404, "not_found_error")
    with pytest.raises(anthropic.NotFoundError):
        mem.delete(m1.id, memory_store_id=s.id)
    with pytest.raises(anthropic.NotFoundError):
        mem.update(m1.id, memory_store_id=s.id, content="back?")
    # a new memory at a freed path is a new memory
    reborn = mem.create(s.id, path="/alpha.md", content="alpha\n")
    assert reborn.id != m1.id

    # the whole history of the first memory, newest first, survives its deletion
    vers = list(ms.memory_versions.list(s.id, memory_id=m1.id))
    assert [v.operation for v in vers] == ["deleted", "modified", "modified", "modified", "modified", "created"]
    assert [v.path for v in vers] == ["/alpha.md", "/alpha.md", "/alpha.md", "/archive/2026/alpha.md",
                                      "/projects/alpha/notes.md", "/projects/alpha/notes.md"]
    assert vers[0].content_sha256 is None and vers[0].content_size_bytes is None
    assert vers[-1].content_sha256 == sha("alpha uses postgres\n") and vers[-1].content_size_bytes == 20
    assert all(v.memory_id == m1.id and v.memory_store_id == s.id for v in vers)
    assert all(v.created_by.type == "api_actor" and v.created_by.api_key_id.startswith("apikey_") for v in vers)
    assert [v.id for v in vers] == sorted((v.id for v in vers), key=lambda i: int(i.split("_")[1]), reverse=True)
    one = ms.memory_versions.retrieve(vers[-1].id, memory_store_id=s.id)
    assert one.content == "alpha uses postgres\n" and one.operation == "created"
    assert ms.memory_versions.retrieve(vers[-1].id, memory_store_id=s.id, view="basic").content is None
    full = list(ms.memory_versions.list(s.id, memory_id=m1.id, view="full"))
    assert full[-1].content == "alpha uses postgres\n" and full[0].content is None

    created = list(ms.memory_versions.list(s.id, operation="created"))
    assert {v.memory_id for v in created} == {m1.id, empty.id, uni.id, reborn.id}
    assert [v.operation for v in ms.memory_versions.list(s.id, operation="deleted")] == ["deleted"]


def test_versions_attribution_and_filters(sdk, admin, server, agent_m):
    ms = sdk.beta.memory_stores
    s = ms.create(name="shared")
    ms.memories.create(s.id, path="/by-root.md", content="root")
    # an agent on a mount writes through the same store API, in its session
    agent_m.write("shared", "/by-mount.md", b"mount")
    other_key = admin(stores={"shared": "rw"}, name="pipeline")
    pipeline = server.client(other_key, default_headers={"x-memfs-agent": "pii-scanner", "x-memfs-session": "run-9"})
    pm = pipeline.beta.memory_stores.memories.create(s.id, path="/by-pipeline.md", content="p")

    vers = {v.path: v for v in ms.memory_versions.list(s.id)}
    assert set(vers) == {"/by-root.md", "/by-mount.md", "/by-pipeline.md"}
    mount_v = vers["/by-mount.md"]
    assert mount_v.created_by.type == "session_actor" and mount_v.created_by.session_id == "ses_mount1"
    assert mount_v.model_extra["agent_id"] == "agent-7"  # memfs's extra field
    root_v, pipe_v = vers["/by-root.md"], vers["/by-pipeline.md"]
    assert root_v.created_by.type == pipe_v.created_by.type == "api_actor"
    assert root_v.created_by.api_key_id != pipe_v.created_by.api_key_id
    assert root_v.model_extra["agent_id"] == "root"  # the key's name
    assert (pipe_v.model_extra["agent_id"], pipe_v.model_extra["session_id"]) == ("pii-scanner", "run-9")

    by_key = list(ms.memory_versions.list(s.id, api_key_id=pipe_v.created_by.api_key_id))
    assert [v.memory_id for v in by_key] == [pm.id]
    assert [v.path for v in ms.memory_versions.list(s.id, session_id="ses_mount1")] == ["/by-mount.md"]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(ms.memory_versions.list(s.id, created_at_gte=future)) == []
    assert len(list(ms.memory_versions.list(s.id, created_at_lte=future))) == 3
    assert [v.path for v in ms.memory_versions.list(s.id, created_at_gte=pipe_v.created_at)] == ["/by-pipeline.md"]

    # directories, modes and symlinks made on a mount are not versions
    agent_m.mkdir("shared", "/dir")
    agent_m.chmod("shared", "/by-mount.md", 0o600)
    agent_m.symlink("shared", "/dir/link", "../by-mount.md")
    assert len(list(ms.memory_versions.list(s.id))) == 3
    mem = ms.memories.retrieve(mount_v.memory_id, memory_store_id=s.id)
    assert mem.memory_version_id == mount_v.id  # a mode change is no new version
    assert [x.path for x in ms.memories.list(s.id)] == ["/by-mount.md", "/by-pipeline.md", "/by-root.md"]


def test_versions_pagination(sdk):
    ms = sdk.beta.memory_stores
    s = ms.create(name="busy")
    m = ms.memories.create(s.id, path="/log.md", content="0")
    for i in range(1, 12):
        ms.memories.update(m.id, memory_store_id=s.id, content=str(i))
    page = ms.memory_versions.list(s.id, limit=5)
    assert len(page.data) == 5 and page.next_page
    every = list(ms.memory_versions.list(s.id, limit=5))
    assert [v.content_sha256 for v in every] == [sha(str(i)) for i in range(11, -1, -1)]
    full = ms.memory_versions.list(s.id, view="full", limit=100)  # view=full holds at most 20
    assert len(full.data) == 12 and full.next_page is None
    assert [v.content for v in full.data] == [str(i) for i in range(11, -1, -1)]


def test_redaction_through_the_api(sdk, db_path):
    ms = sdk.beta.memory_stores
    s = ms.create(name="pii")
    m1 = ms.memories.create(s.id, path="/customer.md", content="card 4111 1111 1111 1111\n")
    ms.memories.update(m1.id, memory_store_id=s.id, content="card on file\n")
    old, cur = list(ms.memory_versions.list(s.id))[::-1]

    # the version the memory still shows cannot be redacted
    with pytest.raises(anthropic.ConflictError) as e:
        ms.memory_versions.redact(cur.id, memory_store_id=s.id)
    api_error(e, 409, "invalid_request_error")

    red = ms.memory_versions.redact(old.id, memory_store_id=s.id)
    assert red.id == old.id and red.redacted_at is not None
    assert (red.content, red.content_sha256, red.content_size_bytes, red.path) == (None, None, None, None)
    assert red.redacted_by.type == "api_actor" and red.created_by == old.created_by
    again = ms.memory_versions.retrieve(old.id, memory_store_id=s.id)  # still reads, with 200
    assert again.redacted_at == red.redacted_at and again.content is None and again.path is None
    assert ms.memory_versions.redact(old.id, memory_store_id=s.id).redacted_at == red.redacted_at  # idempotent
    assert ms.memories.retrieve(m1.id, memory_store_id=s.id).content == "card on file\n"
    with Memfs(db_path) as m:
        rep = m.doctor()
        assert rep.ok, rep.problems
        # the blob is deleted (its bytes may linger in free pages until a vacuum: see test_redaction.py)
        assert m.db.one("SELECT 1 FROM blobs WHERE sha256 = ?", (old.content_sha256,)) is None
        assert m.read("pii", "/customer.md") == b"card on file\n"
