"""What an engine gets: the store at the base revision, the sessions, the knobs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from .. import errors


class Canceled(errors.MemfsError):
    """The job was canceled (`memfs dream cancel`, or Ctrl-C)."""

    exit_code = 130
    error_type = "canceled"


class BudgetExceeded(errors.MemfsError):
    """The job reached its hard token budget."""

    exit_code = 1
    error_type = "budget_exceeded"


@dataclass
class DreamContext:
    m: object  # Memfs
    store: object  # Store
    base_rev: int
    files: dict  # path -> text (UTF-8 files at the base revision)
    shas: dict  # path -> sha256 of every file at the base revision
    entries: dict  # path -> Entry of every file at the base revision
    session_ids: list
    load_sessions: Callable[[], Iterator]
    now: float = field(default_factory=time.time)
    instructions: Optional[str] = None
    job_id: Optional[str] = None
    model: Optional[str] = None
    budget_tokens: Optional[int] = None
    cancel_check: Optional[Callable[[], bool]] = None
    progress: Optional[Callable[[str, int, int], None]] = None
    options: dict = field(default_factory=dict)
    usage: dict = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0,
                                                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})

    def check_cancel(self) -> None:
        if self.cancel_check is not None and self.cancel_check():
            raise Canceled("the dream job was canceled")

    def step(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    def sessions(self) -> Iterator:
        return self.load_sessions()
