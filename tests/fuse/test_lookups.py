"""The kernel's lookup counts (fuse/lookups.py): what the mount knows of an inode's kernel view
(the size it was told, the version of its pages) is forgotten only when the kernel forgot every
lookup. Dropping it on a FORGET that raced a new LOOKUP made a whole read of the new version count
as a blend, and the session's next write was refused (test_if_match_current_hash_succeeds_once,
about 1 run in 6 under load on PostgreSQL)."""

import os
import subprocess

from memfs import Identity, Memfs
from memfs.fuse.lookups import LookupCounts


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
