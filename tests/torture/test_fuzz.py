"""Fuzzing: garbage into the transcript readers (every format, forced and detected) and into the HTTP
API's request parsing. Nothing may crash, hang or answer 500: a reader reports what it could not
parse, the server answers 4xx with its error envelope."""

import json
import os
import tempfile
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memfs import errors, transcripts

SAMPLE_RECORDS = [
    {"type": "user", "uuid": "u1", "parentUuid": None, "sessionId": "s", "timestamp": "2026-01-01T00:00:00Z",
     "message": {"role": "user", "content": "hi"}},
    {"type": "assistant", "uuid": "a1", "parentUuid": "u1", "sessionId": "s",
     "message": {"id": "m1", "role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash",
                                                               "input": {"command": "ls"}}]}},
    {"type": "system", "subtype": "init", "session_id": "s", "tools": [], "cwd": "/", "model": "x"},
    {"type": "agent.tool_result", "id": "e1", "tool_use_id": "t1", "content": "boom", "is_error": True},
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["type", "uuid", "parentUuid", "message", "content", "role", "id", "tool_use_id", "is_error", "name",
         "input", "sessionId", "session_id", "timestamp", "isMeta", "isSidechain", "messages", "subtype", "data"]),
        inner, max_size=6),
    max_leaves=20)

# a line: a mutated real record, any JSON value, or raw bytes
lines = st.one_of(
    st.builds(lambda rec, k, v: json.dumps({**rec, k: v}).encode(), st.sampled_from(SAMPLE_RECORDS),
              st.sampled_from(["type", "message", "content", "uuid", "parentUuid", "tool_use_id", "is_error"]),
              json_values),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=st.lists(lines, max_size=25), suffix=st.sampled_from([".jsonl", ".json"]),
       fmt=st.sampled_from([None, *transcripts.FORMATS]))
def test_transcript_readers_never_crash(body, suffix, fmt):
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\n".join(body))
        try:
            s = transcripts.load(path, fmt)
        except errors.MemfsError:
            return  # "not a transcript": a clear, typed refusal
        assert s is not None
    finally:
        os.unlink(path)


@FUZZ
@given(path=st.text(max_size=40), body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())),
       method=st.sampled_from(["POST", "GET", "DELETE", "PATCH"]),
       route=st.sampled_from(["", "/memories", "/memories/mem_1", "/memory_versions", "/archive",
                              "/memory_versions/memver_1/redact"]),
       ctype=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", ""]))
def test_http_parsing_never_answers_500(fuzz_server, path, body, method, route, ctype):
    server, key, uid = fuzz_server
    target = f"/v1/memory_stores/{uid}{route}"
    if method == "GET":
        target += "?path_prefix=" + urllib.parse.quote(path[:20]) + "&limit=3"
    status, parsed, _ = server.raw(method, target, body=body, headers={"content-type": ctype} if ctype else {}, key=key)
    assert status < 500, f"{method} {target} -> {status}: {parsed}"
    if status >= 400:
        assert isinstance(parsed, dict) and parsed.get("type") == "error" and parsed["error"].get("type")
