"""Checks shared by the HTTP tests: every error must be Anthropic's envelope with a request id."""

import json


def api_error(exc_info, status, etype):
    """Check an SDK exception: status, Anthropic's envelope, error type; return the error object."""
    e = exc_info.value
    assert e.status_code == status, (e.status_code, e.body)
    body = e.response.json()
    assert body["type"] == "error" and body["request_id"].startswith("req_"), body
    assert body["error"]["type"] == etype, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert e.response.headers["request-id"] == body["request_id"]
    return body["error"]


def raw_error(resp, status, etype):
    code, body, headers = resp
    assert code == status, (code, body)
    assert isinstance(body, dict) and body.get("type") == "error", body
    assert body["error"]["type"] == etype, body
    assert body["error"]["message"] and body["request_id"].startswith("req_"), body
    assert headers.get("request-id") == body["request_id"]
    assert "Traceback" not in json.dumps(body)
    return body["error"]
