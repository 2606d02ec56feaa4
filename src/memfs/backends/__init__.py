"""The narrow storage interface under the store API.

A backend hands out transactions; a transaction runs parameterised SQL (`?` placeholders, a
portable subset of SQL) and returns rows that index by column name. The store API is written
against this and nothing else, so a PostgreSQL backend only has to provide the same few calls
and its own migrations."""

from contextlib import AbstractContextManager
from typing import Any, Protocol, Sequence


class Tx(Protocol):
    def one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list: ...
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; return the new row id for an INSERT, else the number of rows changed."""


class Backend(Protocol):
    url: str

    def read(self) -> AbstractContextManager[Tx]:
        """A consistent snapshot for several reads."""

    def write(self, durable: bool = True) -> AbstractContextManager[Tx]:
        """One atomic write transaction (durable unless asked otherwise); writers are serialised;
        nested, it joins the outer one."""

    in_transaction: bool

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """A single-statement read outside any explicit transaction (the hot path)."""

    def all(self, sql: str, params: Sequence[Any] = ()) -> list: ...

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap; for change polling)."""

    def check(self) -> list[str]:
        """The engine's own integrity check; an empty list when clean."""

    def close(self) -> None: ...


def open_backend(url: str, **kw) -> Backend:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        from .. import errors

        raise errors.InvalidInput("the PostgreSQL backend is not available yet (issue 7)")
    from .sqlite import SQLiteBackend

    return SQLiteBackend(url.removeprefix("sqlite:///").removeprefix("sqlite://"), **kw)
