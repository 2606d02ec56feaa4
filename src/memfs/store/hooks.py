"""Write hooks (see memfs/hooks.py for running them): add, list, remove, run before a write."""

from __future__ import annotations

import time
from typing import Optional

from .. import errors, paths
from .. import hooks as _hooks
from .records import Hook, HooksOutsideTransaction, Identity, Store, _hook_id, sha256


class HooksMixin:
    """A store's write hooks: the records (running them is memfs/hooks.py's)."""

    def add_hook(self, ref, command: str, *, on: str = "write", timeout: float = _hooks.DEFAULT_TIMEOUT,
                 fail: str = "closed", identity: Optional[Identity] = None) -> Hook:
        """Run the shell `command` before every write (create, write, append) of the store; it may
        allow, refuse or redact the write (see memfs/hooks.py for the protocol).

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param command: a shell command; it reads the write as JSON on stdin
        :param on: the event ("write")
        :param timeout: seconds it may take
        :param fail: "closed" (a hook that times out, crashes or answers garbage refuses the write) or
            "open" (it does not)
        :param identity: who acts (default: this Memfs's identity)
        :returns: the Hook

        Raises InvalidInput, ReadOnly, StoreNotFound."""
        store = self._store(ref)
        on, command, timeout, fail = _hooks.check(on, command, timeout, fail)
        ident = identity or self.identity
        with self.db.write() as tx:
            store = self._writable(tx, store)
            hid = tx.run("INSERT INTO hooks (store_id, event, command, timeout, fail, created_at, created_by)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)", (store.id, on, command, timeout, fail, time.time(), ident.agent))
        return self.hook(hid)

    def hook(self, hook_id: int) -> Hook:
        """One hook by id.

        :param hook_id: its id (a number, or "hook_N")
        :returns: the Hook

        Raises NotFound, InvalidInput."""
        r = self.db.one("SELECT h.*, s.name AS store_name FROM hooks h JOIN stores s ON s.id = h.store_id"
                        " WHERE h.id = ?", (_hook_id(hook_id),))
        if r is None:
            raise errors.NotFound(f"no such hook: {hook_id}")
        return Hook._from(r)

    def hooks(self, ref=None) -> list[Hook]:
        """The hooks of a store (or of every store), in the order they run.

        :param ref: the store: its name, its uid (memstore_…) or a Store (default: every store)
        :returns: a list of Hook

        Raises StoreNotFound."""
        q, params = "SELECT h.*, s.name AS store_name FROM hooks h JOIN stores s ON s.id = h.store_id", ()
        if ref is not None:
            q, params = q + " WHERE h.store_id = ?", (self._store(ref).id,)
        return [Hook._from(r) for r in self.db.all(q + " ORDER BY s.name, h.id", params)]

    def remove_hook(self, hook_id: int) -> Hook:
        """Remove a hook.

        :param hook_id: its id
        :returns: the Hook as it was

        Raises NotFound, InvalidInput."""
        h = self.hook(hook_id)
        with self.db.write() as tx:
            tx.run("DELETE FROM hooks WHERE id = ?", (h.id,))
        return h

    def run_write_hooks(self, ref, path: str, content: bytes, *, operation: str = "write",
                        identity: Optional[Identity] = None, message: Optional[str] = None) -> tuple[bytes, Optional[str]]:
        """Run a store's write hooks over content about to be written, for a front end that queues
        its writers (the HTTP server) and so runs the hooks before taking its place in the queue,
        then writes with `hooks=False`.

        :param ref: the store: its name, its uid (memstore_…) or a Store
        :param path: the file's path
        :param content: the content about to be written
        :param operation: create, write or append
        :param identity: who acts (default: this Memfs's identity)
        :param message: the revision message so far
        :returns: (the content to write, the revision message noting any redaction)

        Raises HookRefused, StoreNotFound, HooksOutsideTransaction (inside a transaction)."""
        store = self._store(ref)
        if isinstance(content, str):
            content = content.encode("utf-8")
        return self._run_hooks(None, store, paths.normalize(path), operation, bytes(content),
                               identity or self.identity, message)

    def _write_hooks(self, store: Store) -> list[Hook]:
        rows = self.db.all("SELECT h.*, ? AS store_name FROM hooks h WHERE h.store_id = ? AND h.event = 'write'"
                           " ORDER BY h.id", (store.name, store.id))
        return [Hook._from(r) for r in rows]

    def _run_hooks(self, hs, store: Store, path: str, op: str, content: bytes, ident: Identity,
                   message: Optional[str]) -> tuple[bytes, Optional[str]]:
        """Run the write hooks (`hs`, else the store's) over one write, never inside a transaction."""
        hs = self._write_hooks(store) if hs is None else hs
        if not hs:
            return content, message
        if self.db.in_transaction:
            raise HooksOutsideTransaction("write hooks cannot run inside a transaction: run them before it opens")
        return _hooks.run_write_hooks(hs, store, path, op, content, ident, message, sha256)
