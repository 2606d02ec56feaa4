"""What the mount last read from the store, for reading on while the database is unreachable
(PostgreSQL down or partitioned away): lookups, attributes and listings answer from memory, and
content from the mount's blob cache; every write still fails with EIO. Safe for the no-lost-update
rule: a version read this way counts as seen, so a write based on it after the database is back
is refused with ESTALE if another host changed the file meanwhile."""

from .. import errors

LIMIT = 100_000  # remembered answers; past that the memory starts again


class LastKnown:
    def __init__(self, m):
        self.m = m
        self.memo: dict = {}
        self.served = 0  # answers given from memory (logged at unmount)

    def _get(self, key, fn, *args):
        try:
            value = fn(*args)
        except errors.Unavailable:
            if key in self.memo:
                self.served += 1
                return self.memo[key]
            raise
        if len(self.memo) >= LIMIT:
            self.memo.clear()
        self.memo[key] = value
        return value

    def node(self, node_id):
        return self._get(("n", node_id), self.m.node, node_id)

    def child(self, parent_id, name):
        return self._get(("c", parent_id, name), self.m.child, parent_id, name)

    def children(self, dir_id):
        return self._get(("d", dir_id), self.m.children, dir_id)
