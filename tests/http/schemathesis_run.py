"""`make schemathesis`: fuzz `memfs serve` from its own /openapi.json and fail on any server error.

Seeds a throwaway database (a store, memories, versions, a redacted version, an all-stores key),
starts a real `memfs serve` on a free loopback port, and runs schemathesis twice: once with the
real store, memory and version ids offered half of the time (so requests get past the lookups
into the handlers), once with generated ids for every operation (store deletion and archiving
included). Extra arguments go to both `schemathesis run` calls (e.g. --max-examples 20).

    python tests/http/schemathesis_run.py [--max-examples 20] [--seed N] [schemathesis options]
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src")
sys.path.insert(0, SRC)

from memfs import Memfs  # noqa: E402

# the memfs command, as its console script runs it (not `python -m memfs.cli`)
MEMFS = [sys.executable, "-c", "from memfs.cli import main; main()"]


def seed(db):
    with Memfs(db) as m:
        s = m.create_store("fuzz", "seeded for schemathesis")
        mems = []
        for p in ("/a.md", "/notes/b.md", "/notes/deep/c.md", "/z.md"):
            mems.append(m.write(s, p, f"content of {p}".encode()).node.id)
        m.write(s, "/a.md", b"second version")
        old = m.history(s, "/a.md")[-1].id
        m.write(s, "/z.md", b"z2")
        m.redact(m.history(s, "/z.md")[-1].id)
        vers = [r.id for r in m.versions(s)]
        key = m.create_api_key(all_stores="rw", name="schemathesis")[1]
        return s.uid, [f"mem_{n}" for n in mems], [f"memver_{v}" for v in vers + [old]], key


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def main(argv):
    tmp = tempfile.mkdtemp(prefix="memfs-schemathesis-")
    db = os.path.join(tmp, "memfs.db")
    store, mems, vers, key = seed(db)
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    env = {**os.environ, "MEMFS_DB": db, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log_path = os.path.join(tmp, "serve.log")
    log = open(log_path, "w")
    server = subprocess.Popen([*MEMFS, "serve", "--port", str(port), "--log-level",
                               "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/openapi.json").read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(open(log_path).read(), file=sys.stderr)
                    return 2
                time.sleep(0.1)
        seeded = os.path.join(tmp, "seeded.toml")
        with open(seeded, "w") as f:
            f.write(f'headers = {{ "x-api-key" = {json.dumps(key)} }}\n'
                    f'[dictionaries.stores]\nvalues = {toml_list([store])}\n'
                    f'[dictionaries.memories]\nvalues = {toml_list(mems)}\n'
                    f'[dictionaries.versions]\nvalues = {toml_list(vers)}\n'
                    '[parameters]\n'
                    '"path.memory_store_id" = { dictionary = "stores", probability = 0.9 }\n'
                    '"path.memory_id" = { dictionary = "memories", probability = 0.5 }\n'
                    '"path.memory_version_id" = { dictionary = "versions", probability = 0.5 }\n'
                    '"query.memory_id" = { dictionary = "memories", probability = 0.5 }\n'
                    '"query.timeout" = 0\n')  # /v1/events would long-poll
        generated = os.path.join(tmp, "generated.toml")
        with open(generated, "w") as f:
            f.write(f'headers = {{ "x-api-key" = {json.dumps(key)} }}\n[parameters]\n"query.timeout" = 0\n')
        # every check but positive_data_acceptance: the schema cannot say everything memfs refuses
        # (control and format characters, NFC, lone surrogates, cursors it did not make)
        run = ["run", url + "/openapi.json", "--checks", "all", "--exclude-checks", "positive_data_acceptance",
               "--suppress-health-check", "all", "--warnings", "off", *argv]
        runs = [(seeded, [*run, "--exclude-path-regex", "^/v1/memory_stores/{memory_store_id}$",
                          "--exclude-path-regex", "/archive$"]),
                (generated, run)]
        rc, passed, failed = 0, 0, 0
        for config, args in runs:
            print("$ schemathesis --config-file", os.path.basename(config), " ".join(args), flush=True)
            cmd = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", config, *args]
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in p.stdout:
                sys.stdout.write(line)
                m = re.search(r"(\d+) generated, .*?(\d+) passed", line)
                if m:
                    passed += int(m.group(2))
            if p.wait():
                rc, failed = rc or p.returncode, failed + 1
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    out = open(log_path).read()
    if "Traceback" in out or "ERROR" in out:
        print("the server logged errors:\n" + out, file=sys.stderr)
        rc, failed = rc or 1, failed + 1
    print(f"schemathesis: {passed} passed, {failed} failed")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
