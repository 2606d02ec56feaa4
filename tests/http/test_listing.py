"""Listing memories: path_prefix, depth roll-ups, path order, views and pagination, checked
against a model computed from the paths alone."""

import random

import anthropic
import pytest

from httphelpers import api_error
from memfs import Memfs

TREE = ["/a.md", "/a/b.md", "/a/c/d.md", "/a/c/e/f.md", "/a-b.md", "/a0.md", "/b/x.md", "/notes/2026/jan.md",
        "/notes/todo.md", "/notes-archive/old.md", "/z.md", "/é.md", "/Z.md"]


def expected(paths, prefix="/", depth=0):
    """Anthropic's listing from paths alone: files under prefix, deeper ones rolled up."""
    out = set()
    for p in paths:
        if not p.startswith(prefix):
            continue
        segs = p[len(prefix):].split("/")
        out.add(p if not depth or len(segs) <= depth else prefix + "/".join(segs[:depth]) + "/")
    return sorted(out, key=lambda s: s.encode())


def keys(items):
    return [i if isinstance(i, str) else i.path for i in items]


def paged(m, store, prefix, depth, limit):
    out, after = [], None
    while True:
        items = m.files(store, prefix, depth=depth, after=after, limit=limit + 1)
        page = items[:limit]
        out += keys(page)
        if len(items) <= limit:
            return out
        after = keys(page)[-1]


def test_files_matches_the_model_on_random_trees(m, store):
    rnd = random.Random(5)
    names = ["a", "b", "a.md", "a-b", "a0", "x.md", "é", "Z", "z"]
    paths = set()
    for _ in range(60):
        p = "/" + "/".join(rnd.choice(names) for _ in range(rnd.randint(1, 4)))
        if any(q.startswith(p + "/") or p.startswith(q + "/") for q in paths | {p} if q != p):
            continue  # a path cannot be both a file and a directory
        paths.add(p)
        m.write(store, p, p.encode())
    m.mkdir(store, "/empty/dir", parents=True)  # directories without files never show
    dirs = {"/"} | {p[:i + 1] for p in paths for i in range(1, len(p)) if p[i] == "/"}
    for prefix in sorted(dirs)[:12] + ["/nothing/"]:
        for depth in (0, 1, 2):
            want = expected(paths, prefix, depth)
            for limit in (1, 2, 5, 1000):
                assert paged(m, store, prefix, depth, limit) == want, (prefix, depth, limit)


def test_listing_through_the_sdk(sdk):
    ms = sdk.beta.memory_stores
    s = ms.create(name="tree")
    ids = {p: ms.memories.create(s.id, path=p, content=p).id for p in TREE}
    every = list(ms.memories.list(s.id))
    assert [x.path for x in every] == expected(TREE)  # depth 0: every memory, byte order
    assert all(x.type == "memory" and x.content is None and x.id == ids[x.path] for x in every)

    top = list(ms.memories.list(s.id, depth=1))
    assert [(x.type, x.path) for x in top] == [
        ("memory", "/Z.md"), ("memory", "/a-b.md"), ("memory", "/a.md"), ("memory_prefix", "/a/"),
        ("memory", "/a0.md"), ("memory_prefix", "/b/"), ("memory_prefix", "/notes-archive/"),
        ("memory_prefix", "/notes/"), ("memory", "/z.md"), ("memory", "/é.md")]
    notes = list(ms.memories.list(s.id, path_prefix="/notes/", depth=1))  # whole segments only
    assert [(x.type, x.path) for x in notes] == [("memory_prefix", "/notes/2026/"), ("memory", "/notes/todo.md")]
    assert [x.path for x in ms.memories.list(s.id, path_prefix="/notes/")] == ["/notes/2026/jan.md",
                                                                                "/notes/todo.md"]
    assert [x.path for x in ms.memories.list(s.id, path_prefix="/a/", depth=2)] == ["/a/b.md", "/a/c/d.md",
                                                                                     "/a/c/e/"]
    assert list(ms.memories.list(s.id, path_prefix="/nope/")) == []

    # pages: memories and prefixes both count toward the limit; auto-pagination follows next_page
    first = ms.memories.list(s.id, depth=1, limit=4)
    assert [x.path for x in first.data] == ["/Z.md", "/a-b.md", "/a.md", "/a/"] and first.next_page
    second = ms.memories.list(s.id, depth=1, limit=4, page=first.next_page)
    assert [x.path for x in second.data] == ["/a0.md", "/b/", "/notes-archive/", "/notes/"]
    assert [x.path for x in ms.memories.list(s.id, depth=1, limit=3)] == [x.path for x in top]
    assert ms.memories.list(s.id, limit=len(TREE)).next_page is None

    # the full view carries content, at most 20 to a page
    full = ms.memories.list(s.id, view="full", limit=100)
    assert len(full.data) == len(TREE) and all(x.content == x.path for x in full.data)
    for i in range(25):
        ms.memories.create(s.id, path=f"/many/{i:02}.md", content=str(i))
    page = ms.memories.list(s.id, path_prefix="/many/", view="full", limit=100)
    assert len(page.data) == 20 and page.next_page
    assert [x.content for x in ms.memories.list(s.id, path_prefix="/many/", view="full")] == [str(i) for i in range(25)]

    # a cursor belongs to its listing
    with pytest.raises(anthropic.BadRequestError) as e:
        ms.memories.list(s.id, depth=0, limit=4, page=first.next_page)
    api_error(e, 400, "invalid_request_error")


def test_listing_sees_mount_writes_and_hides_what_is_not_a_memory(sdk, agent_m):
    ms = sdk.beta.memory_stores
    s = ms.create(name="mixed")
    agent_m.write("mixed", "/agent/notes.md", b"by the agent")
    agent_m.mkdir("mixed", "/agent/empty")
    agent_m.symlink("mixed", "/agent/link", "notes.md")
    agent_m.write("mixed", "/bin.dat", b"\xff\xfe\x00binary")
    listed = list(ms.memories.list(s.id, view="full"))
    assert [(x.path, x.content) for x in listed] == [("/agent/notes.md", "by the agent"), ("/bin.dat", None)]
    assert listed[1].content_size_bytes == 9  # not text: the content is null, the hash and size are real
    assert [x.path for x in ms.memories.list(s.id, path_prefix="/agent/", depth=1)] == ["/agent/notes.md"]


def test_memory_times_and_version_pointer(sdk, db_path):
    ms = sdk.beta.memory_stores
    s = ms.create(name="t")
    a = ms.memories.create(s.id, path="/a.md", content="1")
    b = ms.memories.update(a.id, memory_store_id=s.id, content="2")
    assert b.created_at == a.created_at and b.updated_at > a.updated_at
    head = list(ms.memory_versions.list(s.id, memory_id=a.id))[0]
    assert b.memory_version_id == head.id and head.created_at == b.updated_at
    with Memfs(db_path) as m:
        assert m.file("t", int(a.id.split("_")[1])).version == int(head.id.split("_")[1])
