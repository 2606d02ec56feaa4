"""Fixtures of the write-hook tests: real hook programs written into tmp_path (Python scripts run
by this interpreter), the real contrib scanner, and a real HTTP server (tests/http/apiserver.py)."""

import os
import sys
import textwrap
from pathlib import Path

import pytest

from memfs import Memfs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "http"))
from apiserver import Server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PII_SCAN = ROOT / "contrib" / "hooks" / "pii-scan"


@pytest.fixture
def hook(tmp_path):
    """hook('''python body using `req` (the request) and `answer(dict)`''') -> the shell command
    that runs it. Every request the hook gets is appended to tmp_path/'<name>.requests' (JSON lines)."""
    made = []

    def make(body: str, name=None) -> str:
        name = name or f"hook{len(made)}"
        script = tmp_path / f"{name}.py"
        log = tmp_path / f"{name}.requests"
        script.write_text(
            "import json, os, sys, time\n"
            "req = json.load(sys.stdin)\n"
            f"with open({str(log)!r}, 'a') as f:\n"
            "    f.write(json.dumps(req) + '\\n')\n"
            "def answer(d):\n"
            "    print(json.dumps(d))\n"
            + textwrap.dedent(body) + "\n")
        made.append(name)
        return f"{sys.executable} {script}"

    return make


@pytest.fixture
def secret_hook(hook):
    """A hook that refuses content containing SECRET and redacts 'phone 555-...' numbers."""
    return hook("""
        text = req["content"]
        if "SECRET" in text:
            answer({"decision": "refuse", "reason": "no secrets here (found SECRET)"})
        elif "555-" in text:
            answer({"decision": "redact", "content": text.replace("555-1234", "[phone]"), "reason": "phone number"})
        else:
            answer({"decision": "allow"})
    """)


@pytest.fixture
def pii_scan():
    assert os.access(PII_SCAN, os.X_OK), "contrib/hooks/pii-scan must be executable"
    return str(PII_SCAN)


@pytest.fixture
def api(db_path):
    """A real `memfs serve` app on a loopback port, open (no API keys): api.client() is the SDK."""
    with Memfs(db_path):
        pass
    s = Server(db_path).start()
    yield s
    s.stop()
