"""Several mounts of one store, in different daemons and for different agents, see each other's
commits within one second (the revision feed drives kernel cache invalidation), while repeated
reads of unchanged files keep working from the cache."""

import os
import stat

import pytest

from memfs import Identity, Memfs

from fusehelpers import elapsed_until, read_or_none

LIMIT = 1.0


@pytest.fixture
def ab(two_agents):
    a, b = two_agents
    os.mkdir(a / "d")
    (a / "d" / "f.md").write_text("one\n")
    (a / "stable.md").write_text("never changes\n")
    # b reads everything once: the kernel now caches names, attributes and pages
    assert (b / "d" / "f.md").read_text() == "one\n" and (b / "stable.md").read_text() == "never changes\n"
    assert sorted(os.listdir(b / "d")) == ["f.md"]
    assert read_or_none(b / "d" / "new.md") is None  # a cached negative lookup
    return a, b


def visible(pred):
    t = elapsed_until(pred, timeout=3 * LIMIT)
    assert t is not None, "never became visible"
    return t


def test_content_change_is_visible_within_a_second(ab):
    a, b = ab
    for i, text in enumerate(["two\n", "a much longer third version\n", "4\n"]):
        (a / "d" / "f.md").write_text(text)
        t = visible(lambda: (b / "d" / "f.md").read_text() == text)
        assert t < LIMIT, f"version {i}: {t:.2f} s"
        assert os.stat(b / "d" / "f.md").st_size == len(text)


def test_new_file_deletion_rename_and_chmod_are_visible(ab):
    a, b = ab
    (a / "d" / "new.md").write_text("new\n")
    assert visible(lambda: read_or_none(b / "d" / "new.md") == b"new\n") < LIMIT
    assert visible(lambda: "new.md" in os.listdir(b / "d")) < LIMIT
    os.unlink(a / "d" / "new.md")
    assert visible(lambda: not os.path.exists(b / "d" / "new.md")) < LIMIT
    os.rename(a / "d" / "f.md", a / "d" / "g.md")
    assert visible(lambda: read_or_none(b / "d" / "g.md") == b"one\n" and not os.path.exists(b / "d" / "f.md")) < LIMIT
    os.chmod(a / "d" / "g.md", 0o600)
    assert visible(lambda: stat.S_IMODE(os.stat(b / "d" / "g.md").st_mode) == 0o600) < LIMIT
    os.rename(a / "d", a / "e")
    assert visible(lambda: read_or_none(b / "e" / "g.md") == b"one\n" and not os.path.exists(b / "d")) < LIMIT


def test_change_through_the_store_api_is_visible(ab, seeded):
    a, b = ab
    with Memfs(seeded, identity=Identity(agent="api-client", actor="api")) as m:
        m.write("team-sre", "/d/f.md", b"written by the API\n")
    for mnt in (a, b):
        assert visible(lambda: (mnt / "d" / "f.md").read_text() == "written by the API\n") < LIMIT


def test_repeated_reads_of_unchanged_files_keep_working(ab):
    a, b = ab
    for i in range(30):
        (a / "d" / "f.md").write_text(f"version {i}\n")
        assert (b / "stable.md").read_text() == "never changes\n"
        assert (a / "stable.md").read_text() == "never changes\n"
    assert visible(lambda: (b / "d" / "f.md").read_text() == "version 29\n") < LIMIT
    for _ in range(200):
        assert (b / "stable.md").read_bytes() == b"never changes\n"
