"""The DuckDB warehouse: short connections, lock waits, and partition replaces as one transaction.

DuckDB lets one process write a database file at a time, and a process holding it open blocks
every other process, readers included. So every asset opens a connection only for the
statements it runs, and a connection that finds the file locked waits and retries (bounded by
``lock_timeout_seconds``) instead of failing the run. Runs also queue on the ``duckdb_writer``
pool configured in the instance's ``dagster.yaml``; the retries cover what the pool does not
(``materialize()`` in tests, the CLI, a second Dagster instance).

``DuckDBPolarsIOManager`` is not used because it deletes and inserts in separate statements:
a crash between the two would lose a partition. ``Transaction.replace`` does both in one
transaction, so a crash mid-write leaves the previous version.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import Field

from finsig_assets import settings

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_LOCK_MESSAGES = ("could not set lock", "conflicting lock", "database is locked", "lock on file")
log = logging.getLogger(__name__)


class WarehouseLockTimeout(RuntimeError):
    """Another process held the DuckDB file for longer than the configured wait."""


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(m in text for m in _LOCK_MESSAGES)


def table_ddl_files() -> list[Path]:
    """One ``CREATE TABLE IF NOT EXISTS`` file per table, in ``dbt_like_sql/tables``."""
    return sorted((settings.sql_dir() / "tables").glob("*.sql"))


def table_ddl_path(table: str) -> Path:
    return settings.sql_dir() / "tables" / f"{check_table_name(table)}.sql"


def table_schema(table: str, ddl_path: Path | None = None) -> tuple[tuple[str, str], ...]:
    """``(column, DuckDB type)`` of ``table`` in declaration order, read from its DDL file.

    The DDL in ``dbt_like_sql/tables`` is the contract; assets select their output columns from
    here instead of keeping a copy that could drift from it.
    """
    path = ddl_path or table_ddl_path(table)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no DDL for table {table}")
    rows = _declared_columns(table, path.read_text())
    if not rows:
        raise ValueError(f"{path} does not create the table {table}")
    return rows


_SCRATCH_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _scratch_connection() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@contextmanager
def scratch_catalog() -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty in-memory DuckDB for reading DDL and binding queries; what is done in it is rolled back.

    One connection per process, reused: opening one costs ~16 ms, and loading the definitions
    reads a dozen DDL files and binds every check's queries (DDL is transactional in DuckDB).
    """
    with _SCRATCH_LOCK:
        conn = _scratch_connection()
        conn.execute("BEGIN TRANSACTION")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


@lru_cache(maxsize=256)
def _declared_columns(table: str, ddl: str) -> tuple[tuple[str, str], ...]:
    with scratch_catalog() as conn:
        conn.execute(ddl)
        schema, name = table.split(".")
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    return tuple((str(c), str(t)) for c, t in rows)


def table_columns(table: str) -> list[str]:
    return [name for name, _ in table_schema(table)]


def check_table_name(table: str) -> str:
    if not _IDENTIFIER.match(table):
        raise ValueError(f"{table!r} is not a schema-qualified table name")
    return table


class Transaction:
    """Statements that commit together; ``replace`` is the only way assets write rows."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self._n = 0

    def replace(
        self,
        table: str,
        rows: Any,
        first: dt.date | None = None,
        last: dt.date | None = None,
        **equals: Any,
    ) -> int:
        """Delete the rows of ``table`` in ``first..last`` (and matching ``equals``), insert ``rows``.

        ``rows`` is anything DuckDB can scan (a polars or pandas frame, an Arrow table, a
        relation). Columns are matched by name; the table's declared types apply.
        """
        check_table_name(table)
        clauses, params = [], []
        if first is not None:
            clauses.append("trade_date BETWEEN ? AND ?")
            params += [first, last if last is not None else first]
        for column, value in equals.items():
            if not re.match(r"^[a-z_][a-z0-9_]*$", column):
                raise ValueError(f"bad column name {column!r}")
            clauses.append(f"{column} = ?")
            params.append(value)
        where = " AND ".join(clauses) or "TRUE"
        self.conn.execute(f"DELETE FROM {table} WHERE {where}", params)
        return self.insert(table, rows)

    def insert(self, table: str, rows: Any) -> int:
        check_table_name(table)
        self._n += 1
        name = f"__incoming_{self._n}"
        self.conn.register(name, rows)
        try:
            before = self.conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            self.conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
        finally:
            self.conn.unregister(name)
        return int(before)

    def execute(self, sql: str, params: list | Mapping | None = None) -> duckdb.DuckDBPyConnection:
        return self.conn.execute(sql, params or [])


class DuckDBWarehouse(dg.ConfigurableResource):
    """The project's DuckDB file (``FINSIG_DUCKDB_PATH``)."""

    database: str = Field(default_factory=lambda: str(settings.duckdb_path()), description="Path of the DuckDB file.")
    lock_timeout_seconds: float = Field(default=900.0, description="How long to wait for another process's write lock.")
    memory_limit: str = Field(default="3GB", description="DuckDB memory_limit for each connection.")
    threads: int = Field(default=0, description="DuckDB threads; 0 keeps DuckDB's default (all cores).")

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, opened after waiting out other writers, closed on exit."""
        conn = self._open_with_retry()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One DuckDB transaction: everything written inside commits together or not at all."""
        with self.connection() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield Transaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read_only_connection(self, wait_seconds: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection for observers (sensors), or None when there is no warehouse yet.

        It never creates the file or its tables, and waits at most ``wait_seconds`` for a
        writer (then raises :class:`WarehouseLockTimeout`): a sensor tick must stay short and
        simply look again on its next tick.
        """
        path = Path(self.database)
        if not path.exists():
            yield None
            return
        conn = self._open_with_retry(read_only=True, timeout=wait_seconds)
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: list | Mapping | None = None):
        """Run one read query and return its result as a polars frame."""
        with self.connection() as conn:
            return conn.sql(sql, params=params or None).pl()

    def _open_with_retry(self, read_only: bool = False, timeout: float | None = None) -> duckdb.DuckDBPyConnection:
        path = Path(self.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        timeout = self.lock_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay, waited_since = 0.05, None
        while True:
            try:
                conn = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise
                now = time.monotonic()
                if waited_since is None:
                    waited_since = now
                    log.info("DuckDB file %s is locked by another process; waiting", path)
                if now >= deadline:
                    raise WarehouseLockTimeout(f"{path} stayed locked by another process for {timeout:.0f}s: {exc}") from exc
                time.sleep(min(delay * (1 + random.random()), max(0.0, deadline - now)))
                delay = min(delay * 2, 2.0)
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute(f"SET memory_limit = '{_safe_setting(self.memory_limit)}'")
        if self.threads:
            conn.execute(f"SET threads = {int(self.threads)}")
        if not read_only:
            self._ensure_schema(conn)
        return conn

    @staticmethod
    def _ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
        # Idempotent DDL on every connection: cheap, and a file deleted under a long-lived
        # process gets its tables back.
        for ddl in table_ddl_files():
            conn.execute(ddl.read_text())


def _safe_setting(value: str) -> str:
    if not re.match(r"^[0-9.]+\s*[KMGT]?i?B$", value.strip(), re.I):
        raise ValueError(f"bad memory_limit {value!r}")
    return value.strip()
