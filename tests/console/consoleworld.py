"""What the console tests see: a store two agents wrote, with a dream proposal (tests/console)."""

from memfs import Identity, dream
from planted import DISK, DISK_BOB

ALICE = Identity(agent="alice", session="s-alice", actor="agent")
BOB = Identity(agent="bob", session="s-bob", actor="agent")
DNS1 = b"# DNS\n\nFlush the resolver cache with resolvectl flush-caches.\n"
DNS2 = DNS1 + b"The TTL of internal zones is 300 seconds.\n"
HOSTILE = b"<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>\n"


def seed(m, store):
    """team-sre: two agents' copies of one runbook (the local dream merges them: a proposal that
    modifies /runbooks/disk.md and deletes /notes/disk-alerts.md), a file with two versions, a
    file whose content is HTML, a refused write, and another store (org) for the scope tests."""
    m.write(store, "/runbooks/disk.md", DISK.encode(), identity=ALICE)
    m.write(store, "/notes/disk-alerts.md", DISK_BOB.encode(), identity=BOB)
    m.write(store, "/runbooks/dns.md", DNS1, identity=ALICE)
    m.write(store, "/runbooks/dns.md", DNS2, identity=BOB)
    m.write(store, "/hostile.html", HOSTILE, identity=BOB)
    first = m.history(store, "/runbooks/dns.md")[-1]
    m.record_conflict(store, "/runbooks/dns.md", b"# DNS\nstale edit\n", base_sha256=first.sha256,
                      reason="stale: the file changed since this session read it", identity=ALICE)
    job = dream.run(m, store, engine="local", since=0.0).job
    assert job.status == "completed" and len(job.proposal["changes"]) == 2, job.proposal
    org = m.create_store("org", "Org-wide knowledge")
    m.write(org, "/policy.md", b"# Policy\n", identity=ALICE)
    return {"store": store, "org": org, "job": job}
