"""The store's read counts (m009): batches add up per file and session; rollups per file."""


def test_record_reads_adds_up_per_file_and_session(m, store):
    a = m.write(store, "/a.md", b"a\n")
    b = m.write(store, "/b.md", b"b\n")
    na, nb = m.stat(store, "/a.md").node_id, m.stat(store, "/b.md").node_id
    assert m.record_reads([]) == 0
    assert m.record_reads([(store, na, "s1", 2, 100.0), (store.id, na, "s1", 1, 90.0), (store, nb, None, 1, 50.0)]) == 2
    assert m.record_reads([(store, na, "s2", 4, 200.0), (store, na, "s1", 1, 80.0)]) == 2
    r = m.file_reads(store)
    assert set(r) == {"/a.md", "/b.md"}
    assert (r["/a.md"].reads, r["/a.md"].sessions, r["/a.md"].first_read, r["/a.md"].last_read) == (8, 2, 80.0, 200.0)
    assert (r["/b.md"].reads, r["/b.md"].sessions) == (1, 1)
    assert m.session_reads(store, "s1") == {"/a.md": 4}
    assert list(m.file_reads(store, "/b.md")) == ["/b.md"]
    assert m.reads_since(store, 150.0) == 1
    m.delete(store, "/b.md")
    assert set(m.file_reads(store)) == {"/a.md"}  # deleted files are not listed
    assert a and b
