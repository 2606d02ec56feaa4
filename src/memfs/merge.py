"""Three-way merge of a branch into its store: the decisions, without a database or a kernel.

Each side is a tree keyed by node identity (not by path), so that a file renamed on one side
and edited on the other is still one file: base = the store as the branch started from it,
branch = the branch now, store = the store now. Per file:

- changed on one side only: that side is taken (content, path, mode, deletion);
- text changed on both sides: merged line-wise (merge3) where the changes do not overlap;
  overlapping changes, a binary file changed on both sides, two different renames, an edit
  against a deletion, or a path both sides took for different files, are conflicts;
- a conflict is settled by a resolution: 'ours' keeps the store's version, 'theirs' takes the
  branch's (the words of `git merge`: the store is ours, the merged branch is theirs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Optional

import merge3

DIR = "dir"


@dataclass(frozen=True)
class State:
    """One side's view of one node: where it is and what it holds."""

    path: str
    kind: str  # file | dir | symlink
    sha256: Optional[str]
    mode: int


@dataclass
class FileMerge:
    """The outcome for one node. `status`: taken (one side changed: the branch's change is
    taken), merged (both changed, merged line-wise), conflict, ours / theirs (a conflict
    settled by a resolution). `action` says what applying does to the store: create, write,
    rename (and maybe write), delete, mkdir, rmdir, or None (the store keeps what it has)."""

    key: Hashable
    path: str  # the path the file ends at (the store's, for a conflict or a deletion)
    status: str
    action: Optional[str] = None
    reason: str = ""
    kind: str = "file"
    store_path: Optional[str] = None  # where the store has it now (None: absent)
    store_sha: Optional[str] = None  # the precondition: what the store holds now
    content: Optional[bytes] = None  # the new content (create/write)
    mode: Optional[int] = None
    branch_path: Optional[str] = None

    @property
    def clean(self) -> bool:
        return self.status != "conflict"

    def to_dict(self) -> dict:
        return {"path": self.path, "status": self.status, "action": self.action, "reason": self.reason,
                "kind": self.kind, "store_path": self.store_path, "branch_path": self.branch_path}


@dataclass
class Plan:
    files: list[FileMerge] = field(default_factory=list)

    @property
    def conflicts(self) -> list[FileMerge]:
        return [f for f in self.files if f.status == "conflict"]

    @property
    def actions(self) -> list[FileMerge]:
        return [f for f in self.files if f.clean and f.action]


def merge_text(base: bytes, ours: bytes, theirs: bytes) -> Optional[bytes]:
    """Line-wise three-way merge of UTF-8 texts, or None where the changes overlap (or one is
    not text)."""
    try:
        b, o, t = (x.decode("utf-8") for x in (base, ours, theirs))
    except UnicodeDecodeError:
        return None
    if "\0" in b + o + t:
        return None
    m3 = merge3.Merge3(b.splitlines(True), o.splitlines(True), t.splitlines(True))
    if any(r[0] == "conflict" for r in m3.merge_regions()):
        return None
    return "".join(m3.merge_lines()).encode("utf-8")


def plan(base: dict, branch: dict, store: dict, read: Callable[[Optional[str]], bytes],
         resolve: Callable[[str], Optional[str]] = lambda path: None) -> Plan:
    """Decide every node that the branch changed (nodes only the store changed are the store's
    business and are left out). `read(sha)` gives content; `resolve(path)` gives 'ours',
    'theirs' or None for a conflict at that path (store path or branch path)."""
    out = Plan()
    for key in sorted(set(base) | set(branch), key=lambda k: ((branch.get(k) or base.get(k)).path, str(k))):
        b, x, s = base.get(key), branch.get(key), store.get(key)
        if x == b:
            continue  # the branch left it alone: whatever the store did stands
        f = _decide(key, b, x, s, read)
        if f is None:
            continue
        if f.status == "conflict":
            how = resolve(f.path) or (resolve(x.path) if x is not None else None)
            if how == "ours":
                f.status, f.action, f.content = "ours", None, None
            elif how == "theirs":
                f = _take(key, x, s, read, status="theirs", reason=f.reason)
        out.files.append(f)
    _path_clashes(out, store)
    return out


def _same(a: Optional[State], b: Optional[State]) -> bool:
    return a is not None and b is not None and a.kind == b.kind and a.sha256 == b.sha256


