"""Dream engines. An engine takes a `DreamContext` and returns a `Proposal`; it never writes to
the store. Built in: `local` (deterministic, offline) and `claude` (the anthropic SDK)."""

from __future__ import annotations

import os

from ... import errors

ENGINES = ("local", "claude")


def default_engine() -> str:
    """`claude` when an API key is configured, else `local`."""
    return "claude" if os.environ.get("ANTHROPIC_API_KEY") else "local"


def get(name: str, **options):
    if name == "local":
        from .local import LocalEngine

        return LocalEngine(**options)
    if name == "claude":
        from .claude import ClaudeEngine

        return ClaudeEngine(**options)
    raise errors.InvalidInput(f"unknown dream engine {name!r} (known: {', '.join(ENGINES)})")
