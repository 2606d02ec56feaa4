"""The narrow storage interface under the store API.

A backend hands out transactions; a transaction runs parameterised SQL (`?` placeholders, a
portable subset of SQL) and returns rows that index by column name. The store API is written
against this and nothing else, so a PostgreSQL backend only has to provide the same few calls
and its own migrations."""

from contextlib import AbstractContextManager
from typing import Any, Iterable, Protocol, Sequence


class Tx(Protocol):
    def one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def all(self, sql: str, params: Sequence[Any] = ()) -> list: ...
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def iter(self, sql: str, params: Sequence[Any] = ()) -> Iterable:
        """Rows one at a time (for scans that stop early)."""
    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; return the new row id for an INSERT, else the number of rows changed."""


class Backend(Protocol):
    url: str
    dialect: str  # "sqlite" or "postgresql"
    fts: bool  # has the full-text index that `memfs grep` uses
    notifies: bool  # has wait_for_change(timeout) (pushed change notifications)

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

    def after_copy(self, tx: Tx, table: str) -> None:
        """Rows were copied in with their ids (memfs migrate): let new ids follow them."""

    def check(self) -> list[str]:
        """The engine's own integrity check; an empty list when clean."""

    def close(self) -> None: ...


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str):
    """The file of a SQLite database URL or path (None for PostgreSQL and :memory:)."""
    if is_postgres(url):
        return None
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return None if path == ":memory:" else path


def open_backend(url: str, **kw) -> Backend:
    if is_postgres(url):
        from .postgres import PostgresBackend

        return PostgresBackend(url, **{k: v for k, v in kw.items() if k == "busy_timeout"})
    from .sqlite import SQLiteBackend

    return SQLiteBackend(sqlite_path(url) or ":memory:", **kw)
