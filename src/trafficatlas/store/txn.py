"""One DuckDB transaction as a context manager: commit on success, roll back on any error."""

from __future__ import annotations

from contextlib import suppress
from types import TracebackType
from typing import Any

import duckdb


class Transaction:
    """``with Transaction(conn) as tx:`` — ``tx.abort()`` rolls back at exit instead of commit."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._abort = False

    def __enter__(self) -> Transaction:
        self._conn.execute("BEGIN TRANSACTION")
        return self

    def abort(self) -> None:
        self._abort = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._abort:
            try:
                self._conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # After a failed COMMIT the transaction is already gone; the original error matters.
        with suppress(duckdb.Error):
            self._conn.execute("ROLLBACK")


def scalar(conn: Any, sql: str, params: list[Any] | None = None) -> Any:
    """First column of the first row (None without rows), with the result fully consumed.

    DuckDB refuses ``register()`` on a connection whose last result was not read to the end,
    so the writer connection never leaves one half-read (``fetchone`` would).
    """
    rows = conn.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None
