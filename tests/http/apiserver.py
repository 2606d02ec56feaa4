"""A real `memfs serve` application (uvicorn) on a free loopback port, in a thread of the test."""

import http.client
import json
import socket
import threading
import time

import anthropic
import uvicorn

from memfs.http import create_app


class Server:
    def __init__(self, db_path, open_without_keys=True):
        self.db_path = db_path
        self.app = create_app(db_path, open_without_keys=open_without_keys)
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that name their protocol
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def client(self, key="unused", **kw) -> anthropic.Anthropic:
        """The official SDK, pointed here by base_url only."""
        return anthropic.Anthropic(api_key=key, base_url=self.url, max_retries=0, **kw)

    def raw(self, method, path, body=None, headers=None, key=None):
        """-> (status, parsed JSON or None, headers). `body`: bytes as they are, else JSON-encoded."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = dict(headers or {})
        if key:
            h["x-api-key"] = key
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("content-type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return resp.status, parsed, dict(resp.getheaders())


class ServeProcess:
    """`memfs serve` as a user runs it: a real process on a free loopback port; `url` once it
    answers. Its output goes to `log` (a path). Stopped with SIGINT, as Ctrl-C stops it."""

    def __init__(self, db_path, log, *args, env=None):
        import os
        import subprocess
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        exe = os.path.join(os.path.dirname(sys.executable), "memfs")
        self.proc = subprocess.Popen([exe, "--db", str(db_path), "serve", "--port", str(self.port), *args],
                                     env={**os.environ, **(env or {})}, stdout=open(log, "w"),
                                     stderr=subprocess.STDOUT)

    def __enter__(self):
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, open(self.log).read()
                time.sleep(0.05)

    def __exit__(self, *exc):
        import signal
        import subprocess

        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def get(self, path) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()
