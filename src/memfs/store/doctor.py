"""Integrity checks (`memfs doctor`)."""

from __future__ import annotations


from .records import DoctorReport, sha256


class DoctorMixin:
    """Integrity checks."""

    def doctor(self, read_data: bool = True) -> DoctorReport:
        """Check the database: the engine's own integrity check, every revision's blob, every
        node's head, parents, roots, time-travel copies left by mounts that are gone
        (`drop_stale_snapshots` removes them); with `read_data`, every blob re-hashed.

        :param read_data: re-hash every blob (slow on large databases)
        :returns: a DoctorReport (`ok`, `problems`, `checked` counts)"""
        rep = DoctorReport()
        p = rep.problems
        p += [{"type": "integrity_check", "message": m} for m in self.db.check()]
        with self.db.read() as tx:
            for r in tx.all("SELECT r.id, r.sha256 FROM revisions r LEFT JOIN blobs b ON b.sha256 = r.sha256"
                            " WHERE r.sha256 IS NOT NULL AND b.sha256 IS NULL"):
                p.append({"type": "missing_blob", "revision": r["id"], "sha256": r["sha256"],
                          "message": f"revision {r['id']} refers to blob {r['sha256']} which is missing"})
            for r in tx.all("SELECT n.id, n.path, n.head_rev FROM nodes n LEFT JOIN revisions r ON r.id = n.head_rev"
                            " WHERE n.path IS NOT NULL AND (r.id IS NULL OR r.node_id != n.id)"):
                p.append({"type": "bad_head", "node": r["id"], "path": r["path"],
                          "message": f"node {r['id']} ({r['path']}) points at revision {r['head_rev']}, which is not its own"})
            for r in tx.all("SELECT n.id, n.path, n.sha256, r.sha256 AS rsha FROM nodes n JOIN revisions r ON r.id = n.head_rev"
                            " WHERE n.path IS NOT NULL AND COALESCE(n.sha256, '') != COALESCE(r.sha256, '')"
                            " AND r.redacted_at IS NULL"):
                p.append({"type": "head_mismatch", "node": r["id"], "path": r["path"],
                          "message": f"{r['path']}: node hash {r['sha256']} differs from its head revision's {r['rsha']}"})
            for r in tx.all("SELECT n.id, n.path FROM nodes n LEFT JOIN nodes p ON p.id = n.parent_id"
                            " WHERE n.path IS NOT NULL AND n.parent_id IS NOT NULL AND (p.path IS NULL OR p.kind != 'dir')"):
                p.append({"type": "orphan_node", "node": r["id"], "path": r["path"],
                          "message": f"{r['path']} has no live parent directory"})
            for r in tx.all("SELECT id, name FROM stores s WHERE root_node IS NULL OR NOT EXISTS"
                            " (SELECT 1 FROM nodes n WHERE n.id = s.root_node AND n.path = '/')"):
                p.append({"type": "bad_root", "store": r["name"], "message": f"store {r['name']} has no root directory"})
            for b in self.stale_snapshots():
                p.append({"type": "stale_snapshot", "store": b.ref,
                          "message": f"{b.ref} is the time-travel copy of a mount that is gone (revision {b.base_rev} "
                                     f"of {b.parent.name}); memfs doctor --fix removes it"})
            nblobs = tx.scalar("SELECT COUNT(*) FROM blobs")
            rep.checked = {"revisions": tx.scalar("SELECT COUNT(*) FROM revisions"),
                           "nodes": tx.scalar("SELECT COUNT(*) FROM nodes WHERE path IS NOT NULL"),
                           "blobs": nblobs, "stores": tx.scalar("SELECT COUNT(*) FROM stores"),
                           "blobs_read": 0}
            if read_data:
                for r in tx.all("SELECT sha256, size, content FROM blobs"):
                    data = bytes(r["content"])
                    rep.checked["blobs_read"] += 1
                    if sha256(data) != r["sha256"] or len(data) != r["size"]:
                        p.append({"type": "corrupt_blob", "sha256": r["sha256"],
                                  "message": f"blob {r['sha256']} does not match its hash (content damaged)"})
        return rep
