"""The row of a DuckDB query that always returns exactly one (an aggregate without GROUP BY)."""

from __future__ import annotations

from typing import Any

import duckdb


def one_row(conn: duckdb.DuckDBPyConnection, sql: str, parameters: object = None) -> tuple[Any, ...]:
    """``conn.execute(sql, parameters).fetchone()``, for a query that returns one row whatever the
    data (``count(*)``, ``max(...)``): typed as that row, never None."""
    row = conn.execute(sql, parameters).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row, got none: {sql}")
    return row
