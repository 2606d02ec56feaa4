"""The text an agent harness adds to the system prompt for the stores it mounts, with the
store's pinned memory: the files under `/system/` of each store, always in context.

Pinned files go in whole, in store order then path order, while they fit a byte budget (UTF-8,
default `PINNED_BUDGET`); a file that does not fit is left out whole (never cut mid-sentence) and
named, so the agent can `cat` it; binary files are left out. `pinned()` says what went in and
what did not, and why; `memfs prompt` reports it on stderr."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .store import FILE, Store, is_binary

PINNED_DIR = "/system/"
PINNED_BUDGET = 4096  # bytes of pinned content, all stores together

TEMPLATE = """\
# Memory

You have persistent memory: directories that outlive this session and that other agents share.
Use your ordinary file tools on them (cat, grep -rn, echo >>, sed -i, editors).

{stores}

How it works:
- Every change is kept as a version with your agent and session id. Nothing is lost.
- Before changing a file, read it. If another agent changed it after you read it, your write
  fails with "Stale file handle" (ESTALE) and nothing is written: read the file again, merge your
  change into what is there now, and write again. Your refused text is kept in
  <store>/.memfs/conflicts/.
- Appending (echo ... >> file) never conflicts.
- History: <store>/.memfs/log lists every change; <store>/.memfs/history/PATH/ holds every old
  version of PATH (grep -rn works there). .memfs/ is hidden from ls and grep -r on the store.
- Read-only stores refuse writes with "Read-only file system".
- Keep files small and focused (at most {limit} KiB each); prefer editing an existing file to
  creating a near-duplicate.
"""


@dataclass
class Pinned:
    """What `pinned()` chose: `included` (Store, path, text), `left_out` (Store, path, bytes,
    why), bytes `used` of the `budget`."""

    budget: int
    used: int = 0
    included: list = field(default_factory=list)
    left_out: list = field(default_factory=list)

    def report(self) -> str:
        out = [f"pinned memory: {len(self.included)} file{'s' if len(self.included) != 1 else ''}, "
               f"{self.used} of {self.budget} bytes"]
        out += [f"left out {s.name}:{path} ({size} bytes): {why}" for s, path, size, why in self.left_out]
        return "\n".join(out)


def pinned(m, stores: list[Store], budget: int = PINNED_BUDGET) -> Pinned:
    if budget < 0:
        from . import errors

        raise errors.InvalidInput(f"the pinned-memory budget must be 0 or more bytes, got {budget}")
    out = Pinned(budget)
    for s in stores:
        for e in m.walk(s, PINNED_DIR.rstrip("/")) if m.lookup(s, PINNED_DIR.rstrip("/")) else []:
            if e.kind != FILE or not e.path.startswith(PINNED_DIR):
                continue
            data = m.blob(e.sha256)
            if is_binary(data):
                out.left_out.append((s, e.path, len(data), "binary"))
            elif out.used + len(data) > budget:
                out.left_out.append((s, e.path, len(data), f"over the budget, {budget - out.used} bytes left"))
            else:
                out.used += len(data)
                out.included.append((s, e.path, data.decode("utf-8")))
    return out


def _where(stores, s, root, places=None) -> str:
    return (places or {}).get(s.name) or (root if len(stores) == 1 else f"{root}/{s.slug}")


def render(stores: list[tuple[Store, str]], mount_root: str = "/mnt/memory", pins: Pinned = None,
           places: Optional[dict[str, str]] = None) -> str:
    """`places`: where each store (by name) is mounted (see live_places); else under `mount_root`
    as `memfs mount MOUNT_ROOT --store ...` puts them (one store at the root, several by slug)."""
    root = mount_root.rstrip("/")
    lines = []
    for s, scope in stores:
        access = "read-write" if scope == "rw" else "read-only"
        lines.append(f"- {_where(stores, s, root, places)}/ — store \"{s.name}\", {access}." +
                     (f" {s.description}" if s.description else ""))
    limit = min(s.max_content_bytes for s, _ in stores) // 1024
    text = TEMPLATE.format(stores="\n".join(lines), limit=limit)
    return text + pinned_section(pins, lambda s, path: f"{_where(stores, s, root, places)}{path}",
                                 "read it with cat")


def pinned_section(pins, name, how: str) -> str:
    """The pinned files as a prompt section ("" when there are none); `name(store, path)` says
    how the agent reaches a file, `how` how to read one that was left out."""
    if pins is None or not (pins.included or pins.left_out):
        return ""
    out = ["", "# Pinned memory", "",
           f"The files under {PINNED_DIR} of a store are pinned: they are here in full, always in context. "
           "Keep them short; everything else stays in the store for search.", ""]
    for s, path, body in pins.included:
        out += [f"## {name(s, path)}", "", body.rstrip("\n"), ""]
    for s, path, size, why in pins.left_out:
        out.append(f"- not included ({why}): {name(s, path)}, {size} bytes: {how}")
    return "\n".join(out).rstrip("\n") + "\n"


def live_places(mounts: list[dict], stores: list[Store]) -> Optional[dict[str, str]]:
    """Where the live mounts of this machine (`memfs mounts`) show each of `stores`, preferring a
    mount that holds them all; None unless every one of them is mounted."""
    live = sorted((x for x in mounts if x["state"] == "live"),
                  key=lambda x: not all(s.name in x["stores"] for s in stores))
    places = {}
    for s in stores:
        x = next((x for x in live if s.name in x["stores"]), None)
        if x is None:
            return None
        places[s.name] = x["mountpoint"] if len(x["stores"]) == 1 else f"{x['mountpoint'].rstrip('/')}/{s.slug}"
    return places
