"""Worker process: read-modify-write append cycles with if_match, retrying on PreconditionFailed.

argv: DB STORE WORKER_ID CYCLES NFILES. Prints "READY" once its database is open, waits for a
line on stdin (so that all workers start together), then prints "ACK <file> <marker> <revision>" (flushed) after each
write returned, and "DONE <retries>" at the end."""

import sys

from memfs import Identity, Memfs, errors


def main():
    db, store, wid, cycles, nfiles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    retries = 0
    with Memfs(db, identity=Identity(agent=f"worker-{wid}", session=f"ses-{wid}", actor="agent")) as m:
        m.lookup(store, "/")
        print("READY", flush=True)
        sys.stdin.readline()
        for k in range(cycles):
            path = f"/shared/f{(int(wid) + k) % nfiles}"
            marker = f"w{wid}-{k}"
            while True:
                node = m.lookup(store, path)
                old = m.blob(node.sha256)  # the content that matches the hash we guard with
                try:
                    r = m.write(store, path, old + marker.encode() + b"\n", if_match=node.sha256)
                except errors.PreconditionFailed as e:
                    assert e.current_sha256 != node.sha256
                    retries += 1
                    continue
                break
            assert r.revision is not None
            print(f"ACK {path} {marker} {r.revision.id}", flush=True)
    print(f"DONE {retries}", flush=True)


if __name__ == "__main__":
    main()
