"""The kernel's lookup count per inode, as the FUSE protocol defines it: every reply that hands the
kernel an entry (lookup, create, mkdir, symlink, mknod, a readdirplus entry other than `.` and
`..`) is one lookup, and FORGET gives back a number of them. What the mount remembers about the
kernel's view of an inode (the size it was told, the version of its cached pages) may go only
when every lookup is forgotten: a FORGET of an evicted inode can arrive after the kernel looked
the same inode up again."""

from __future__ import annotations


class LookupCounts:
    def __init__(self):
        self.counts: dict[int, int] = {}
        self.unmatched = 0  # forgets beyond the lookups answered: a reply this count missed

    def add(self, ino: int) -> None:
        if ino:  # inode 0 is a negative entry: nothing for the kernel to forget
            self.counts[ino] = self.counts.get(ino, 0) + 1

    def forget(self, ino: int, n: int) -> bool:
        """The kernel forgot `n` lookups of `ino`: True when it holds none any more."""
        left = self.counts.pop(ino, 0) - n
        if left > 0:
            self.counts[ino] = left
            return False
        self.unmatched -= min(left, 0)
        return True

    @property
    def held(self) -> int:
        """Inodes the kernel holds at least one lookup of."""
        return len(self.counts)
