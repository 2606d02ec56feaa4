"""A private PostgreSQL server for tests and benchmarks: Debian's binaries, a fresh cluster in a
temporary directory, listening on a Unix socket there and on a free loopback port, trust auth.
Nothing of the machine's own cluster is used or touched. As root, the server runs as the
`postgres` user (PostgreSQL refuses to run as root).

    with PgServer(tmpdir) as pg:
        url = pg.create_database("t1")      # postgresql://postgres@127.0.0.1:PORT/t1

`python tests/pgserver.py DIR` starts one in the foreground and prints its URL (for benchmarks
and by hand)."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time


def pg_bindir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return dirs[-1] if dirs else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, base: str, *, durable: bool = False, port: int | None = None):
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.base = os.path.abspath(base)
        self.data = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "sock")
        self.port = port or free_port()
        self.durable = durable  # fsync on (benchmarks) or off (tests: faster, same semantics)
        self.user = "postgres"
        self._as = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd, **kw):
        p = subprocess.run([*self._as, *cmd], capture_output=True, text=True, **kw)
        if p.returncode:
            raise RuntimeError(f"{os.path.basename(cmd[0])} failed ({p.returncode}): {p.stderr.strip()}")
        return p

    def start(self) -> "PgServer":
        os.makedirs(self.sockdir, exist_ok=True)
        os.chmod(self.base, 0o755)
        if self._as:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sockdir, "postgres")
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run(os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C.UTF-8")
        self.restart()
        return self

    def restart(self):
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c max_connections=300"
                " -c shared_buffers=128MB")
        if not self.durable:
            opts += " -c fsync=off -c full_page_writes=off"
        self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-o", opts, "-w", "-t", "60",
                  "-l", os.path.join(self.base, "server.log"), "start")

    def stop(self, mode: str = "fast"):
        """Stop the server (`immediate` is a crash: no shutdown checkpoint)."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def url(self, db: str = "postgres", *, socket_path: bool = False) -> str:
        if socket_path:  # reachable from another network namespace: a Unix socket is a file
            return f"postgresql://postgres@/{db}?host={self.sockdir}&port={self.port}"
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._run(os.path.join(self.bindir, "psql"), "-h", self.sockdir, "-p", str(self.port), "-U", "postgres",
                         "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql).stdout

    def create_database(self, name: str, template: str | None = None) -> str:
        self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str):
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop("immediate")


if __name__ == "__main__":
    pg = PgServer(sys.argv[1] if len(sys.argv) > 1 else "/tmp/memfs-pg", durable=True).start()
    print(pg.url("postgres"), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pg.stop()
