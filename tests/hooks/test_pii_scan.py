"""contrib/hooks/pii-scan: the real scanner, run as memfs runs it (a process reading the hook
request on stdin), and behind a store."""

import base64
import json
import subprocess

import pytest

from memfs import errors


def scan(pii_scan, text, *args, binary=False):
    req = {"store": "s", "path": "/a.md", "operation": "write",
           "content": base64.b64encode(text).decode() if binary else text,
           "encoding": "base64" if binary else "utf-8"}
    p = subprocess.run([pii_scan, *args], input=json.dumps(req), capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("text, found", [
    ("card 4111 1111 1111 1111 on file", "credit card number on line 1"),
    ("x\nAmex 3782-822463-10005\n", "credit card number on line 2"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n", "private key on line 1"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", "private key on line 1"),
    ("ANTHROPIC_API_KEY=sk-ant-api03-Zx8Kq2LmP9vR4tYw7NbCdEfGh", "Anthropic API key on line 1"),
    ("aws AKIAIOSFODNN7EXAMPLE", "AWS access key on line 1"),
    ("token ghp_0123456789abcdefghijABCDEFGHIJklmnop", "GitHub token on line 1"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "GitHub token on line 1"),
    ("slack xoxb-1234567890-0987654321-AbCdEfGhIjKl", "Slack token on line 1"),
    ('config: api_key = "Zx8Kq2LmP9vR4tYw7NbC"', "high-entropy secret on line 1"),
])
def test_refuses_secrets_without_echoing_them(pii_scan, text, found):
    ans = scan(pii_scan, text)
    assert ans == {"decision": "refuse", "reason": f"pii-scan found {found}"}


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 fails the Luhn check",
    "build 20240101 12345678 and version 1.2.3.4",
    "api_key = aaaaaaaaaaaaaaaaaaaaaaaa (no entropy)",
    "the AKIA prefix alone",
    "plain notes about ssh keys and -----BEGIN CERTIFICATE-----",
])
def test_allows_lookalikes(pii_scan, text):
    assert scan(pii_scan, text) == {"decision": "allow"}


def test_redacts_email_addresses(pii_scan):
    ans = scan(pii_scan, "ask ana.lopez+ops@example.co.uk or bob@corp.io\nthanks")
    assert ans["decision"] == "redact"
    assert ans["content"] == "ask [email redacted] or [email redacted]\nthanks"
    assert ans["reason"] == "pii-scan redacted e-mail address on line 1"


def test_modes(pii_scan):
    assert scan(pii_scan, "ana@example.com", "--mode", "refuse")["decision"] == "refuse"
    ans = scan(pii_scan, "card 4111111111111111 of ana@example.com", "--mode", "redact")
    assert ans["content"] == "card [credit card number redacted] of [email redacted]"
    assert scan(pii_scan, 'api_key = "Zx8Kq2LmP9vR4tYw7NbC"', "--no-generic") == {"decision": "allow"}


def test_binary_content(pii_scan):
    assert scan(pii_scan, b"\xff\x00 AKIAIOSFODNN7EXAMPLE", binary=True)["decision"] == "refuse"
    assert scan(pii_scan, b"\xff\x00 ana@example.com", binary=True)["decision"] == "refuse"
    assert scan(pii_scan, b"\xff\x00\x01", binary=True) == {"decision": "allow"}


def test_garbage_in_is_an_error(pii_scan):
    p = subprocess.run([pii_scan], input="nope", capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "expected the memfs hook request" in p.stderr


def test_behind_a_store(m, store, pii_scan):
    m.add_hook(store, pii_scan)
    with pytest.raises(errors.HookRefused) as e:
        m.write(store, "/keys.md", b"deploy with AKIAIOSFODNN7EXAMPLE\n")
    assert e.value.reason == "pii-scan found AWS access key on line 1"
    assert "AKIAIOSFODNN7EXAMPLE" not in e.value.message
    m.write(store, "/people.md", b"owner: ana@example.com\n")
    assert m.read(store, "/people.md") == b"owner: [email redacted]\n"
    m.write(store, "/fine.md", b"nothing to see\n")
    assert m.read(store, "/fine.md") == b"nothing to see\n"
