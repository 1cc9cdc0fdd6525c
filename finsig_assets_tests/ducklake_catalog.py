"""A DuckLake for one test (or one benchmark): its own PostgreSQL database and data directory.

The catalog database is created on the local PostgreSQL (``FINSIG_TEST_POSTGRES``, trust auth)
and dropped on exit with everything DuckLake put in it; the data directory is removed too, and
both removals are checked, so a test never leaves a catalog or Parquet files behind.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from finsig_assets.ducklake_warehouse import DuckLakeWarehouse
from finsig_assets_tests.integration.production_dagster import PostgresDatabase


def conninfo(database: PostgresDatabase) -> str:
    """The libpq key-value string DuckLake's ``ducklake:postgres:`` takes."""
    return f"dbname={database.name} host=127.0.0.1 user=postgres"


@contextlib.contextmanager
def temporary_lake(data_path: Path, **warehouse_fields) -> Iterator[DuckLakeWarehouse]:
    database = PostgresDatabase(prefix="finsig_lake_test")
    with database:
        try:
            yield DuckLakeWarehouse(catalog=conninfo(database), data_path=str(data_path), **warehouse_fields)
        finally:
            shutil.rmtree(data_path, ignore_errors=True)
    left = database.admin_query("SELECT count(*) FROM pg_database WHERE datname = %s", (database.name,))
    assert left == [(0,)], f"the catalog database {database.name} was not dropped"
    assert not data_path.exists(), f"{data_path} was not removed"
