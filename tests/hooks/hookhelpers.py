"""Helpers of the write-hook tests."""

import json


def requests_of(tmp_path, name="hook0") -> list[dict]:
    """What the hook `name` (made by the `hook` fixture) was sent, one request per run."""
    p = tmp_path / f"{name}.requests"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []
