"""Partition replaces are atomic, idempotent, and survive another process holding the file."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import polars as pl
import pytest

from finsig_assets.warehouse import DuckDBWarehouse, WarehouseLockTimeout

D1, D2 = dt.date(2024, 6, 25), dt.date(2024, 6, 26)


def quarantine_rows(n: int, day: dt.date, reason: str) -> pl.DataFrame:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return pl.DataFrame(
        {
            "dataset": ["market"] * n,
            "source_file": ["f.ndjson"] * n,
            "source_line": list(range(1, n + 1)),
            "reason": [reason] * n,
            "raw": ["{}"] * n,
            "trade_date": [day] * n,
            "quarantined_at": [now] * n,
        }
    )


def count(warehouse: DuckDBWarehouse, where: str = "TRUE", params=None) -> int:
    return warehouse.query(f"SELECT count(*) AS n FROM bronze.quarantine WHERE {where}", params)["n"][0]


def test_replace_touches_only_its_range_and_filters(warehouse):
    with warehouse.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(3, D1, "a"), D1, D1, dataset="market")
        tx.replace("bronze.quarantine", quarantine_rows(2, D2, "a"), D2, D2, dataset="market")
    with warehouse.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(1, D1, "b"), D1, D1, dataset="market")
    assert count(warehouse, "trade_date = ?", [D1]) == 1
    assert count(warehouse, "trade_date = ?", [D2]) == 2


def test_replace_is_idempotent(warehouse):
    for _ in range(2):
        with warehouse.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(4, D1, "a"), D1, D1)
    assert count(warehouse) == 4


def test_error_inside_transaction_rolls_back(warehouse):
    with warehouse.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(3, D1, "old"), D1, D1)
    with pytest.raises(RuntimeError):
        with warehouse.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(5, D1, "new"), D1, D1)
            raise RuntimeError("boom")
    assert count(warehouse, "reason = 'old'") == 3
    assert count(warehouse, "reason = 'new'") == 0


def test_table_names_are_checked(warehouse):
    with pytest.raises(ValueError):
        with warehouse.transaction() as tx:
            tx.replace("bronze.quarantine; DROP TABLE x", quarantine_rows(1, D1, "a"), D1, D1)


KILLED_WRITER = textwrap.dedent(
    """
    import datetime as dt, sys, pathlib
    import polars as pl
    from finsig_assets.warehouse import DuckDBWarehouse
    n = 6_000_000
    rows = pl.DataFrame({
        "dataset": pl.repeat("market", n, eager=True),
        "source_file": pl.repeat("big.ndjson", n, eager=True),
        "source_line": pl.int_range(0, n, eager=True),
        "reason": pl.repeat("new version", n, eager=True),
        "raw": pl.repeat("x" * 40, n, eager=True),
        "trade_date": pl.repeat(dt.date(2024, 6, 25), n, eager=True),
        "quarantined_at": pl.repeat(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), n, eager=True),
    })
    w = DuckDBWarehouse(database=sys.argv[1])
    with w.transaction() as tx:
        tx.execute("DELETE FROM bronze.quarantine WHERE trade_date = ?", [dt.date(2024, 6, 25)])
        pathlib.Path(sys.argv[2]).write_text("deleted")
        tx.insert("bronze.quarantine", rows)
        tx.insert("bronze.quarantine", rows)
    pathlib.Path(sys.argv[2]).write_text("committed")
    """
)


def test_sigkill_mid_write_leaves_previous_version(warehouse, tmp_path):
    with warehouse.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(7, D1, "old version"), D1, D1)
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, warehouse.database, str(marker)])
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert marker.read_text() == "deleted", "the writer never reached its delete"
    time.sleep(0.3)  # well inside the 12M-row insert
    assert child.poll() is None, "the writer finished before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert marker.read_text() == "deleted"
    assert count(warehouse, "reason = 'old version'") == 7
    assert count(warehouse, "reason = 'new version'") == 0


LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time, pathlib
    import duckdb
    conn = duckdb.connect(sys.argv[1])
    pathlib.Path(sys.argv[2]).write_text("locked")
    time.sleep(float(sys.argv[3]))
    conn.close()
    """
)


