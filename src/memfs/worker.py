"""Store writes run by one thread with its own connection, and committed in groups.

The mount: pyfuse3 answers every request on one trio thread, so a store call that waits there — a
commit under another process's write lock (the busy timeout), a PostgreSQL round trip, a write
hook that runs for seconds — freezes every request of the mount. The mount hands such calls to a
`Worker` (`await worker.run(fn)`) and the loop goes on answering other requests. The hand-off
wakes trio with `TrioToken.run_sync_soon`, not `trio.to_thread.run_sync` (which starts or reuses a
thread per call, about 200 µs here; docs/fuse-notes.md).

The HTTP server: its request threads hand their memory writes to one (`worker.run_sync(fn)`).

Group commit: when several jobs are queued at once (many writers), the worker runs them in one
transaction, each inside its own savepoint: one fsync for all of them, and a job that raises (a
stale write, a file too large) is rolled back alone and fails only its own caller.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Optional

import trio

log = logging.getLogger("memfs")
_starting = threading.Lock()


class RunAlone(Exception):
    """Raised by a job that cannot run inside a shared transaction (one whose write hooks must
    run first, outside any transaction): the worker runs it again on its own."""


class _Job:
    """fn(store), to run in the worker; `finish` hands its outcome to whoever waits."""

    __slots__ = ("fn", "group", "result", "exc")

    def __init__(self, fn, group):
        self.fn, self.group = fn, group
        self.result = self.exc = None

    def finish(self, result=None, exc=None):
        self.result, self.exc = result, exc


class _TrioJob(_Job):
    """Waited for by a trio task (the mount's handlers)."""

    __slots__ = ("token", "done")

    def __init__(self, fn, group, token):
        super().__init__(fn, group)
        self.token, self.done = token, trio.Event()

    def finish(self, result=None, exc=None):
        super().finish(result, exc)
        self.token.run_sync_soon(self.done.set)


class _ThreadJob(_Job):
    """Waited for by a thread that is not trio's (an HTTP request)."""

    __slots__ = ("ready",)

    def __init__(self, fn, group):
        super().__init__(fn, group)
        self.ready = threading.Event()

    def finish(self, result=None, exc=None):
        super().finish(result, exc)
        self.ready.set()


class _Fire(_Job):
    """Waited for by no one: a failure is logged."""

    __slots__ = ()

    def finish(self, result=None, exc=None):
        if exc is not None:
            log.warning("a background store call failed: %s", exc)


class Worker:
    """One thread, one store connection (`open_store()` makes it, in the thread), jobs in order."""

    def __init__(self, open_store: Callable[[], Any], name: str = "memfs-worker", lock=None,
                 on_abort: Optional[Callable[[], None]] = None):
        self._open = open_store
        # called (in the worker) when a transaction whose jobs had succeeded failed to commit:
        # what they noted as written (the mount's own revisions) did not happen after all
        self._on_abort = on_abort or (lambda: None)
        self._lock = lock  # held around each transaction (the HTTP server's writers' lock)
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.store = None
        self.batches = self.grouped = 0  # transactions run, and jobs that shared one with another
        self._started = False

    def start(self):
        with _starting:
            if not self._started:
                self._started = True
                self._thread.start()

    def stop(self):
        if self._started:
            self._q.put(None)
            self._thread.join(timeout=30)

    async def run(self, fn: Callable[[Any], Any], *, group: bool = True):
        """fn(store) in the worker; its result, or its exception raised here. `group`: may share a
        transaction with other jobs queued at the same moment."""
        job = _TrioJob(fn, group, trio.lowlevel.current_trio_token())
        self._q.put(job)
        # the job runs whatever happens to this task: its outcome is the store's, not ours
        with trio.CancelScope(shield=True):
            await job.done.wait()
        if job.exc is not None:
            raise job.exc
        return job.result

    def submit(self, fn: Callable[[Any], Any], *, group: bool = True) -> None:
        """fn(store) in the worker, without waiting for it (its failure is logged)."""
        self._q.put(_Fire(fn, group))

    def run_sync(self, fn: Callable[[Any], Any], *, group: bool = True):
        """fn(store) in the worker, waited for from a thread that is not trio's (an HTTP request)."""
        self.start()
        job = _ThreadJob(fn, group)
        self._q.put(job)
        job.ready.wait()
        if job.exc is not None:
            raise job.exc
        return job.result

    # ------------------------------------------------------------------ the thread

    def _main(self):
        try:
            self.store = self._open()
        except BaseException as e:  # every job gets the reason
            log.error("the mount's store worker could not open the database: %s", e)
            while True:
                job = self._q.get()
                if job is None:
                    return
                job.finish(exc=e)
        try:
            while True:
                job = self._q.get()
                if job is None:
                    return
                batch = [job]
                while True:  # everything queued meanwhile joins this round
                    try:
                        j = self._q.get_nowait()
                    except queue.Empty:
                        break
                    if j is None:
                        self._q.put(None)
                        break
                    batch.append(j)
                self._round(batch)
        finally:
            try:
                self.store.close()
            except Exception:
                pass

    def _round(self, batch: list[_Job]):
        if self._lock is None:
            return self._round_locked(batch)
        with self._lock:
            return self._round_locked(batch)

    def _round_locked(self, batch: list[_Job]):
        run: list[_Job] = []
        for job in batch:  # in queue order: a run of groupable jobs shares one transaction
            if job.group:
                run.append(job)
                continue
            self._group(run)
            run = []
            self._alone(job)
        self._group(run)

    def _alone(self, job: _Job):
        try:
            r = job.fn(self.store)
        except BaseException as e:
            job.finish(exc=e)
        else:
            job.finish(r)

    def _group(self, jobs: list[_Job]):
        if not jobs:
            return
        if len(jobs) == 1:
            job = jobs[0]
            done = False
            try:
                with self.store.atomic():
                    r = job.fn(self.store)
                    done = True
            except RunAlone:
                return self._alone(job)
            except BaseException as e:
                if done:
                    self._on_abort()
                return job.finish(exc=e)
            self.batches += 1
            return job.finish(r)
        outcomes: list[tuple[_Job, Any, Optional[BaseException]]] = []
        alone: list[_Job] = []
        try:
            with self.store.atomic():
                for job in jobs:
                    try:
                        with self.store.atomic():  # a savepoint: a failure undoes this job only
                            outcomes.append((job, job.fn(self.store), None))
                    except RunAlone:
                        alone.append(job)
                    except Exception as e:
                        outcomes.append((job, None, e))
        except BaseException as e:  # the commit itself failed (disk full...): nothing landed
            self._on_abort()
            for job, _, _ in outcomes:
                job.finish(exc=e)
            for job in alone:
                job.finish(exc=e)
            return
        self.batches += 1
        self.grouped += len(outcomes)
        for job, r, e in outcomes:
            job.finish(r, e)
        for job in alone:
            self._alone(job)
