"""Anthropic's client-side memory tool (`memory_20250818`) backed by a memfs store.

    from anthropic import Anthropic
    from memfs.integrations.memory_tool import MemfsMemoryTool

    tool = MemfsMemoryTool("~/.memfs/memfs.db", "team-sre", agent="support-bot", session="chat-42")
    Anthropic().beta.messages.tool_runner(model=..., max_tokens=..., tools=[tool], messages=[...]).until_done()

`/memories/a/b.md` is the file `/a/b.md` of the store (or `ROOT/a/b.md` with `root=`). Every
command goes through the store API, so every change is a revision attributed to the agent and
session given here (actor `agent`), and `memfs log`, `memfs revert` and the HTTP API's memory
versions see it like any other write.

No agent clobbers another: each edit reads the file and its content hash, then writes with that
hash as the precondition (`if_match`); creation is `if_absent`, deletion and rename carry the
hash too. When someone wrote in between, `str_replace` is tried again on the new content (its
anchor is the text itself, so it still means the same thing, and it fails as usual when `old_str`
no longer occurs exactly once); `insert`, whose line number refers to what the model saw, and
`delete`/`rename` report the change instead, asking the model to view the file again.

Paths are confined: only `/memories` and below, resolved once by memfs's own path rules (no
empty, `.` or `..` segments, no control characters, NFC); memfs stores have no host files, and
symbolic links in the store are refused rather than followed. Results and error texts are the
SDK's reference implementation's (`BetaLocalFilesystemMemoryTool`), so a model sees no
difference."""

from __future__ import annotations

import threading
from typing import Callable, Optional, Union

from anthropic.lib.tools import BetaAbstractMemoryTool, ToolError
from anthropic.types.beta import (
    BetaCacheControlEphemeralParam,
    BetaMemoryTool20250818CreateCommand,
    BetaMemoryTool20250818DeleteCommand,
    BetaMemoryTool20250818InsertCommand,
    BetaMemoryTool20250818RenameCommand,
    BetaMemoryTool20250818StrReplaceCommand,
    BetaMemoryTool20250818ViewCommand,
)

from .. import errors, paths as pathrules
from ..store import DIR, FILE, Identity, Memfs

PREFIX = "/memories"
MAX_LINES = 999999
WIDTH = len(str(MAX_LINES))
RETRIES = 5  # str_replace attempts when other writers keep changing the file


