"""The kernel's lookup counts (fuse/lookups.py): what the mount knows of an inode's kernel view
(the size it was told, the version of its pages) is forgotten only when the kernel forgot every
lookup. Dropping it on a FORGET that raced a new LOOKUP made a whole read of the new version count
as a blend, and the session's next write was refused (test_if_match_current_hash_succeeds_once,
about 1 run in 6 under load on PostgreSQL)."""

import errno
import os
import subprocess

from memfs import Identity, Memfs
from memfs.fuse.lookups import LookupCounts

from fusehelpers import errno_of
from mounting import wait_for


def test_a_forget_that_raced_a_new_lookup_keeps_what_the_kernel_was_told():
    c = LookupCounts()
    c.add(6)                     # LOOKUP: the kernel holds inode 6
    c.add(6)                     # the entry was invalidated, the inode evicted; the FORGET of that
    assert not c.forget(6, 1)    # lookup comes after the next LOOKUP: inode 6 is still held
    assert c.held == 1
    assert c.forget(6, 1)        # now it is gone
    assert c.held == 0 and c.unmatched == 0


def test_negative_entries_are_not_counted_and_extra_forgets_are_seen():
    c = LookupCounts()
    c.add(0)
    assert c.held == 0
    c.add(7)
    assert c.forget(7, 3) and c.unmatched == 2  # a reply the mount did not count


def test_the_counts_match_the_kernels(seeded, mounter, cli):
    """After lookups, creates, mkdir, symlinks, mknod, listings (readdirplus), renames and removals,
    and a drop of the kernel's dentries and inodes, every lookup the mount counted is forgotten
    and no FORGET gives back more than it counted."""
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        for i in range(60):
            m.write("team-sre", f"/d{i % 6}/f{i}.md", f"file {i}\n".encode())
    mnt = mounter("team-sre=rw")
    subprocess.run(["ls", "-lR", str(mnt.path)], check=True, capture_output=True)
    subprocess.run(["grep", "-r", "file", str(mnt.path)], check=True, capture_output=True)
    (mnt / "new").mkdir()
    (mnt / "new" / "a.md").write_text("a\n")
    os.symlink("a.md", mnt / "new" / "link")
    os.mknod(mnt / "new" / "empty.md")
    subprocess.run(["sed", "-i", "s/file/File/", str(mnt / "d0" / "f0.md")], check=True)
    os.rename(mnt / "d1" / "f1.md", mnt / "new" / "moved.md")
    os.unlink(mnt / "d2" / "f2.md")
    for p in mnt.path.rglob("*"):
        p.lstat()
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")  # unused dentries and inodes: the kernel sends their FORGETs
    cli("umount", str(mnt.path))
    [line] = [ln for ln in mnt.log_text().splitlines() if "kernel lookups at unmount" in ln]
    held, unmatched = (int(w) for w in line.split(": ", 2)[2].replace(",", "").split() if w.isdigit())
    assert unmatched == 0, line
    assert held == 0, line


def test_a_listing_handed_out_after_a_change_does_not_pass_for_the_new_size(seeded, mounter):
    """A readdirplus listing is built at opendir and handed to the kernel a page at a time. When a
    file changes between the two, the kernel is told the old size late: a read of the new version
    is clipped to it. The mount must count that read as a blend (the session saw a prefix of the
    new version), so a rewrite built on it is refused, not landed over the lost tail."""
    names = [f"note-{i:03d}-{'x' * 60}.md" for i in range(300)]
    with Memfs(seeded, identity=Identity(agent="seed", actor="operator")) as m:
        for n in names:
            m.write("team-sre", f"/d/{n}", b"old\n")
    last = names[-1]
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    with os.scandir(mnt / "d") as it:
        first = next(it).name  # the listing is built now; only its first page is handed out
        assert first != last
        new = b"new first line\n" + b"a tail that must not be lost\n" * 4
        with Memfs(seeded, identity=Identity(agent="bob", session="sb")) as m:
            m.write("team-sre", f"/d/{last}", new)
        assert wait_for(lambda: os.stat(mnt / "d" / last).st_size == len(new), timeout=10)
        rest = [e.name for e in it]  # the rest of the listing: the old size of `last`, told late
    assert last in rest
    size = os.stat(mnt / "d" / last).st_size
    seen = (mnt / "d" / last).read_bytes()
    if size == len(new):
        assert seen == new  # this kernel kept the newer size: nothing was clipped
    else:
        assert seen == new[:size]  # clipped: the session saw a prefix of bob's version
        code = errno_of(lambda: (mnt / "d" / last).write_bytes(seen + b"alice's line\n"))
        assert code == errno.ESTALE
        with Memfs(seeded) as m:
            assert m.read("team-sre", f"/d/{last}") == new
    # read again (what .memfs/README tells an agent to do): the whole version, and a rewrite lands
    assert wait_for(lambda: (mnt / "d" / last).read_bytes() == new, timeout=10)
    (mnt / "d" / last).write_bytes(new + b"alice's line\n")
    with Memfs(seeded) as m:
        assert m.read("team-sre", f"/d/{last}") == new + b"alice's line\n"
