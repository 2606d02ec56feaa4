"""Write hooks: commands a store runs before a write commits, to allow, refuse or redact it.

The store API (`Memfs.write`, `append`, `create_file`, `update_file`) runs a store's hooks, in
the order they were added, before it opens the write transaction: no database lock is held while
a hook runs. Each hook is a shell command, run once per write with a time limit. It reads one
JSON object on stdin:

    {"store": "team-sre", "store_id": "memstore_…", "path": "/notes.md",
     "operation": "create" | "write" | "append",
     "content": "…", "encoding": "utf-8" | "base64", "size": 12, "sha256": "…",
     "identity": {"agent": "…", "session": "…", "actor": "agent"}, "hook_id": 1}

(for an append, `content` is the appended bytes) and answers with one JSON object on stdout:

    {"decision": "allow"}
    {"decision": "refuse", "reason": "…"}
    {"decision": "redact", "content": "…", "reason": "…"}   (optional "encoding": "base64")

Redacted content replaces the write (and is what the next hook sees). A hook that times out,
exits with a non-zero status, or prints anything else has failed: the write is refused when the
hook fails closed (the default) and allowed, with a warning logged, when it fails open.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
from dataclasses import asdict, dataclass
from typing import Optional

from . import errors

log = logging.getLogger("memfs.hooks")

EVENTS = ("write",)
FAIL_MODES = ("closed", "open")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 300.0
MAX_REASON = 1000


@dataclass
class Hook:
    id: int
    store_id: int
    store_name: str
    event: str
    command: str
    timeout: float
    fail: str
    created_at: float
    created_by: Optional[str]

    @classmethod
    def _from(cls, r):
        return cls(r["id"], r["store_id"], r["store_name"], r["event"], r["command"], r["timeout"], r["fail"],
                   r["created_at"], r["created_by"])

    def to_dict(self) -> dict:
        return asdict(self)


def check(event: str, command: str, timeout, fail: str) -> tuple[str, str, float, str]:
    if event not in EVENTS:
        raise errors.InvalidInput(f"a hook runs on {', '.join(EVENTS)}, not {event!r}")
    if not isinstance(command, str) or not command.strip():
        raise errors.InvalidInput("a hook needs a command")
    if "\0" in command:
        raise errors.InvalidInput("a hook command cannot contain NUL")
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise errors.InvalidInput(f"timeout must be a number of seconds, not {timeout!r}") from None
    if not 0 < timeout <= MAX_TIMEOUT:
        raise errors.InvalidInput(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    if fail not in FAIL_MODES:
        raise errors.InvalidInput(f"fail must be closed or open, not {fail!r}")
    return event, command, timeout, fail


class _Failed(Exception):
    """The hook did not give a usable answer (timed out, crashed, printed garbage)."""


def _clip(text: str, n: int = MAX_REASON) -> str:
    text = " ".join(str(text).split())  # one line: it ends up in logs, error messages, conflict records
    return text if len(text) <= n else text[: n - 1] + "…"


def payload(store, path: str, operation: str, content: bytes, identity, hook_id: int, digest: str) -> bytes:
    try:
        text, encoding = content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(content).decode("ascii"), "base64"
    return json.dumps({
        "store": store.name, "store_id": store.uid, "path": path, "operation": operation,
        "content": text, "encoding": encoding, "size": len(content), "sha256": digest,
        "identity": {"agent": identity.agent, "session": identity.session, "actor": identity.actor},
        "hook_id": hook_id,
    }).encode("utf-8")


def _kill(p: subprocess.Popen):
    # the hook runs in its own process group: kill the shell and whatever it started
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.kill()
    except ProcessLookupError:
        pass


def _run(hook: Hook, data: bytes) -> dict:
    env = {**os.environ, "MEMFS_HOOK_ID": str(hook.id), "MEMFS_HOOK_STORE": hook.store_name}
    try:
        p = subprocess.Popen(hook.command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, env=env)
    except OSError as e:
        raise _Failed(f"could not be started: {e.strerror or e}") from None
    try:
        out, err = p.communicate(data, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        _kill(p)
        try:
            p.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # something escaped the process group and holds the pipes
            for f in (p.stdin, p.stdout, p.stderr):
                try:
                    f.close()
                except (OSError, ValueError):
                    pass
        raise _Failed(f"timed out after {hook.timeout:g}s") from None
    except BaseException:
        _kill(p)
        p.wait()
        raise
    if p.returncode != 0:
        how = f"was killed by signal {-p.returncode}" if p.returncode < 0 else f"exited with status {p.returncode}"
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
        raise _Failed(how + (f": {_clip(tail[0], 200)}" if tail else ""))
    try:
        answer = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        shown = _clip(out.decode("utf-8", "replace"), 80)
        raise _Failed(f"answered with something that is not JSON: {shown!r}" if shown else "answered nothing") from None
    if not isinstance(answer, dict) or answer.get("decision") not in ("allow", "refuse", "redact"):
        raise _Failed("answered without a decision of allow, refuse or redact")
    reason = answer.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _Failed("answered with a reason that is not a string")
    if answer["decision"] == "redact":
        content, enc = answer.get("content"), answer.get("encoding") or "utf-8"
        if not isinstance(content, str) or enc not in ("utf-8", "base64"):
            raise _Failed("answered redact without content as a string (encoding utf-8 or base64)")
        try:
            answer["content"] = (base64.b64decode(content, validate=True) if enc == "base64"
                                 else content.encode("utf-8"))
        except (ValueError, UnicodeEncodeError):
            raise _Failed("answered redact with content that does not decode") from None
    return answer


def run_write_hooks(hooks: list[Hook], store, path: str, operation: str, content: bytes, identity,
                    message: Optional[str], digest_of) -> tuple[bytes, Optional[str]]:
    """Run `hooks` over one write; returns the content to write (redacted or not) and the revision
    message (noting any redaction). Raises HookRefused."""
    where = f"{store.name}:{path}"
    for h in hooks:
        try:
            answer = _run(h, payload(store, path, operation, content, identity, h.id, digest_of(content)))
        except _Failed as e:
            if h.fail == "open":
                log.warning("write hook %s failed (%s); the write to %s is allowed (the hook fails open)",
                            h.id, e, where)
                continue
            raise errors.HookRefused(f"write to {where} refused: hook {h.id} failed ({e}) and fails closed",
                                     reason=f"hook {h.id} failed: {e}", hook_id=h.id) from None
        reason = _clip(answer.get("reason") or "")
        if answer["decision"] == "refuse":
            reason = reason or "no reason given"
            raise errors.HookRefused(f"write to {where} refused by hook {h.id}: {reason}", reason=reason,
                                     hook_id=h.id)
        if answer["decision"] == "redact":
            content = answer["content"]
            note = f"redacted by hook {h.id}" + (f": {reason}" if reason else "")
            log.info("write to %s %s", where, note)
            message = note if not message else f"{message} ({note})"
    return content, message
