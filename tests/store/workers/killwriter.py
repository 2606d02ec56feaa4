"""Worker process for the kill -9 test: writes revisions in a loop, forever, and prints
"ACK <path> <marker> <revision>" (flushed) after each write has returned.

argv: DB STORE ROUND. Every iteration appends a marker line to one of a few files, and now and then
renames or creates other files, so that a kill can land in any kind of transaction."""

import sys

from memfs import Identity, Memfs


def main():
    db, store, rnd = sys.argv[1], sys.argv[2], sys.argv[3]
    pad = b"." * 2000  # bigger pages: more time spent inside each commit
    with Memfs(db, identity=Identity(agent="victim", session=f"ses-kill-{rnd}", actor="agent")) as m:
        i = 0
        while True:
            path = f"/log/f{i % 4}"
            node = m.lookup(store, path)
            old = m.blob(node.sha256) if node else b""
            marker = f"r{rnd}-{i}"
            r = m.write(store, path, old + marker.encode() + b" " + pad[: i % 50] + b"\n", if_match=node.sha256 if node else None,
                        if_absent=node is None)
            print(f"ACK {path} {marker} {r.revision.id}", flush=True)
            if i % 7 == 3:
                m.write(store, f"/scratch/s{rnd}-{i}", pad + marker.encode())
                m.rename(store, f"/scratch/s{rnd}-{i}", f"/scratch/t{rnd}-{i}")
                print(f"ACKFILE /scratch/t{rnd}-{i} {marker}", flush=True)
            i += 1


if __name__ == "__main__":
    main()
