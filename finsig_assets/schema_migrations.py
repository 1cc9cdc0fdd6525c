"""A warehouse follows its DDL files as they change: added columns migrate, other changes stop.

The DDL in ``dbt_like_sql/tables`` is the contract, and ``CREATE TABLE IF NOT EXISTS`` alone
would leave a warehouse written by an older version with the older columns: the first write of
a new column would then fail deep inside a run. So when a process first writes to a warehouse:

* a table that does not exist is created from its DDL;
* a column a DDL file declares and the table lacks is added (``ALTER TABLE ... ADD COLUMN``,
  NULL in the rows already there -- a NOT NULL in the DDL then holds for new rows only);
* a change that cannot be applied without deciding what happens to data -- a column whose type
  differs, or a column the table has and the DDL no longer declares (dropped or renamed) -- stops
  with ``SchemaMismatch``, naming the warehouse, the table, the column and what to do; nothing is
  changed;
* each table's DDL hash is recorded in ``meta.schema_versions`` whenever it differs from the
  last one recorded (created, added columns, or found matching), so a warehouse says which
  version of each contract its rows follow.

A DDL file is read as :func:`finsig_assets.warehouse.ddl_text` expands it: a table declared with
``-- columns of <table> except ...`` (``gold.training_examples``) gains, by the same ADD COLUMN,
a column added to that other table's DDL, and its hash changes with it.

All of it runs in one transaction: a failure leaves the warehouse as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from finsig_assets.warehouse import ddl_text, table_ddl_files, table_schema

VERSIONS_TABLE = "meta.schema_versions"


class SchemaMismatch(RuntimeError):
    """The warehouse holds a table its DDL can no longer describe by adding columns."""


@dataclass(frozen=True)
class TableChange:
    table: str
    ddl_sha256: str
    n_columns: int
    change: str  # 'created' | 'added columns a, b' | 'recorded'


def live_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, tuple[tuple[str, str], ...]]:
    """``(column, type)`` of every table of the connection's current database, in column order."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(str(table), []).append((str(column), str(data_type)))
    return {table: tuple(columns) for table, columns in tables.items()}


def added_columns(
    table: str, declared: tuple[tuple[str, str], ...], live: tuple[tuple[str, str], ...], ddl_path: Path, location: str
) -> tuple[tuple[str, str], ...]:
    """The declared columns ``table`` lacks; ``SchemaMismatch`` for any change that is not an addition."""
    live_types, declared_types = dict(live), dict(declared)
    problems = [
        f"column {column!r} is {live_types[column]} in the warehouse but {data_type} in {ddl_path.name}"
        for column, data_type in declared
        if column in live_types and live_types[column] != data_type
    ]
    problems += [
        f"column {column!r} is in the warehouse but not in {ddl_path.name} (dropped or renamed?)"
        for column in live_types
        if column not in declared_types
    ]
    if problems:
        raise SchemaMismatch(
            f"{location}: table {table} does not match {ddl_path}: " + "; ".join(problems) + ". "
            "finsig only adds columns by itself. Either put the DDL back as the table has it, or "
            f"change the table yourself (ALTER TABLE {table} ...), or drop it (DROP TABLE {table}) and "
            "materialize its partitions again to rebuild it from the layers below."
        )
    return tuple((column, data_type) for column, data_type in declared if column not in live_types)


def ensure_tables(
    conn: duckdb.DuckDBPyConnection, location: str, run_ddl: Callable[[str], None] | None = None
) -> list[TableChange]:
    """Create, migrate and record every table of the DDL files, in one transaction.

    ``run_ddl`` runs a DDL file's text (the DuckLake profile adapts it); the default executes it.
    Returns what was recorded in ``meta.schema_versions``."""
    run = run_ddl or conn.execute
    files = table_ddl_files()
    conn.execute("BEGIN TRANSACTION")
    try:
        before = live_columns(conn)
        for path in files:
            run(ddl_text(path))
        # A DDL file may migrate data itself (add a column and fill it from another, in SQL);
        # what is left to add is judged on the tables as its statements left them.
        after = live_columns(conn)
        recorded = _latest_versions(conn)
        changes = []
        for path in files:
            table = path.stem
            declared = table_schema(table, path)
            digest = hashlib.sha256(ddl_text(path).encode()).hexdigest()
            if table not in before:
                change = "created"
            else:
                for column, data_type in added_columns(table, declared, after[table], path, location):
                    conn.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {data_type}')
                had = dict(before[table])
                added = [column for column, _ in declared if column not in had]
                change = "added columns " + ", ".join(added) if added else "recorded"
            if change != "recorded" or recorded.get(table) != digest:
                changes.append(TableChange(table, digest, len(declared), change))
        if changes:
            now = dt.datetime.now(dt.timezone.utc)
            conn.executemany(
                f"INSERT INTO {VERSIONS_TABLE} (table_name, ddl_sha256, n_columns, change, applied_at) VALUES (?, ?, ?, ?, ?)",
                [(c.table, c.ddl_sha256, c.n_columns, c.change, now) for c in changes],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return changes


def _latest_versions(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = conn.execute(
        f"SELECT table_name, arg_max(ddl_sha256, applied_at) FROM {VERSIONS_TABLE} GROUP BY table_name"
    ).fetchall()
    return {str(table): str(digest) for table, digest in rows}
