from memfs import errors


def test_write_read_roundtrip(m, store):
    r = m.write(store, "/notes/a.md", b"hello\n")
    assert r.revision.op == "create"
    assert m.read(store, "/notes/a.md") == b"hello\n"
    again = m.write(store, "/notes/a.md", b"hello\n")
    assert again.revision is None


def test_stale_precondition_refused(m, store):
    first = m.write(store, "/a", b"1")
    m.write(store, "/a", b"2")
    try:
        m.write(store, "/a", b"3", if_match=first.node.sha256)
    except errors.PreconditionFailed as e:
        assert e.current_sha256 == m.lookup(store, "/a").sha256
    else:
        raise AssertionError("stale write was accepted")
    assert m.read(store, "/a") == b"2"
