"""Write leases (a mount reserves a file from its first write() to its close()) and node ids
reserved ahead (a mount's inode numbers for files not yet created)."""

from __future__ import annotations

import time
from typing import Optional

from .. import errors, settings
from .records import _check_lease


class LeasesMixin:
    """Write leases and node ids reserved ahead: what a mount needs to report a conflict at
    write() and to hand out inode numbers before a commit."""

    def lease(self, node_id: int, owner: str, *, if_match: Optional[str] = None,
              seconds: Optional[float] = None) -> Optional[str]:
        """Reserve a file for `owner` (a mount's rewrite, from its first write() to its close()):
        until the owner commits, releases or lets `seconds` pass, other writers of the file wait
        (store API) or are refused (other mounts), so that a refusal reaches a writer at write(),
        where a shell reports it, and not at close(), where it does not. A lease is not a revision
        and is not fsynced.

        :param node_id: the file
        :param owner: the lease holder's name (a mount's session)
        :param if_match: only if the stored content still has this SHA-256
        :param seconds: how long the lease holds without being renewed (default $MEMFS_LEASE_SECONDS)
        :returns: the stored hash, which cannot change until the lease ends

        Raises PathNotFound, Leased (another owner holds it), PreconditionFailed."""
        with self.db.write(durable=False) as tx:
            cur = tx.one("SELECT * FROM nodes WHERE id = ? AND path IS NOT NULL", (node_id,))
            if cur is None:
                raise errors.PathNotFound(f"no such file (node {node_id})")
            _check_lease(cur, owner, cur["path"])
            if if_match is not None and cur["sha256"] != if_match:
                raise errors.PreconditionFailed(f"{cur['path']} changed: expected {if_match}, stored {cur['sha256']}",
                                                current_sha256=cur["sha256"])
            seconds = settings.get("MEMFS_LEASE_SECONDS") if seconds is None else seconds
            tx.run("UPDATE nodes SET lease_owner = ?, lease_until = ? WHERE id = ?", (owner, time.time() + seconds, node_id))
            return cur["sha256"]

    def release_lease(self, node_id: int, owner: str) -> None:
        """End `owner`'s lease on a file (nothing happens when it holds none).

        :param node_id: the file
        :param owner: the lease holder's name"""
        with self.db.write(durable=False) as tx:
            tx.run("UPDATE nodes SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                   (node_id, owner))

    def reserve_node_ids(self, n: int = 1) -> range:
        """Reserve ids for nodes not yet created (a mount's inode numbers for new files); pass one
        as `WriteOptions(node_id=...)` when creating the node.

        :param n: how many
        :returns: a range of ids"""
        with self.db.write() as tx:
            first = self._alloc_node(tx, n)
            return range(first, first + n)
