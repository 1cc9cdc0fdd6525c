"""The DuckLake profile of the warehouse: catalog in PostgreSQL, data files under a shared path.

A DuckDB file admits one writing process at a time, so several workers writing the warehouse
queue on its lock. DuckLake (DuckDB's lakehouse format) keeps the catalog -- tables, snapshots,
which Parquet files hold which rows -- in a PostgreSQL database and the rows in Parquet files
under ``data_path`` (a local directory here, object storage in production): every worker opens
its own in-memory DuckDB, attaches the lake and writes at the same time as the others; commits
are serialized by PostgreSQL, not by a file lock.

What changes against the DuckDB file, and how finsig meets it:

- **Commit conflicts.** DuckLake detects them at COMMIT, per table: a transaction that inserts
  into a table another transaction deleted from since it began fails ("Transaction conflict").
  A partition replace is exactly that (delete the partition's rows, insert the new ones), so
  two workers replacing *different* partitions of one table conflict although their rows do not
  overlap. :meth:`finsig_assets.warehouse.Warehouse.transaction` then writes the same rows
  again in a new transaction, replayed from the transaction's journal: the replace is still one
  transaction, it is retried and never lost, and no worker waits on a lock.
- **No keys.** DuckLake enforces no PRIMARY KEY; the two tables that declare one
  (``meta.stale_sessions``, ``meta.sentiment_cache``) are created without it here and written
  by statements that keep their keys unique by themselves (delete-then-insert, insert where
  absent); the DDL in ``dbt_like_sql/tables`` stays the contract for both profiles.
- **Extensions from PyPI.** The ``ducklake`` and ``postgres_scanner`` extensions are loaded from
  the ``duckdb-extension-*`` wheels by path, never downloaded at run time.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import threading
from pathlib import Path

import duckdb
from pydantic import Field

from finsig_assets import settings
from finsig_assets import schema_migrations
from finsig_assets.warehouse import Warehouse

LAKE_ALIAS = "finsig_lake"
EXTENSIONS = (("duckdb_extension_ducklake", "ducklake"), ("duckdb_extension_postgres_scanner", "postgres_scanner"))
_CONFLICT = re.compile(r"conflict", re.I)  # "Transaction conflict - attempting to insert into table ..."
_LINE_COMMENT = re.compile(r"--[^\n]*")
_PRIMARY_KEY = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.I)
_SCHEMA_READY: set[tuple[str, str]] = set()
_SCHEMA_LOCK = threading.Lock()


def extension_path(package: str, name: str) -> str:
    """The ``.duckdb_extension`` file a ``duckdb-extension-*`` wheel installed for this DuckDB."""
    spec = importlib.util.find_spec(package)
    wheel = package.replace("_", "-")
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the DuckLake profile needs the {name} extension: pip install {wheel}=={duckdb.__version__}")
    found = glob.glob(str(Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"))
    if not found:
        raise RuntimeError(
            f"{wheel} has no {name} extension for DuckDB {duckdb.__version__} under {Path(spec.origin).parent}/extensions: "
            f"install the wheel of the same version as duckdb (pip install {wheel}=={duckdb.__version__})"
        )
    return found[0]


class DuckLakeUnavailable(RuntimeError):
    """The DuckLake's catalog database could not be reached."""


def unavailable_message(catalog: str, exc: BaseException) -> str:
    reason = " ".join(str(exc).split("Unable to connect to Postgres", 1)[-1].strip(' :"').split()) or str(exc)
    return (
        f"the DuckLake warehouse (FINSIG_WAREHOUSE=ducklake) could not attach its catalog {catalog!r}: {reason}. "
        "Create that PostgreSQL database once (e.g. `createdb -h 127.0.0.1 -U postgres finsig_lake`), or point "
        "FINSIG_DUCKLAKE_CATALOG at an existing one; FINSIG_WAREHOUSE=duckdb uses the local DuckDB file instead."
    )


