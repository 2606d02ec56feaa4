"""Read counts: a real mount counts reads per file and session, hands them to the store in
batches (every few seconds and at unmount), and the counts survive the daemon."""

from memfs import Identity, Memfs
from mounting import wait_for


def reads(db, path="/notes/a.md"):
    with Memfs(db) as m:
        return m.file_reads("team-sre").get(path)


def test_reads_are_counted_per_file_and_session_and_survive_a_restart(seeded, mounter, cli):
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        m.write("team-sre", "/notes/a.md", b"the reporting replica is behind bastion-eu-2\n")
        m.write("team-sre", "/notes/b.md", b"unread\n")
    a = mounter("team-sre=rw", agent="alice", session="sa", name="alice")
    for _ in range(3):
        assert (a / "notes" / "a.md").read_text().startswith("the reporting")
    # batches go out every few seconds while mounted, not a row per read
    assert wait_for(lambda: (reads(seeded) or 0) and reads(seeded).reads == 3, timeout=15)
    (a / "notes" / "new.md").write_text("written, not read\n")  # a write is not a read
    assert cli("umount", str(a.path)).returncode == 0

    b = mounter("team-sre=rw", agent="bob", session="sb", name="bob")
    assert (b / "notes" / "a.md").read_bytes()
    assert cli("umount", str(b.path)).returncode == 0  # the last batch goes out at unmount
    r = reads(seeded)
    assert (r.reads, r.sessions) == (4, 2)
    assert reads(seeded, "/notes/b.md") is None and reads(seeded, "/notes/new.md") is None

    # a new daemon of alice's session adds to what the first one recorded
    a2 = mounter("team-sre=rw", agent="alice", session="sa", name="alice2")
    (a2 / "notes" / "a.md").read_text()
    assert cli("umount", str(a2.path)).returncode == 0
    r = reads(seeded)
    assert (r.reads, r.sessions) == (5, 2) and r.last_read >= r.first_read
    with Memfs(seeded) as m:
        assert m.session_reads("team-sre", "sa") == {"/notes/a.md": 4}
        m.rename("team-sre", "/notes/a.md", "/notes/renamed.md")  # a file's count follows it
        assert m.file_reads("team-sre")["/notes/renamed.md"].reads == 5
