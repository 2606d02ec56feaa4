"""The text an agent harness adds to the system prompt for the stores it mounts."""

from typing import Optional

from .store import Store

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


def render(stores: list[tuple[Store, str]], mount_root: str = "/mnt/memory",
           places: Optional[dict[str, str]] = None) -> str:
    """`places`: where each store (by name) is mounted; else under `mount_root` as `memfs mount
    MOUNT_ROOT --store ...` puts them (one store at the root itself, several by their slugs)."""
    root = mount_root.rstrip("/")
    lines = []
    for s, scope in stores:
        where = (places or {}).get(s.name) or (root if len(stores) == 1 else f"{root}/{s.slug}")
        access = "read-write" if scope == "rw" else "read-only"
        lines.append(f"- {where}/ — store \"{s.name}\", {access}." + (f" {s.description}" if s.description else ""))
    limit = min(s.max_content_bytes for s, _ in stores) // 1024
    return TEMPLATE.format(stores="\n".join(lines), limit=limit)


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
