"""A warehouse follows its DDL files: added columns migrate on first use, other changes stop clearly."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from finsig_assets import warehouse as warehouse_module
from finsig_assets.partition_scope import PartitionScope
from finsig_assets.schema_migrations import SchemaMismatch
from finsig_assets.settings import sql_dir
from finsig_assets.sql_models.runner import load_sql_model, run_sql_model
from finsig_assets.warehouse import DuckDBWarehouse, table_ddl_files, table_schema
from finsig_assets_tests.sql_models.synthetic_bars import synthetic_bars, warehouse_with_bars

FIRST, LAST = "2024-05-22", "2024-05-24"
GOLD = "gold.market_features"


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test opens its files as a new process would: nothing checked against the DDL yet."""
    monkeypatch.setattr(warehouse_module, "_SCHEMA_READY", set())


def _reopened(path) -> DuckDBWarehouse:
    """The same file opened by a process that has not checked it yet (a new version of the code)."""
    warehouse_module._SCHEMA_READY.clear()
    return DuckDBWarehouse(database=str(path), lock_timeout_seconds=60)


def _versions(path) -> pl.DataFrame:
    with duckdb.connect(str(path)) as conn:
        return pl.from_arrow(
            conn.execute("SELECT table_name, change, n_columns FROM meta.schema_versions ORDER BY applied_at, table_name").arrow()
        )


def _gold(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = warehouse_with_bars(path, synthetic_bars(FIRST, LAST, seed=4))
    model = load_sql_model(sql_dir() / "gold.market_features.sql")
    run_sql_model(model, warehouse, PartitionScope.of(FIRST, LAST))
    return path, model


def test_a_new_warehouse_records_every_table_as_created(tmp_path):
    path = tmp_path / "new.duckdb"
    with DuckDBWarehouse(database=str(path)).connection():
        pass
    versions = _versions(path)
    assert sorted(versions["table_name"]) == sorted(p.stem for p in table_ddl_files())
    assert set(versions["change"]) == {"created"}
    with _reopened(path).connection():  # nothing changed: nothing more recorded
        pass
    assert _versions(path).height == versions.height


def test_an_older_warehouse_gains_the_added_column_and_materializes(tmp_path):
    """A warehouse whose gold table predates a column of its DDL (as one written before the column
    was added): the column is added on first use, the old rows keep theirs as NULL, and the model
    materializes into it."""
    path, model = _gold(tmp_path)
    with duckdb.connect(str(path)) as conn:  # the table as an older DDL made it
        conn.execute(f"ALTER TABLE {GOLD} DROP COLUMN minutes_to_close")
        conn.execute("DELETE FROM meta.schema_versions WHERE table_name = ?", [GOLD])
    warehouse = _reopened(path)
    old_rows = warehouse.query(f"SELECT count(*) AS n, count(minutes_to_close) AS filled FROM {GOLD}").row(0, named=True)
    assert old_rows["n"] > 0 and old_rows["filled"] == 0
    latest = _versions(path).filter(pl.col("table_name") == GOLD).row(-1, named=True)
    assert latest["change"] == "added columns minutes_to_close"
    assert latest["n_columns"] == len(table_schema(GOLD))

    run_sql_model(model, warehouse, PartitionScope.of(LAST))
    after = warehouse.query(
        f"SELECT trade_date, count(*) AS n, count(minutes_to_close) AS filled FROM {GOLD} GROUP BY trade_date ORDER BY trade_date"
    )
    assert after.filter(pl.col("trade_date").cast(pl.String) == LAST)["filled"].item() == after["n"][-1] > 0
    assert (after.filter(pl.col("trade_date").cast(pl.String) < LAST)["filled"] == 0).all()


@pytest.mark.parametrize(
    "change, named",
    [
        (f"ALTER TABLE {GOLD} ALTER COLUMN minutes_to_close TYPE VARCHAR", "column 'minutes_to_close' is VARCHAR in the warehouse but DOUBLE"),
        (f"ALTER TABLE {GOLD} ADD COLUMN legacy_score DOUBLE", "column 'legacy_score' is in the warehouse but not in gold.market_features.sql"),
        (f"ALTER TABLE {GOLD} RENAME COLUMN minutes_to_close TO minutes_left", "column 'minutes_left' is in the warehouse"),
    ],
)
def test_a_change_that_is_not_an_addition_stops_naming_table_column_and_what_to_do(tmp_path, change, named):
    path, _ = _gold(tmp_path)
    with duckdb.connect(str(path)) as conn:
        conn.execute(change)
        before = conn.execute(f"SELECT * FROM {GOLD} ORDER BY ts").fetchall()
    recorded = _versions(path).height
    with pytest.raises(SchemaMismatch) as caught:
        with _reopened(path).connection():
            pass
    message = str(caught.value)
    assert str(path) in message and f"table {GOLD}" in message and named in message
    assert f"DROP TABLE {GOLD}" in message and "materialize its partitions again" in message
    with duckdb.connect(str(path)) as conn:  # nothing was changed
        assert conn.execute(f"SELECT * FROM {GOLD} ORDER BY ts").fetchall() == before
    assert _versions(path).height == recorded


def test_columns_added_to_ml_tables_since_a_warehouse_was_written(tmp_path):
    """The upgrades the DDL files once carried as ALTER statements (baselines served, return model)."""
    path = tmp_path / "older.duckdb"
    with DuckDBWarehouse(database=str(path)).connection() as conn:
        for column in ("p_up_majority", "return_model_version", "fwd_return_30m_forecast"):
            conn.execute(f"ALTER TABLE ml.predictions DROP COLUMN {column}")
        conn.execute("ALTER TABLE ml.model_runs DROP COLUMN return_test_p_value")
    with _reopened(path).connection() as conn:
        columns = [row[0] for row in conn.execute("DESCRIBE ml.predictions").fetchall()]
    assert columns[-3:] == ["p_up_majority", "return_model_version", "fwd_return_30m_forecast"]
    changes = dict(_versions(path).filter(pl.col("change") != "created").select("table_name", "change").iter_rows())
    assert changes == {
        "ml.predictions": "added columns p_up_majority, return_model_version, fwd_return_30m_forecast",
        "ml.model_runs": "added columns return_test_p_value",
    }
