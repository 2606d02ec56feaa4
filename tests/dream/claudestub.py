"""A local stand-in for the Messages API: `POST /v1/messages` answered by a script.

The script is a function of the request body returning a response body (a Message as a dict)
or `(status, error body)`. Every Message it returns is validated with
`anthropic.types.Message.model_validate`, so the stub cannot drift from the real shape. The
server records every request and the largest number of requests it was serving at once."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic


def message(content, stop_reason="end_turn", input_tokens=100, output_tokens=20, cache_read=0, model="claude-test"):
    body = {"id": "msg_stub", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": cache_read}}
    anthropic.types.Message.model_validate(body)
    return body


def tool_use(id, name, input):
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def error(status, kind, text):
    return status, {"type": "error", "error": {"type": kind, "message": text}}


class Stub:
    def __init__(self, script):
        self.script = script
        self.requests = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                with stub._lock:
                    stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    out = stub.script(body) if self.path.startswith("/v1/messages") else error(404, "not_found_error", "")
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                status, payload = (200, out) if isinstance(out, dict) else out
                if status == 200:
                    anthropic.types.Message.model_validate(payload)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 529 or status == 429:
                    self.send_header("retry-after", "0")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def of(self, phase):
        """The recorded requests of one phase: 'map' (forced record_learnings) or 'integrate'."""
        return [r for r in self.requests if ("tool_choice" in r["body"]) == (phase == "map")]