def _take(key, x: Optional[State], s: Optional[State], read, *, status="taken", reason="") -> FileMerge:
    """The branch's side, as an action on the store."""
    sp, ssha = (s.path, s.sha256) if s is not None else (None, None)
    if x is None:
        if s is None:
            return FileMerge(key, sp or "?", status, None, reason or "deleted on both sides")
        return FileMerge(key, s.path, status, "rmdir" if s.kind == DIR else "delete", reason or "deleted on the branch",
                         kind=s.kind, store_path=sp, store_sha=ssha)
    if s is None:
        act = "mkdir" if x.kind == DIR else "create"
        content = None if x.kind == DIR else read(x.sha256)
        return FileMerge(key, x.path, status, act, reason or "new on the branch", kind=x.kind, content=content,
                         mode=x.mode, branch_path=x.path)
    act = "rename" if x.path != s.path else ("write" if x.kind != DIR else "chmod")
    content = None if x.kind == DIR or x.sha256 == s.sha256 else read(x.sha256)
    if act == "chmod" and x.mode == s.mode:
        act = None
    return FileMerge(key, x.path, status, act, reason or "changed on the branch", kind=x.kind, store_path=sp,
                     store_sha=ssha, content=content, mode=x.mode, branch_path=x.path)


def _decide(key, b: Optional[State], x: Optional[State], s: Optional[State], read) -> Optional[FileMerge]:
    def conflict(why):
        return FileMerge(key, s.path if s is not None else x.path, "conflict", None, why,
                         kind=(x or s or b).kind, store_path=s.path if s else None, store_sha=s.sha256 if s else None,
                         branch_path=x.path if x else None)

    if b is None:  # new on the branch
        if s is not None:  # cannot happen by identity (a store node is never new on the branch)
            return conflict("new on both sides")
        return _take(key, x, None, read)
    if s == b:  # the store left it alone: take the branch's side
        return _take(key, x, s, read)
    if x is None:  # deleted on the branch
        if s is None:
            return None  # deleted on both sides
        if s.kind != DIR and s.sha256 != b.sha256:
            return conflict("deleted on the branch, changed in the store")
        return _take(key, None, s, read)
    if s is None:  # deleted in the store
        if x.kind != DIR and x.sha256 != b.sha256:
            return conflict("changed on the branch, deleted in the store")
        if x.path != b.path:
            return conflict("renamed on the branch, deleted in the store")
        return None  # the branch only changed its mode: the deletion stands
    # changed on both sides: path, then content
    path = x.path
    if x.path != b.path and s.path != b.path and x.path != s.path:
        return conflict(f"renamed to {x.path} on the branch and to {s.path} in the store")
    if x.path == b.path:
        path = s.path
    mode = x.mode if x.mode != b.mode else s.mode
    if x.kind != s.kind:
        return conflict(f"a {x.kind} on the branch, a {s.kind} in the store")
    status, content = "taken", None
    if x.kind != DIR and x.sha256 != s.sha256:
        if x.sha256 == b.sha256:
            content = None  # only the store changed the content
        elif s.sha256 == b.sha256:
            content = read(x.sha256)
        elif x.kind == "symlink":
            return conflict("the link was changed on both sides")
        else:
            content = merge_text(read(b.sha256), read(s.sha256), read(x.sha256))
            if content is None:
                return conflict("changed on both sides and the changes overlap")
            status = "merged"
    act = "rename" if path != s.path else ("write" if content is not None else ("chmod" if mode != s.mode else None))
    if act is None:
        return FileMerge(key, path, "taken", None, "the same change on both sides", kind=x.kind, store_path=s.path,
                         store_sha=s.sha256, branch_path=x.path)
    why = "changed on both sides; merged line by line" if status == "merged" else "changed on the branch"
    return FileMerge(key, path, status, act, why, kind=x.kind, store_path=s.path, store_sha=s.sha256, content=content,
                     mode=mode, branch_path=x.path)


def _path_clashes(out: Plan, store: dict) -> None:
    """A file arriving at a path another store file keeps (or another arrival wants) cannot be
    applied: a conflict."""
    leaving = {f.store_path for f in out.files if f.clean and f.action in ("delete", "rmdir", "rename")}
    taken = {s.path: k for k, s in store.items() if s.path not in leaving}
    seen: dict = {}
    for f in out.files:
        if not f.clean or f.action not in ("create", "mkdir", "rename"):
            continue
        other = taken.get(f.path)
        if other is not None and other != f.key:
            if f.action == "mkdir" and store[other].kind == DIR:
                f.action, f.reason = None, "the directory exists in the store"
                continue
            f.status, f.action, f.reason = "conflict", None, f"{f.path} is taken in the store by another file"
            continue
        if f.path in seen:
            f.status, f.action, f.reason = "conflict", None, f"{f.path} is wanted by two files"
            continue
        seen[f.path] = f.key
