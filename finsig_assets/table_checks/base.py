"""What every table check shares: its SQL, the values it binds, and how a result reads in the UI.

A check is a frozen description of *what* to verify on one table (``table``); it becomes a
blocking ``dg.AssetCheckSpec`` on the asset that writes the table, and after the write
:func:`run_checks` evaluates it with DuckDB SQL over the run's partition range
(``trade_date BETWEEN $first_date AND $last_date``): one short connection for all of an
asset's checks, values bound by name, nothing formatted into the SQL but identifiers that
:func:`identifier` / :func:`table_name` have validated.

Every check fails with severity ERROR and is blocking: a failure means what the asset wrote
would make downstream assets wrong, so Dagster stops them in the same run (the step fails
after recording the materialization and the check result). The result's description says, in
words, the range and the counts; its metadata holds the counts and a few example rows.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from finsig_assets.partition_scope import PartitionScope
from finsig_assets.trading_calendar import session_frame
from finsig_assets.warehouse import ddl_text, fetch_frame, scratch_catalog

CALENDAR_RELATION = "calendar_sessions"
EXAMPLES = 5
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class CheckDefinitionError(ValueError):
    """A check that cannot be built: a bad identifier, a missing column, a parameter nobody binds."""


def identifier(name: str) -> str:
    """``name`` if it is a plain lower-case column name (the only text checks format into SQL)."""
    if not _IDENT.match(name or ""):
        raise CheckDefinitionError(f"{name!r} is not a column name (lower-case letters, digits, _)")
    return name


def table_name(name: str) -> str:
    if not _TABLE.match(name or ""):
        raise CheckDefinitionError(f"{name!r} is not a schema-qualified table name like silver.market_bars")
    return name


@lru_cache(maxsize=256)
def named_parameters(sql: str) -> frozenset[str]:
    """The ``$name`` parameters of one SQL statement (DuckDB refuses to bind unused ones)."""
    statements = duckdb.extract_statements(sql)
    if len(statements) != 1:
        raise CheckDefinitionError(f"a check query must be one statement, found {len(statements)}")
    return frozenset(statements[0].named_parameters)


def bind(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    needed = named_parameters(sql)
    missing = sorted(needed - set(values))
    if missing:
        raise CheckDefinitionError(f"no value for {', '.join('$' + m for m in missing)}")
    return {name: values[name] for name in sorted(needed)}


def scope_values(scope: PartitionScope) -> dict[str, Any]:
    """The standard parameters of a run over ``scope`` (as the SQL models get them)."""
    return {
        "window_start": scope.window.start,
        "window_end": scope.window.end,
        "first_date": scope.first,
        "last_date": scope.last,
    }


def key_text(columns: Sequence[str], alias: str | None = None) -> str:
    """SQL for a readable key, e.g. ``SPX500_USD, 2024-07-03 16:40:00+00`` (NULL spelled out)."""
    prefix = f"{alias}." if alias else ""
    parts = [f"coalesce({prefix}{c}::VARCHAR, 'NULL')" for c in columns]
    return parts[0] if len(parts) == 1 else f"concat_ws(', ', {', '.join(parts)})"


def join_on(columns: Iterable[str], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{c} = {right}.{c}" for c in columns)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any]


class TableCheck(ABC):
    """One check of one table; subclasses are frozen dataclasses with a ``table`` field."""

    table: str

    @property
    @abstractmethod
    def name(self) -> str:
        """The check's name in Dagster (unique per asset)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """What it verifies, in words (the spec's description in the UI)."""

    @property
    @abstractmethod
    def tables(self) -> tuple[str, ...]:
        """Every table its SQL reads (their DDL must exist; load-time validation creates them)."""

    @abstractmethod
    def queries(self) -> tuple[str, ...]:
        """Its SQL statements (validated together when a model file is loaded)."""

    @abstractmethod
    def evaluate(self, conn: duckdb.DuckDBPyConnection, values: Mapping[str, Any], label: str) -> Verdict:
        """Run the SQL on ``conn`` over the range in ``values`` and judge it."""

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset().union(*(named_parameters(q) for q in self.queries()))

    def spec(self, asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name,
            asset=asset_key,
            blocking=True,
            description=f"{self.description} ERROR severity, blocking: when it fails, assets downstream "
            "of this one do not run in the same run.",
        )

    def result(self, asset_key: dg.AssetKey, verdict: Verdict, label: str) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            check_name=self.name,
            asset_key=asset_key,
            passed=verdict.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=verdict.description,
            metadata={"partition_range": dg.MetadataValue.text(label), **verdict.metadata},
        )


def query_frame(conn: duckdb.DuckDBPyConnection, sql: str, values: Mapping[str, Any]) -> pl.DataFrame:
    return fetch_frame(conn, sql, bind(sql, values))


def query_row(conn: duckdb.DuckDBPyConnection, sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return query_frame(conn, sql, values).row(0, named=True)


def examples_markdown(frame: pl.DataFrame) -> dg.MetadataValue:
    if frame.height == 0:
        return dg.MetadataValue.md("_none_")
    return dg.MetadataValue.md(frame.to_pandas().to_markdown(index=False))


def check_specs(asset_key: dg.AssetKey | Sequence[str], checks: Sequence[TableCheck]) -> list[dg.AssetCheckSpec]:
    key = asset_key if isinstance(asset_key, dg.AssetKey) else dg.AssetKey(list(asset_key))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise CheckDefinitionError(f"{key.to_user_string()}: two checks share a name: {names}")
    return [c.spec(key) for c in checks]


def run_checks(
    warehouse: Any,
    asset_key: dg.AssetKey | Sequence[str],
    checks: Sequence[TableCheck],
    scope: PartitionScope,
    values: Mapping[str, Any] | None = None,
    log: Any = None,
) -> list[dg.AssetCheckResult]:
    """Evaluate ``checks`` over ``scope`` (after the write) on one short connection.

    ``values`` adds run config (e.g. a model's ``horizon_minutes``) to the standard parameters.
    ``calendar_sessions`` (:func:`trading_calendar.session_frame`) is registered for the SQL.
    """
    if not checks:
        return []
    key = asset_key if isinstance(asset_key, dg.AssetKey) else dg.AssetKey(list(asset_key))
    bound = {**scope_values(scope), **(values or {})}
    with warehouse.connection() as conn:
        conn.register(CALENDAR_RELATION, session_frame())
        try:
            verdicts = [check.evaluate(conn, bound, scope.label) for check in checks]
        finally:
            conn.unregister(CALENDAR_RELATION)
    results = [check.result(key, verdict, scope.label) for check, verdict in zip(checks, verdicts)]
    if log is not None:
        for check, verdict in zip(checks, verdicts):
            (log.info if verdict.passed else log.error)(
                f"check {check.name} {'passed' if verdict.passed else 'FAILED'}: {verdict.description}"
            )
    return results


def validate_checks(checks: Sequence[TableCheck], ddl_for: Callable[[str], Path], values: Mapping[str, Any]) -> None:
    """Bind every query of ``checks`` against empty tables made from their DDL (no data read).

    ``ddl_for(table)`` returns the DDL file of a table. Unknown tables or columns, a WHERE that
    does not parse, a parameter no value exists for: each raises :class:`CheckDefinitionError`
    naming the check, at load time rather than in the middle of a backfill.
    """
    ddls = []
    for table in sorted({t for check in checks for t in check.tables}):
        path = ddl_for(table)
        if not path.exists():
            raise CheckDefinitionError(f"no DDL for {table} (expected {path})")
        ddls.append(ddl_text(path))  # before the scratch catalog: expanding a directive uses it too
    with scratch_catalog() as conn:
        for ddl in ddls:
            conn.execute(ddl)
        # An empty table of the calendar's columns (registering the polars frame would load pyarrow,
        # 50 ms of every process's start-up).
        from finsig_assets.materialization_metadata import sql_type

        columns = ", ".join(f"{name} {sql_type(dtype)}" for name, dtype in session_frame().schema.items())
        conn.execute(f"CREATE TEMP TABLE {CALENDAR_RELATION} ({columns})")
        for check in checks:
            for sql in check.queries():
                try:
                    bind(sql, values)  # every parameter has a value
                    # PREPARE binds tables and columns without values: binding values would make
                    # DuckDB 1.5 import pandas and pyarrow in every process that loads the definitions.
                    conn.execute(f"PREPARE __finsig_check AS {sql}")
                    conn.execute("DEALLOCATE __finsig_check")
                except duckdb.Error as exc:
                    raise CheckDefinitionError(f"check {check.name}: {str(exc).splitlines()[0]}") from exc
                except CheckDefinitionError as exc:
                    raise CheckDefinitionError(f"check {check.name}: {exc}") from exc
