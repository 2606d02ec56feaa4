"""Limits and bad input: each refused with its specific error, and nothing changes."""

import unicodedata

import pytest

from memfs import errors
from memfs.store import DEFAULT_MAX_CONTENT, sha256


# ---------------------------------------------------------------- content size


def test_default_content_limit_is_100_kib(m, store, unchanged):
    ok = m.write(store, "/max", b"x" * DEFAULT_MAX_CONTENT)
    assert ok.changed and ok.node.size == 100 * 1024
    with unchanged():
        with pytest.raises(errors.ContentTooLarge) as ei:
            m.write(store, "/too-big", b"x" * (DEFAULT_MAX_CONTENT + 1))
        # replacing an existing file is refused just the same
        with pytest.raises(errors.ContentTooLarge):
            m.write(store, "/max", b"y" * (DEFAULT_MAX_CONTENT + 1))
    assert ei.value.details["limit"] == DEFAULT_MAX_CONTENT
    assert m.lookup(store, "/too-big") is None
    assert m.read(store, "/max") == b"x" * DEFAULT_MAX_CONTENT


def test_content_limit_is_per_store(m, unchanged):
    small = m.create_store("small", max_content_bytes=16)
    big = m.create_store("big", max_content_bytes=200 * 1024)
    assert m.write(small, "/f", b"x" * 16).changed
    assert m.write(big, "/f", b"x" * (150 * 1024)).changed
    with unchanged():
        with pytest.raises(errors.ContentTooLarge):
            m.write(small, "/g", b"x" * 17)
        with pytest.raises(errors.ContentTooLarge):
            m.write(big, "/g", b"x" * (200 * 1024 + 1))
    with pytest.raises(errors.InvalidInput):
        m.create_store("zero", max_content_bytes=0)
    with pytest.raises(errors.InvalidInput):
        m.update_store(small, max_content_bytes=-5)


def test_content_too_large_with_a_stale_precondition_is_still_too_large(m, store, unchanged):
    m.write(store, "/f", b"v1")
    with unchanged():
        with pytest.raises(errors.ContentTooLarge):
            m.write(store, "/f", b"x" * (DEFAULT_MAX_CONTENT + 1), if_match=sha256(b"stale"))


# ---------------------------------------------------------------- paths and names


def test_path_length_limit_is_1024_bytes(m, store, unchanged):
    seg = "d" * 200
    # '/' + 4 * (200 + '/') + 219 = 1024 bytes exactly
    ok = "/" + "/".join([seg] * 4) + "/" + "f" * 219
    assert len(ok.encode()) == 1024
    assert m.write(store, ok, b"fits").node.path == ok
    too_long = ok + "g"
    with unchanged():
        with pytest.raises(errors.NameTooLong):
            m.write(store, too_long, b"x")
        with pytest.raises(errors.NameTooLong):
            m.mkdir(store, too_long, parents=True)
        with pytest.raises(errors.NameTooLong):
            m.rename(store, ok, too_long)


def test_path_length_counts_bytes_not_characters(m, store, unchanged):
    # 'é' is two bytes in UTF-8: 4 * 127 'é' per segment = 254 bytes
    seg = "é" * 127
    path = "/" + "/".join([seg] * 5)  # 5 * 254 + 5 = 1275 bytes, only 640 characters
    assert len(path) < 1024 < len(path.encode())
    with unchanged():
        with pytest.raises(errors.NameTooLong):
            m.write(store, path, b"x")


def test_name_length_limit_is_255_bytes(m, store, unchanged):
    assert m.write(store, "/" + "n" * 255, b"x").changed
    assert m.write(store, "/" + "é" * 127, b"x").changed  # 254 bytes
    with unchanged():
        with pytest.raises(errors.NameTooLong):
            m.write(store, "/" + "n" * 256, b"x")
        with pytest.raises(errors.NameTooLong):
            m.write(store, "/" + "é" * 128, b"x")  # 128 characters, 256 bytes
        with pytest.raises(errors.NameTooLong):
            m.mkdir(store, "/" + "d" * 256)
    assert issubclass(errors.NameTooLong, errors.InvalidInput)