def ducklake_ddl(ddl: str) -> str:
    """A table's DDL as DuckLake takes it: without the PRIMARY KEY clause it does not support."""
    return _PRIMARY_KEY.sub("", _LINE_COMMENT.sub("", ddl))


class DuckLakeWarehouse(Warehouse):
    """finsig's tables in a DuckLake: catalog in PostgreSQL (``catalog``), Parquet files under ``data_path``."""

    catalog: str = Field(
        default_factory=lambda: settings.ducklake_catalog(),
        description="libpq connection string of the PostgreSQL database that holds the DuckLake catalog "
        "(FINSIG_DUCKLAKE_CATALOG), e.g. 'dbname=finsig_lake host=127.0.0.1 user=postgres'.",
    )
    data_path: str = Field(
        default_factory=lambda: str(settings.ducklake_data_path()),
        description="Where the lake's Parquet files go (FINSIG_DUCKLAKE_DATA_PATH): a directory every worker "
        "sees, or an object-store URL in production.",
    )

    @property
    def location(self) -> str:
        return f"DuckLake {self.catalog!r} (data {self.data_path})"

    def exists(self) -> bool:
        import psycopg2

        try:
            with psycopg2.connect(self.catalog, connect_timeout=5) as pg, pg.cursor() as cur:
                cur.execute("SELECT to_regclass('ducklake_metadata') IS NOT NULL")
                row = cur.fetchone()
                assert row is not None  # a SELECT without FROM returns one row
                return bool(row[0])
        except psycopg2.OperationalError:
            return False

    def commit_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, duckdb.TransactionException) and bool(_CONFLICT.search(str(exc)))

    def _open(self, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
        # A cursor on this process's attached lake: attaching (loading the extensions, reading
        # the catalog from PostgreSQL) costs ~0.3 s, and a step opens a connection for each read,
        # check and write. Each cursor is its own connection with its own transactions.
        conn = _attached_lake(self.catalog, self.data_path, read_only).cursor()
        try:
            self._configure(conn)
            conn.execute(f"USE {LAKE_ALIAS}")
            if not read_only:
                self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_schema(self, conn: duckdb.DuckDBPyConnection) -> None:
        # Once per process and lake (each statement is a catalog round trip). Two workers creating
        # the same table at once conflict; the loser retries and finds it there.
        key = (self.catalog, self.data_path)
        with _SCHEMA_LOCK:
            if key in _SCHEMA_READY:
                return
            if not settings.is_url(self.data_path):
                Path(self.data_path).mkdir(parents=True, exist_ok=True)
            def run_ddl(ddl: str) -> None:
                conn.execute(ducklake_ddl(ddl))

            for attempt in range(10):
                try:
                    schema_migrations.ensure_tables(conn, self.location, run_ddl)
                    break
                except duckdb.TransactionException as exc:
                    if not self.commit_conflict(exc) or attempt == 9:
                        raise
            _SCHEMA_READY.add(key)


_ATTACHED: dict[tuple[int, str, str, bool], duckdb.DuckDBPyConnection] = {}
_ATTACH_LOCK = threading.Lock()


def _attached_lake(catalog: str, data_path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process (keyed by pid: never shared across a fork) with the lake attached."""
    key = (os.getpid(), catalog, data_path, read_only)
    with _ATTACH_LOCK:
        base = _ATTACHED.get(key)
        if base is None:
            base = duckdb.connect()
            try:
                for package, name in EXTENSIONS:
                    base.execute(f"LOAD '{extension_path(package, name)}'")
                options = [f"DATA_PATH '{_quoted(data_path)}'", *(["READ_ONLY"] if read_only else [])]
                base.execute(f"ATTACH 'ducklake:postgres:{_quoted(catalog)}' AS {LAKE_ALIAS} ({', '.join(options)})")
            except duckdb.IOException as exc:
                base.close()
                raise DuckLakeUnavailable(unavailable_message(catalog, exc)) from exc
            except BaseException:
                base.close()
                raise
            _ATTACHED[key] = base
        return base


def _quoted(value: str) -> str:
    return value.replace("'", "''")