def _size(n: int) -> str:
    """The reference implementation's human-readable size."""
    if n == 0:
        return "0B"
    i = min((n.bit_length() - 1) // 10, 3)
    v = n / (1024 ** i)
    return f"{int(v)}{'BKMG'[i]}" if v == int(v) else f"{v:.1f}{'BKMG'[i]}"


class MemfsMemoryTool(BetaAbstractMemoryTool):
    """A `BetaAbstractMemoryTool` over a memfs store, with full history and attribution.

    `db`: a database path (each thread opens its own connection) or an open `Memfs` (used as
    is; a Memfs is not shared between threads). `store`: the store's name or id
    (`create_store=True` creates it when missing). `agent`/`session`: recorded on every
    revision. `root`: the store directory that `/memories` maps to (default the store root)."""

    def __init__(self, db: Union[str, Memfs], store: str, *, agent: str, session: Optional[str] = None,
                 root: str = "/", create_store: bool = False,
                 cache_control: Optional[BetaCacheControlEphemeralParam] = None) -> None:
        super().__init__(cache_control=cache_control)
        if not agent or not isinstance(agent, str):
            raise ValueError("agent: the agent on whose behalf memories are written")
        self.identity = Identity(agent=agent, session=session, actor="agent")
        self._db, self._local = db, threading.local()
        self.root = pathrules.normalize(root)
        m = self.m
        try:
            self.store = m.get_store(store)
        except errors.StoreNotFound:
            if not create_store:
                raise
            self.store = m.create_store(store, f"memories of {agent}", identity=self.identity)
        if self.root != "/" and m.lookup(self.store, self.root) is None:
            m.mkdir(self.store, self.root, parents=True, exist_ok=True, identity=self.identity)

    # ------------------------------------------------------------------ plumbing

    @property
    def m(self) -> Memfs:
        if isinstance(self._db, Memfs):
            return self._db
        m = getattr(self._local, "m", None)
        if m is None:
            m = self._local.m = Memfs(self._db, identity=self.identity)
        return m

    def close(self) -> None:
        m = getattr(self._local, "m", None)
        if m is not None:
            m.close()
            self._local.m = None

    def _path(self, path) -> str:
        """The store path of a /memories path, or ToolError: the one place paths are resolved."""
        if not isinstance(path, str):
            raise ToolError(f"Path must be a string, got: {path!r}")
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            raise ToolError(f"Path must start with /memories, got: {path}")
        rel = path[len(PREFIX):]
        if "\\" in rel or any(seg in (".", "..") for seg in rel.split("/")):
            raise ToolError(f"Path {path} would escape /memories directory")
        try:
            rel = pathrules.normalize(rel or "/")
        except errors.MemfsError as e:
            raise ToolError(f"Invalid path {path}: {e.message}") from None
        return rel if self.root == "/" else (self.root if rel == "/" else self.root + rel)

    def _shown(self, store_path: str) -> str:
        rel = store_path if self.root == "/" else store_path[len(self.root):] or "/"
        return PREFIX if rel == "/" else PREFIX + rel

    def _node(self, sp: str, shown: str):
        node = self.m.lookup(self.store, sp)
        if node is None:
            raise ToolError(f"The path {shown} does not exist. Please provide a valid path.")
        if node.kind not in (FILE, DIR):
            raise ToolError(f"Unsupported file type for {shown}")
        return node

    def _read(self, sp: str, shown: str) -> tuple[str, str]:
        """(text, content hash) of a file: what an edit's precondition is taken from."""
        node = self._node(sp, shown)
        if node.kind != FILE:
            raise ToolError(f"The path {shown} is not a file.")
        try:
            return self.m.blob(node.sha256).decode("utf-8"), node.sha256
        except UnicodeDecodeError:
            raise ToolError(f"Cannot read {shown}: not UTF-8 text") from None

    def _write(self, sp: str, text: str, if_match: str, why: str) -> None:
        self.m.write(self.store, sp, text.encode("utf-8"), if_match=if_match, identity=self.identity,
                     message=f"memory tool: {why}")

    def _guard(self, fn: Callable[[], str]) -> str:
        """Store errors as the tool errors a model can act on."""
        try:
            return fn()
        except ToolError:
            raise
        except errors.ContentTooLarge as e:
            raise ToolError(f"File too large: {e.message}") from None
        except errors.MemfsError as e:
            raise ToolError(e.message) from None

    # ------------------------------------------------------------------ commands

    def view(self, command: BetaMemoryTool20250818ViewCommand) -> str:
        return self._guard(lambda: self._view(command.path, command.view_range))

    def _view(self, path: str, view_range) -> str:
        sp = self._path(path)
        node = self._node(sp, path)
        if node.kind == DIR:
            base = path.rstrip("/") or PREFIX
            items, total = [], 0
            for e in self.m.walk(self.store, sp):
                if e.path == sp:
                    continue
                rel = e.path[len(sp):].lstrip("/") if sp != "/" else e.path[1:]
                parts = rel.split("/")
                if any(p.startswith(".") for p in parts):
                    continue
                if e.kind == FILE:
                    total += e.size
                if len(parts) > 2 or e.kind not in (FILE, DIR):
                    continue
                items.append((_size(e.size if e.kind == FILE else 0), rel + ("/" if e.kind == DIR else "")))
            header = f"Here're the files and directories up to 2 levels deep in {path}, excluding hidden items:"
            lines = [f"{_size(total)}\t{path}"] + [f"{size}\t{base}/{rel}" for size, rel in items]
            return f"{header}\n" + "\n".join(lines)
        text, _ = self._read(sp, path)
        lines = text.split("\n")
        if len(lines) > MAX_LINES:
            raise ToolError(f"File {path} exceeds maximum line limit of 999,999 lines.")
        shown, start = lines, 1
        if view_range:
            if (len(view_range) != 2 or not all(isinstance(x, int) for x in view_range)
                    or (view_range[1] != -1 and view_range[1] < view_range[0])):
                raise ToolError(f"Invalid `view_range`: {list(view_range)}. It should be [start, end] with "
                                "1 <= start <= end, or end = -1 for the rest of the file.")
            first = max(1, view_range[0]) - 1
            last = len(lines) if view_range[1] == -1 else view_range[1]
            shown, start = lines[first:last], first + 1
        numbered = [f"{str(i + start).rjust(WIDTH)}\t{ln}" for i, ln in enumerate(shown)]
        return f"Here's the content of {path} with line numbers:\n" + "\n".join(numbered)

    def create(self, command: BetaMemoryTool20250818CreateCommand) -> str:
        def go():
            sp = self._path(command.path)
            if sp == self.root:
                raise ToolError(f"File {command.path} already exists")
            try:
                self.m.write(self.store, sp, (command.file_text or "").encode("utf-8"), if_absent=True,
                             identity=self.identity, message="memory tool: create")
            except errors.PreconditionFailed:
                raise ToolError(f"File {command.path} already exists") from None
            except (errors.IsADirectory, errors.NotADirectory):
                raise ToolError(f"File {command.path} already exists") from None
            return f"File created successfully at: {command.path}"

        return self._guard(go)

    def str_replace(self, command: BetaMemoryTool20250818StrReplaceCommand) -> str:
        def go():
            path, old, new = command.path, command.old_str, command.new_str
            sp = self._path(path)
            for attempt in range(RETRIES):
                content, sha = self._read(sp, path)
                count = content.count(old) if old else 0
                if count == 0:
                    raise ToolError(
                        f"No replacement was performed, old_str `{old}` did not appear verbatim in {path}.")
                if count > 1:
                    found, at = [], 0
                    while (pos := content.find(old, at)) != -1:
                        found.append(content[:pos].count("\n") + 1)
                        at = pos + 1
                    raise ToolError(f"No replacement was performed. Multiple occurrences of old_str `{old}` in "
                                    f"lines: {', '.join(map(str, found))}. Please ensure it is unique")
                pos = content.find(old)
                changed = content[:pos].count("\n")
                result = content.replace(old, new)
                try:
                    self._write(sp, result, sha, "str_replace")
                except errors.PreconditionFailed:
                    continue  # another writer: redo the replacement on what they left
                lines = result.split("\n")
                lo, hi = max(0, changed - 2), min(len(lines), changed + 3)
                snippet = [f"{str(n).rjust(WIDTH)}\t{lines[n - 1]}" for n in range(lo + 1, hi + 1)]
                return ("The memory file has been edited. Here is the snippet showing the change "
                        "(with line numbers):\n" + "\n".join(snippet))
            raise ToolError(f"No replacement was performed: {path} kept changing while being edited "
                            "(other agents are writing it). View it and try again.")

        return self._guard(go)

    def insert(self, command: BetaMemoryTool20250818InsertCommand) -> str:
        def go():
            path = command.path
            sp = self._path(path)
            content, sha = self._read(sp, path)
            lines = content.split("\n")
            if lines[-1] == "":
                lines.pop()
            n = command.insert_line
            if not isinstance(n, int) or n < 0 or n > len(lines):
                raise ToolError(f"Invalid `insert_line` parameter: {n}. It should be within the range "
                                f"[0, {len(lines)}].")
            lines.insert(n, (command.insert_text or "").rstrip("\n"))
            result = "\n".join(lines)
            if not result.endswith("\n"):
                result += "\n"
            try:
                self._write(sp, result, sha, "insert")
            except errors.PreconditionFailed:
                raise ToolError(f"The file {path} was changed by someone else while inserting: nothing was "
                                "inserted. View it again and retry.") from None
            return f"The file {path} has been edited."

        return self._guard(go)

    def delete(self, command: BetaMemoryTool20250818DeleteCommand) -> str:
        def go():
            path = command.path
            sp = self._path(path)
            if sp == self.root:
                raise ToolError("Cannot delete the /memories directory itself")
            node = self.m.lookup(self.store, sp)
            if node is None:
                raise ToolError(f"The path {path} does not exist")
            if node.kind == DIR:
                self.m.remove_tree(self.store, sp, identity=self.identity, message="memory tool: delete")
            elif node.kind == FILE:
                try:
                    self.m.delete(self.store, sp, if_match=node.sha256, identity=self.identity,
                                  message="memory tool: delete")
                except errors.PreconditionFailed:
                    raise ToolError(f"The file {path} was changed by someone else: not deleted. View it "
                                    "again first.") from None
            else:
                raise ToolError(f"Unsupported file type for {path}")
            return f"Successfully deleted {path}"

        return self._guard(go)

    def rename(self, command: BetaMemoryTool20250818RenameCommand) -> str:
        def go():
            old, new = command.old_path, command.new_path
            src, dst = self._path(old), self._path(new)
            if src == self.root:
                raise ToolError("Cannot rename the /memories directory itself")
            if dst == self.root or self.m.lookup(self.store, dst) is not None:
                raise ToolError(f"The destination {new} already exists")
            node = self.m.lookup(self.store, src)
            if node is None:
                raise ToolError(f"The path {old} does not exist")
            if node.kind not in (FILE, DIR):
                raise ToolError(f"Unsupported file type for {old}")
            parent = pathrules.split(dst)[0]
            if parent != "/" and self.m.lookup(self.store, parent) is None:
                self.m.mkdir(self.store, parent, parents=True, exist_ok=True, identity=self.identity)
            try:
                self.m.rename(self.store, src, dst, noreplace=True,
                              if_match=node.sha256 if node.kind == FILE else None, identity=self.identity,
                              message="memory tool: rename")
            except errors.PreconditionFailed:
                raise ToolError(f"The file {old} was changed by someone else: not renamed. View it "
                                "again first.") from None
            except errors.AlreadyExists:
                raise ToolError(f"The destination {new} already exists") from None
            except errors.PathNotFound:
                raise ToolError(f"The path {old} does not exist") from None
            return f"Successfully renamed {old} to {new}"

        return self._guard(go)

    def clear_all_memory(self) -> str:
        for e in self.m.listdir(self.store, self.root):
            if e.kind == DIR:
                self.m.remove_tree(self.store, e.path, identity=self.identity, message="memory tool: clear")
            else:
                self.m.delete(self.store, e.path, identity=self.identity, message="memory tool: clear")
        return "All memory cleared"