BAD_PATHS = [
    "../x", "/../x", "/a/../b", "/a/..", "/.", "./a", "/a/./b", "//a", "/a//b",
    "/a\0b", "/nul\x00", "/new\nline", "/tab\tname", "/esc\x1b[31m", "/zero\u200bwidth", "/bidi\u202e",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_paths_refused_everywhere(m, store, unchanged, bad):
    m.write(store, "/exists", b"x")
    m.mkdir(store, "/dir")
    with unchanged():
        for call in (lambda: m.write(store, bad, b"x"),
                     lambda: m.write(store, bad, b"x", if_absent=True),
                     lambda: m.mkdir(store, bad, parents=True),
                     lambda: m.symlink(store, bad, "exists"),
                     lambda: m.rename(store, "/exists", bad),
                     lambda: m.rename(store, bad, "/y"),
                     lambda: m.delete(store, bad),
                     lambda: m.rmdir(store, bad),
                     lambda: m.chmod(store, bad, 0o600),
                     lambda: m.read(store, bad),
                     lambda: m.listdir(store, bad),
                     lambda: m.record_conflict(store, bad, b"x", base_sha256=None, reason="r")):
            with pytest.raises(errors.InvalidName):
                call()


def test_traversal_cannot_reach_another_store(m, unchanged):
    a, b = m.create_store("a"), m.create_store("b")
    m.write(b, "/secret", b"b's secret")
    with unchanged():
        for p in ("../b/secret", "/../b/secret", "/x/../../b/secret"):
            with pytest.raises(errors.InvalidName):
                m.read(a, p)
            with pytest.raises(errors.InvalidName):
                m.write(a, p, b"overwrite")
    assert m.read(b, "/secret") == b"b's secret"


def test_paths_are_nfc(m, store):
    nfd = unicodedata.normalize("NFD", "/café/naïve.md")
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    w = m.write(store, nfd, b"x")
    assert w.node.path == nfc
    assert m.read(store, nfc) == b"x" and m.read(store, nfd) == b"x"
    assert [e.path for e in m.listdir(store, unicodedata.normalize("NFC", "/café"))] == [nfc]
    # NFC and NFD spell the same file: writing one then the other is one file
    assert m.write(store, nfc, b"x").revision is None
    assert len([p for p in m.tree(store) if p.endswith(".md")]) == 1
    assert m.history(store, nfd)[0].path == nfc


def test_trailing_slash_and_missing_leading_slash_are_the_same_path(m, store):
    m.mkdir(store, "dir")
    assert m.lookup(store, "/dir/").path == "/dir"
    m.write(store, "dir/f", b"x")
    assert m.read(store, "/dir/f") == b"x"


def test_names_that_look_odd_but_are_fine(m, store):
    for p in ("/.hidden", "/...", "/a..b", "/-dash", "/with space", "/ünïcödé", "/emoji-🙂", "/UPPER", "/upper"):
        assert m.write(store, p, p.encode()).changed
    assert m.read(store, "/UPPER") == b"/UPPER" and m.read(store, "/upper") == b"/upper"  # case-sensitive


def test_bytes_paths(m, store, unchanged):
    assert m.write(store, "/ok".encode(), b"x").node.path == "/ok"
    with unchanged():
        with pytest.raises(errors.InvalidName):
            m.write(store, b"/bad-\xff-utf8", b"x")
        with pytest.raises(errors.InvalidName):
            m.write(store, 42, b"x")


# ---------------------------------------------------------------- every bad call changes nothing


def test_bad_calls_change_nothing(m, store, unchanged):
    w1 = m.write(store, "/f", b"v1")
    m.write(store, "/f", b"v2")
    m.mkdir(store, "/full")
    m.write(store, "/full/x", b"x")
    bad_calls = [
        (errors.ContentTooLarge, lambda: m.write(store, "/f", b"z" * (DEFAULT_MAX_CONTENT + 1))),
        (errors.InvalidName, lambda: m.write(store, "../x", b"x")),
        (errors.InvalidName, lambda: m.write(store, "/a/../b", b"x")),
        (errors.InvalidName, lambda: m.write(store, "/a\0", b"x")),
        (errors.NameTooLong, lambda: m.write(store, "/" + "x" * 256, b"x")),
        (errors.StoreNotFound, lambda: m.write("no-such-store", "/f", b"x")),
        (errors.PreconditionFailed, lambda: m.write(store, "/f", b"v3", if_match=w1.node.sha256)),
        (errors.PreconditionFailed, lambda: m.write(store, "/f", b"v3", if_absent=True)),
        (errors.PreconditionFailed, lambda: m.delete(store, "/f", if_match=w1.node.sha256)),
        (errors.InvalidInput, lambda: m.write(store, "/f", b"v3", if_match="not-a-hash")),
        (errors.DirectoryNotEmpty, lambda: m.rmdir(store, "/full")),
        (errors.IsADirectory, lambda: m.write(store, "/full", b"x")),
        (errors.NotADirectory, lambda: m.write(store, "/f/under-a-file", b"x")),
        (errors.PathNotFound, lambda: m.delete(store, "/missing")),
        (errors.AlreadyExists, lambda: m.mkdir(store, "/full")),
        (errors.NotPermitted, lambda: m.symlink(store, "/l", "../../etc/passwd")),
        (errors.RevisionNotFound, lambda: m.revert(store, 10 ** 9)),
    ]
    for err, call in bad_calls:
        with unchanged():
            with pytest.raises(err):
                call()
    assert m.read(store, "/f") == b"v2"
    assert m.doctor().ok
