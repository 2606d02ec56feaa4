"""Moving a whole database to another backend (`memfs migrate`): the store's door to
memfs/backends/migrate.py, which copies the tables row for row."""

from __future__ import annotations

from typing import Callable, Optional

from ..backends.migrate import MigrateReport


def migrate_database(src: str, dst: str, progress: Optional[Callable[[str, int], None]] = None) -> MigrateReport:
    """Copy the database at `src` into the empty database at `dst` (either backend: a SQLite path,
    sqlite:///PATH or postgresql://…) with every row as it is (same ids), in one transaction
    on the target, read from one snapshot of the source, then verify it table by table.

    :param src: the database to move
    :param dst: the target; it must hold no memfs data yet
    :param progress: called as `progress(table, rows)` after each table is copied
    :returns: a MigrateReport (`tables`: rows per table, `seconds`, `verified`)

    Raises InvalidInput (a target that is not empty, the same database twice) and the backend's
    errors (Unreachable, Busy)."""
    from ..backends.migrate import migrate

    return migrate(src, dst, progress=progress)