def hold_lock(warehouse, tmp_path, seconds: float) -> subprocess.Popen:
    marker = tmp_path / "locked"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, warehouse.database, str(marker), str(seconds)])
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists()
    return holder


def test_waits_for_another_process_then_writes(warehouse, tmp_path):
    with warehouse.connection():
        pass  # create the file and tables first
    holder = hold_lock(warehouse, tmp_path, 2.0)
    started = time.monotonic()
    with warehouse.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(2, D1, "after wait"), D1, D1)
    waited = time.monotonic() - started
    holder.wait()
    assert waited > 1.0  # it really waited for the holder
    assert count(warehouse, "reason = 'after wait'") == 2


def test_lock_wait_is_bounded(warehouse, tmp_path):
    with warehouse.connection():
        pass
    holder = hold_lock(warehouse, tmp_path, 6.0)
    impatient = DuckDBWarehouse(database=warehouse.database, lock_timeout_seconds=0.5)
    with pytest.raises(WarehouseLockTimeout, match="stayed locked"):
        with impatient.connection():
            pass
    holder.kill()
    holder.wait()


def test_declared_columns_are_the_live_tables_columns(warehouse):
    from finsig_assets.warehouse import table_columns, table_ddl_files

    with warehouse.connection() as conn:
        for ddl in table_ddl_files():
            schema, name = ddl.stem.split(".")
            live = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position", [schema, name]).fetchall()]
            assert table_columns(ddl.stem) == live, ddl.name


def test_table_without_ddl_is_named_in_the_error():
    from finsig_assets.warehouse import table_columns

    with pytest.raises(FileNotFoundError, match="no DDL for table bronze.nothing_here"):
        table_columns("bronze.nothing_here")


def test_frame_schemas_come_from_the_ddl_so_a_new_column_needs_one_edit(tmp_path):
    import polars as pl

    from finsig_assets.warehouse import polars_schema, table_ddl_path

    ddl = table_ddl_path("ml.model_runs").read_text()
    base = polars_schema("ml.model_runs")
    assert list(base)[:3] == ["trade_date", "status", "reason"]
    assert base["model_version"] == pl.Int32 and base["n_train_rows"] == pl.Int64
    assert base["recorded_at"] == pl.Datetime("us", "UTC") and base["promoted"] == pl.Boolean
    # One column added to the DDL: the schema the asset builds its frame with has it, in place.
    grown = tmp_path / "ml.model_runs.sql"
    grown.write_text(ddl.replace("    recorded_at ", "    new_feature_value DOUBLE,\n    recorded_at ", 1))
    schema = polars_schema("ml.model_runs", grown)
    assert list(schema) == [*list(base)[:-1], "new_feature_value", "recorded_at"]
    assert schema["new_feature_value"] == pl.Float64


def test_a_ddl_type_without_a_polars_type_is_named(tmp_path):
    from finsig_assets.warehouse import polars_schema

    ddl = tmp_path / "ml.odd.sql"
    ddl.write_text("CREATE SCHEMA IF NOT EXISTS ml; CREATE TABLE IF NOT EXISTS ml.odd (trade_date DATE, spread DECIMAL(10, 2));")
    with pytest.raises(ValueError, match=r"ml\.odd\.sql: column spread of ml\.odd has type DECIMAL\(10,2\)"):
        polars_schema("ml.odd", ddl)


def test_the_assets_frame_schemas_are_their_tables_ddl():
    from finsig_assets.bronze.landing_index import INDEX_SCHEMA
    from finsig_assets.bronze.records import QUARANTINE_SCHEMA
    from finsig_assets.ml.direction_model import RUNS_SCHEMA
    from finsig_assets.ml.model_fits import SCHEMA as FITS_SCHEMA
    from finsig_assets.ml.predictions import PREDICTION_SCHEMA, RECORD_SCHEMA
    from finsig_assets.warehouse import table_columns

    for table, schema in {
        "meta.landing_files": INDEX_SCHEMA, "bronze.quarantine": QUARANTINE_SCHEMA, "ml.model_runs": RUNS_SCHEMA,
        "ml.model_fits": FITS_SCHEMA, "ml.predictions": PREDICTION_SCHEMA, "ml.oos_record": RECORD_SCHEMA,
    }.items():  # fmt: skip
        assert list(schema) == table_columns(table), table
