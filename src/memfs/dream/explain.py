"""What a dream read, and what it left out and why: registered transcripts outside the window,
not linked to the store, or not among the sessions asked for, each with the option that would
include it. Stored in the job's inputs (`explain`), printed by `dream run` and `dream show`."""

from __future__ import annotations

import shlex
import time
from typing import Optional

SHOWN = 20        # left-out transcripts listed one by one; the rest are counted
NOTHING_TO_READ = 12  # the CLI's exit status when a dream had no session or transcript to read


def _day(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts else "?"


def _active(t) -> Optional[float]:
    return t.ended_at or t.started_at or t.mtime or t.added_at


def explain(m, store, ids: list, *, window: Optional[float], sessions_given: bool) -> dict:
    """`ids`: the sessions the dream reads. Every registered transcript is either read (its
    session is among them) or left out with a reason and a hint."""
    chosen = set(ids)
    regs = m.transcripts()
    by_session: dict[str, list[str]] = {}
    for t in regs:
        if t.session_id in chosen:
            by_session.setdefault(t.session_id, []).append(t.path)
    read = [{"session": s, "transcripts": by_session.get(s, [])} for s in ids]
    left, other_stores = [], 0
    for t in regs:
        if t.session_id in chosen:
            continue
        linked = store.name in t.stores or store.uid in t.stores
        when = _active(t)
        item = {"session": t.session_id, "path": t.path, "last_active": when}
        if sessions_given:
            item.update(reason="not among the sessions asked for (--sessions)",
                        hint=f"--sessions {shlex.quote(t.session_id)}")
        elif not linked and t.stores:
            other_stores += 1
            continue
        elif not linked:
            item.update(reason="not linked to any store",
                        hint=f"memfs transcripts add --store {shlex.quote(store.name)} {shlex.quote(t.path)}"
                             f" (or dream run --sessions {shlex.quote(t.session_id)})")
        elif window is not None and (when or 0) < window:
            item.update(reason=f"outside the window: last active {_day(when)}, the window starts {_day(window)}",
                        hint=f"--since {_day(when)}")
        else:
            continue
        left.append(item)
    left.sort(key=lambda x: (-(x["last_active"] or 0), x["path"]))
    return {"read": read, "left_out": left[:SHOWN], "left_out_count": len(left),
            "other_stores": other_stores, "window": window, "nothing_to_read": not ids}


def lines(ex: Optional[dict], store_name: str) -> list[str]:
    """The explanation as text, for `dream run` and `dream show`."""
    if not ex:
        return []
    out = []
    read = ex.get("read", [])
    n_tr = sum(len(r["transcripts"]) for r in read)
    if not read:
        since = f" since {_day(ex['window'])}" if ex.get("window") else ""
        out.append(f"nothing to read: no session or transcript touched {store_name}{since}; "
                   f"the dream looked at the files only")
    else:
        out.append(f"read {len(read)} session{'s' if len(read) != 1 else ''}, {n_tr} transcript"
                   f"{'s' if n_tr != 1 else ''}:")
        for r in read[:SHOWN]:
            out.append(f"  {r['session']}: " + (", ".join(r["transcripts"]) if r["transcripts"]
                                                 else "no transcript (the store's log and the mount's record)"))
        if len(read) > SHOWN:
            out.append(f"  ... and {len(read) - SHOWN} more sessions")
    if ex.get("left_out_count"):
        out.append(f"left out {ex['left_out_count']} registered transcript"
                   f"{'s' if ex['left_out_count'] != 1 else ''}:")
        for x in ex["left_out"]:
            out.append(f"  {x['path']} (session {x['session']}): {x['reason']}; to include: {x['hint']}")
        if ex["left_out_count"] > len(ex["left_out"]):
            out.append(f"  ... and {ex['left_out_count'] - len(ex['left_out'])} more")
    if ex.get("other_stores"):
        n = ex["other_stores"]
        out.append(f"({n} transcript{'s' if n != 1 else ''} registered for other stores "
                   f"{'were' if n != 1 else 'was'} not considered)")
    return out
