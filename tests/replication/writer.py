"""A writer process for the kill -9 test: random changes of every kind to store `live` of a
database, by several agents, until a stop file appears."""

import os
import random
import sys
import time

from memfs import Identity, Memfs, errors

db, seed, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rnd = random.Random(seed)
who = [Identity(agent=f"agent-{i}", session=f"ses_{i}", actor="agent") for i in range(3)] + [
    Identity(agent="ops", actor="operator")]
with Memfs(db) as m:
    n = 0
    while not os.path.exists(stop):
        ident = rnd.choice(who)
        files = [e.path for e in m.walk("live") if e.kind == "file"]
        dirs = [e.path for e in m.walk("live") if e.kind == "dir" and e.path != "/"]
        op = rnd.random()
        try:
            if op < 0.45 or not files:
                d = rnd.choice(dirs + ["/"]) if dirs else "/"
                path = (d.rstrip("/") + f"/f{rnd.randrange(30)}.md")
                m.write("live", path, f"{ident.agent} wrote {n}\n".encode(), identity=ident, message=f"w{n}")
            elif op < 0.55:
                m.mkdir("live", f"/d{rnd.randrange(6)}", identity=ident)
            elif op < 0.65:
                m.rename("live", rnd.choice(files), rnd.choice(dirs + ["/"]).rstrip("/") + f"/r{rnd.randrange(30)}.md",
                         identity=ident)
            elif op < 0.72 and dirs:
                m.rename("live", rnd.choice(dirs), f"/d{rnd.randrange(6)}", identity=ident)  # a directory moves
            elif op < 0.82:
                m.delete("live", rnd.choice(files), identity=ident)
            elif op < 0.92:
                m.chmod("live", rnd.choice(files), rnd.choice([0o600, 0o644, 0o640]), identity=ident)
            else:
                f = rnd.choice(files)
                m.symlink("live", f + f".l{n}", os.path.basename(f), identity=ident)
        except errors.MemfsError:
            pass  # taken, missing, not empty: the next change
        n += 1
        time.sleep(0.002)
