"""The SQL-model runner: header parsing, bound parameters, the asset it builds, what it writes."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from finsig_assets import settings
from finsig_assets.partition_scope import PartitionScope
from finsig_assets.partitions import lookback_mapping, trading_day_partitions
from finsig_assets.sql_models import (
    SqlModelError,
    build_sql_asset,
    build_sql_assets,
    compute_sql_model,
    load_sql_model,
    market_features,
    run_sql_model,
)
from finsig_assets.sql_models import runner
from finsig_assets.trading_calendar import ownership_window
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.sql_models.model_dirs import model_dir
from finsig_assets_tests.sql_models.synthetic_bars import insert_bars, synthetic_bars

MARKET_BARS = dg.AssetKey(["silver", "market_bars"])
TINY_DDL = """\
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.tiny (
    instrument VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    trade_date DATE NOT NULL,
    close      DOUBLE,
    window_len DOUBLE
);
"""
TINY_SQL = """\
-- asset: gold/tiny
-- description: The range's bars above a threshold.
-- lookback_sessions: 1
-- config: min_close=0.0, label='x'
--
-- Free comments after the header: anything goes here, e.g. -- note: not a header key.
SELECT instrument, ts, trade_date, close,
       epoch($window_end) - epoch($window_start) AS window_len
FROM silver.market_bars
WHERE trade_date BETWEEN $first_date AND $last_date
  AND close > $min_close
"""


@pytest.fixture
def sql_dir(tmp_path, monkeypatch) -> Path:
    """A dbt_like_sql/ of our own (the real table DDL plus gold.tiny), set as FINSIG_SQL_DIR."""
    root = model_dir(tmp_path, monkeypatch, "gold.tiny", TINY_DDL)
    (root / "gold.tiny.sql").write_text(TINY_SQL)
    return root


@pytest.fixture
def tiny_warehouse(sql_dir, tmp_path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lock_timeout_seconds=60)
    insert_bars(warehouse, synthetic_bars("2024-03-04", "2024-03-07", seed=2))
    return warehouse


# ----------------------------------------------------------------------------- header parsing


def test_market_features_header():
    model = load_sql_model(settings.sql_dir() / "gold.market_features.sql")
    assert model.key == dg.AssetKey(["gold", "market_features"])
    assert model.table == "gold.market_features"
    assert model.deps == (MARKET_BARS,)
    assert model.lookback_sessions == 3
    assert model.python_post == "recursive_indicators"
    assert model.config_defaults == {"warmup_bars": 2000}
    assert model.chunk_sessions == 125
    assert model.parameters == {"window_start", "window_end", "warmup_bars"}
    assert model.description.startswith("One row per silver bar")


def _write(sql_dir: Path, name: str, text: str) -> Path:
    path = sql_dir / name
    path.write_text(textwrap.dedent(text))
    return path


HEADER = "-- asset: gold/tiny\n-- description: d\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("-- description: d\nSELECT 1 AS trade_date\n", 1, "needs '-- asset"),
        ("-- asset: gold/tiny\nSELECT 1 AS trade_date\n", 1, "needs '-- description"),
        (HEADER + "-- dep: silver/market_bars\nSELECT 1\n", 3, "unknown header key 'dep'"),
        (HEADER + "-- description: again\nSELECT 1\n", 3, r"repeated \(first on line 2\)"),
        ("-- asset: gold/Tiny-x\n-- description: d\nSELECT 1\n", 1, "is not '<layer>/<name>'"),
        ("-- asset: gold/other\n-- description: d\nSELECT 1\n", 1, "must live in a file named gold.other.sql"),
        (HEADER + "-- lookback_sessions: three\nSELECT 1\n", 3, "non-negative integer"),
        (HEADER + "-- deps: silver/market bars\nSELECT 1\n", 3, "is not an asset key"),
        (HEADER + "-- python_post: no_such_step\nSELECT 1\n", 3, "no python_post step 'no_such_step'"),
        (HEADER + "-- config: x\nSELECT 1\n", 3, "is not name=value"),
        (HEADER + "-- config: first_date=1\nSELECT 1\n", 3, "shadow the standard parameter"),
        (HEADER + "-- config: x=[1]\nSELECT 1\n", 3, "only int, float, bool and string"),
        (HEADER + "-- chunk_sessions: 0\nSELECT 1\n", 3, "positive integer"),
    ],
)
def test_header_errors_name_file_and_line(sql_dir, text, line, message):
    path = _write(sql_dir, "gold.tiny.sql", text)
    with pytest.raises(SqlModelError, match=message) as err:
        load_sql_model(path)
    assert f"{path}:{line}:" in str(err.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("SELECT 1 AS trade_date; SELECT 2 AS trade_date", "exactly one SELECT statement, found: SELECT, SELECT"),
        ("DELETE FROM silver.market_bars", "exactly one SELECT statement, found: DELETE"),
        ("SELECT $foo AS trade_date", r"unknown parameter\(s\) \$foo"),
        ("SELECT ? AS trade_date", "positional parameters"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_body_errors_name_the_file(sql_dir, body, message):
    path = _write(sql_dir, "gold.tiny.sql", HEADER + body + "\n")
    with pytest.raises(SqlModelError, match=message) as err:
        load_sql_model(path)
    assert str(path) in str(err.value)


READS_TWO = """\
WITH recent AS (SELECT instrument, max(ts) AS ts FROM silver.news_sentiment GROUP BY instrument)
SELECT b.instrument, b.ts, b.trade_date, b.close, 0.0 AS window_len
FROM silver.market_bars AS b LEFT JOIN recent USING (instrument)
LEFT JOIN calendar_sessions AS s ON s.trade_date = b.trade_date
"""


def test_deps_are_the_tables_the_sql_reads(sql_dir):
    model = load_sql_model(_write(sql_dir, "gold.tiny.sql", HEADER + READS_TWO))
    assert set(model.deps) == {MARKET_BARS, dg.AssetKey(["silver", "news_sentiment"])}  # not the CTE, not the calendar
    listed = HEADER + "-- deps: silver/news_sentiment, silver/market_bars\n" + READS_TWO
    assert set(load_sql_model(_write(sql_dir, "gold.tiny.sql", listed)).deps) == set(model.deps)


def test_a_deps_line_that_disagrees_with_the_sql_names_both(sql_dir):
    path = _write(sql_dir, "gold.tiny.sql", HEADER + "-- deps: silver/market_bars, silver/news_articles\n" + READS_TWO)
    with pytest.raises(SqlModelError) as err:
        load_sql_model(path)
    message = str(err.value)
    assert f"{path}:3:" in message
    assert "lists silver/market_bars, silver/news_articles but the SQL reads silver/market_bars, silver/news_sentiment" in message


def test_a_table_without_its_schema_is_refused(sql_dir):
    path = _write(sql_dir, "gold.tiny.sql", HEADER + "SELECT instrument, ts, trade_date, close, 0.0 AS window_len FROM market_bars\n")
    with pytest.raises(SqlModelError, match="reads market_bars without a schema") as err:
        load_sql_model(path)
    assert str(path) in str(err.value)


def test_missing_ddl_names_the_expected_file(sql_dir):
    path = _write(sql_dir, "gold.nodll.sql", "-- asset: gold/nodll\n-- description: d\nSELECT 1 AS trade_date\n")
    with pytest.raises(SqlModelError, match="no DDL for gold.nodll") as err:
        load_sql_model(path)
    assert str(sql_dir / "tables" / "gold.nodll.sql") in str(err.value)


# ----------------------------------------------------------------------------- the asset


def test_market_features_asset_definition():
    asset = market_features
    key = dg.AssetKey(["gold", "market_features"])
    assert asset.key == key
    assert set(asset.dependency_keys) == {MARKET_BARS}
    assert asset.get_partition_mapping(MARKET_BARS) == lookback_mapping(3)
    assert asset.get_partition_mapping(MARKET_BARS).allow_nonexistent_upstream_partitions
    assert asset.partitions_def is trading_day_partitions
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    assert asset.group_names_by_key[key] == "gold"
    assert asset.specs_by_key[key].kinds == {"duckdb", "sql"}
    assert asset.op.pool == "duckdb_writer"
    assert "warehouse" in asset.required_resource_keys
    assert asset.code_versions_by_key[key] == load_sql_model(settings.sql_dir() / "gold.market_features.sql").code_version
    description = asset.descriptions_by_key[key]
    assert description.startswith("One row per silver bar") and "dbt_like_sql/gold.market_features.sql" in description
    metadata = asset.metadata_by_key[key]
    assert metadata["dagster/table_name"] == "gold.market_features"
    assert [c.name for c in metadata["dagster/column_schema"].columns][:3] == ["instrument", "ts", "trade_date"]


def test_build_sql_assets_one_per_model_file():
    assets = build_sql_assets()
    keys = [a.key for a in assets]
    assert dg.AssetKey(["gold", "market_features"]) in keys
    assert all(k.path[0] in {"bronze", "silver", "gold", "ml"} for k in keys)
    assert len(keys) == len(list(settings.sql_dir().glob("*.sql")))  # not the tables/ DDL files
    assert next(a for a in assets if a.key == market_features.key) is market_features
    dg.Definitions(assets=[*assets, market_features], resources={"warehouse": DuckDBWarehouse()})


def test_tmp_sql_dir_assets(sql_dir):
    assets = {a.key: a for a in build_sql_assets(sql_dir)}
    tiny = assets[dg.AssetKey(["gold", "tiny"])]
    assert set(tiny.dependency_keys) == {MARKET_BARS}  # no '-- deps:' line: derived from the SQL
    for dep in tiny.dependency_keys:
        assert tiny.get_partition_mapping(dep) == lookback_mapping(1)
    assert len(assets) == 1  # the table DDL files are not models


def test_code_version_follows_the_file(sql_dir):
    path = sql_dir / "gold.tiny.sql"
    before = build_sql_asset(path)
    assert build_sql_asset(path) is before  # unchanged file: the same definition
    path.write_text(TINY_SQL.replace("close > $min_close", "close >= $min_close"))
    after = build_sql_asset(path)
    key = dg.AssetKey(["gold", "tiny"])
    assert after.code_versions_by_key[key] != before.code_versions_by_key[key]


def test_code_version_follows_the_table_ddl(sql_dir):
    # A column added to the model's table (or to an upstream table its DDL takes columns from)
    # is a change of the model: the UI marks it and its dependants stale.
    path = sql_dir / "gold.tiny.sql"
    before = build_sql_asset(path)
    ddl = sql_dir / "tables" / "gold.tiny.sql"
    ddl.write_text(TINY_DDL.replace("\n);", ",\n    spare DOUBLE\n);"))
    after = build_sql_asset(path)
    key = dg.AssetKey(["gold", "tiny"])
    assert "spare" in ddl.read_text()
    assert after.code_versions_by_key[key] != before.code_versions_by_key[key]


# ----------------------------------------------------------------------------- running


def test_parameters_are_bound_never_formatted(sql_dir, tiny_warehouse, monkeypatch):
    calls = []
    original = runner._execute_select

    def spy(conn, sql, params):
        calls.append((sql, params))
        return original(conn, sql, params)

    monkeypatch.setattr(runner, "_execute_select", spy)
    model = load_sql_model(sql_dir / "gold.tiny.sql")
    scope = PartitionScope.of("2024-03-05", "2024-03-06")
    run = compute_sql_model(model, tiny_warehouse, scope, {"min_close": 5000.0})

    (sql, params), = calls
    assert sql == (sql_dir / "gold.tiny.sql").read_text()  # the file text, verbatim
    assert "2024-03" not in sql and "5000" not in sql
    window = ownership_window("2024-03-05", "2024-03-06")
    assert params == {
        "first_date": dt.date(2024, 3, 5),
        "last_date": dt.date(2024, 3, 6),
        "min_close": 5000.0,
        "window_end": window.end,
        "window_start": window.start,
    }  # only what the SQL references ('label' is config but unused, so not bound)
    assert set(run.frame["trade_date"].unique()) == {dt.date(2024, 3, 5), dt.date(2024, 3, 6)}
    assert (run.frame["close"] > 5000.0).all()
    assert run.frame["window_len"].unique().to_list() == [(window.end - window.start).total_seconds()]


def test_materialize_writes_the_range_and_reports(sql_dir, tiny_warehouse):
    tiny = build_sql_asset(sql_dir / "gold.tiny.sql")
    config = {"ops": {tiny.op.name: {"config": {"min_close": 0.0}}}}
    for _ in range(2):  # a re-run replaces, never duplicates
        result = dg.materialize(
            [tiny], partition_key="2024-03-06", run_config=config,
            resources={"warehouse": tiny_warehouse}, instance=dg.DagsterInstance.ephemeral(),
        )
    rows = tiny_warehouse.query("SELECT trade_date, count(*) AS n FROM gold.tiny GROUP BY ALL")
    silver = tiny_warehouse.query("SELECT count(*) AS n FROM silver.market_bars WHERE trade_date = DATE '2024-03-06'")
    assert rows.to_dicts() == [{"trade_date": dt.date(2024, 3, 6), "n": silver["n"][0]}]

    meta = result.asset_materializations_for_node(tiny.op.name)[0].metadata
    assert meta["dagster/row_count"].value == silver["n"][0]
    assert meta["sql_file"].value == str(sql_dir / "gold.tiny.sql")
    assert meta["run_parameters"].value["first_date"] == "2024-03-06"
    assert meta["run_parameters"].value["min_close"] == 0.0
    assert meta["run_elapsed_seconds"].value >= 0
    assert "dagster/column_schema" in meta and "summary" in meta


def test_unknown_run_config_is_refused(sql_dir, tiny_warehouse):
    model = load_sql_model(sql_dir / "gold.tiny.sql")
    with pytest.raises(SqlModelError, match="unknown config"):
        compute_sql_model(model, tiny_warehouse, PartitionScope.of("2024-03-05"), {"nope": 1})


def test_result_must_match_the_table(sql_dir, tiny_warehouse):
    path = _write(sql_dir, "gold.tiny.sql", HEADER + "SELECT instrument, ts, trade_date, close AS price FROM silver.market_bars\n")
    model = load_sql_model(path)
    with pytest.raises(SqlModelError, match=r"missing \['close', 'window_len'\], unexpected \['price'\]") as err:
        run_sql_model(model, tiny_warehouse, PartitionScope.of("2024-03-05"))
    assert str(path) in str(err.value)


def test_failing_select_names_the_file(sql_dir, tiny_warehouse):
    path = _write(sql_dir, "gold.tiny.sql", HEADER + "SELECT * FROM silver.no_such_table\n")
    with pytest.raises(SqlModelError, match="the SELECT failed for 2024-03-05") as err:
        run_sql_model(load_sql_model(path), tiny_warehouse, PartitionScope.of("2024-03-05"))
    assert str(path) in str(err.value)


def test_chunk_scopes_tile_the_range():
    scope = PartitionScope.of("2024-03-04", "2024-03-15")
    chunks = runner.chunk_scopes(scope, 3)
    assert [c.label for c in chunks] == ["2024-03-04..2024-03-06", "2024-03-07..2024-03-11", "2024-03-12..2024-03-14", "2024-03-15"]
    assert chunks[0].window.start == scope.window.start and chunks[-1].window.end == scope.window.end
    assert all(a.window.end == b.window.start for a, b in zip(chunks, chunks[1:]))
    assert runner.chunk_scopes(scope, None) == [scope]


def test_post_steps_see_every_value(sql_dir, tiny_warehouse, monkeypatch):
    seen = {}

    def spy(frame: pl.DataFrame, params):
        seen.update(params, rows=frame.height)
        return frame

    monkeypatch.setitem(runner._POST_STEPS, "test_spy_step", spy)

    path = _write(sql_dir, "gold.tiny.sql", TINY_SQL.replace("-- lookback_sessions: 1", "-- lookback_sessions: 1\n-- python_post: test_spy_step"))
    model = load_sql_model(path)
    compute_sql_model(model, tiny_warehouse, PartitionScope.of("2024-03-05"))
    assert seen["label"] == "x" and seen["min_close"] == 0.0 and seen["first_date"] == dt.date(2024, 3, 5)
    assert "warmup_bars" not in seen  # the model does not use it, so it is not config
    assert seen["rows"] > 0


def test_range_run_gives_each_partition_its_own_numbers(sql_dir, tiny_warehouse):
    """A single-run backfill over three sessions: each partition reports its own rows, not the range's."""
    tiny = build_sql_asset(sql_dir / "gold.tiny.sql")
    days = ["2024-03-04", "2024-03-05", "2024-03-06"]
    result = dg.materialize(
        [tiny], resources={"warehouse": tiny_warehouse}, instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
    )
    per_day = dict(
        tiny_warehouse.query("SELECT trade_date::VARCHAR AS d, count(*) AS n FROM gold.tiny GROUP BY ALL").iter_rows()
    )
    events = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert sorted(events) == days
    counts = {day: events[day]["dagster/row_count"].value for day in days}
    assert counts == per_day and len(set(counts.values())) == 3  # each its own, and they differ
    for day in days:
        meta = events[day]
        assert meta["partition_range"].value == day and meta["instruments"].value == 1
        assert meta["run_rows"].value == sum(per_day.values())  # the run's total, named as such
        assert meta["run_partition_range"].value == f"{days[0]}..{days[-1]}"
        assert f"**{counts[day]:,} rows** for `{day}`" in meta["summary"].value
