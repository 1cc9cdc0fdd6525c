"""The first partitions (``FINSIG_PARTITIONS_START``) look back to partitions that do not exist.

Every look-back mapping allows that (``allow_nonexistent_upstream_partitions``): the first
partition of a model with ``lookback_sessions: 3`` materializes, alone or as the start of a
range, with its warm-up read from whatever bars exist before it.
"""

from __future__ import annotations

import importlib
import shutil

import dagster as dg
import pytest

from finsig_assets import settings
from finsig_assets.partitions import build_trading_day_partitions
from finsig_assets.silver import market_bars, news_articles
from finsig_assets.sql_models import build_sql_asset, load_sql_model
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.sql_models.synthetic_bars import synthetic_bars, warehouse_with_bars
from finsig_assets_tests.check_results import table_checks

START = "2024-06-24"
MARKET_BARS = dg.AssetKey(["silver", "market_bars"])


@pytest.fixture
def late_start(tmp_path, monkeypatch) -> dg.DailyPartitionsDefinition:
    """Partitions starting at START, and a private copy of the models built with them."""
    partitions = build_trading_day_partitions(START)
    monkeypatch.setattr(importlib.import_module("finsig_assets.trading_day_asset"), "trading_day_partitions", partitions)
    sql_dir = tmp_path / "dbt_like_sql"
    shutil.copytree(settings.sql_dir(), sql_dir)
    monkeypatch.setenv("FINSIG_SQL_DIR", str(sql_dir))
    return partitions


def test_silver_look_backs_allow_missing_upstream_partitions():
    bronze = {market_bars: ["bronze", "market_candles"], news_articles: ["bronze", "news_articles"]}
    for asset, upstream in bronze.items():
        mapping = asset.get_partition_mapping(dg.AssetKey(upstream))
        assert mapping.start_offset < 0 and mapping.allow_nonexistent_upstream_partitions


def test_first_partition_of_a_lookback_3_model_materializes(late_start, tmp_path):
    path = settings.sql_dir() / "gold.market_features.sql"  # the copy (FINSIG_SQL_DIR)
    assert load_sql_model(path).lookback_sessions == 3
    asset = build_sql_asset(path)
    assert asset.partitions_def.get_first_partition_key() == START
    mapping = asset.get_partition_mapping(MARKET_BARS)
    assert mapping.start_offset == -3 and mapping.allow_nonexistent_upstream_partitions

    defs = dg.Definitions(
        assets=[dg.AssetSpec(MARKET_BARS, partitions_def=late_start), asset],
        resources={"warehouse": DuckDBWarehouse(database=str(tmp_path / "unused.duckdb"))},
    )
    graph = defs.resolve_asset_graph()
    parents = graph.get_parents_partitions(asset.key, START)
    assert parents.required_but_nonexistent_parents_partitions == set()
    assert {p.partition_key for p in parents.parent_partitions} == {START}

    warehouse = warehouse_with_bars(tmp_path / "w.duckdb", synthetic_bars("2024-06-18", "2024-06-26", seed=4))
    result = dg.materialize(
        [asset], partition_key=START, resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    silver = warehouse.query("SELECT count(*) AS n FROM silver.market_bars WHERE trade_date = ?", [START])["n"][0]
    gold = warehouse.query("SELECT count(*) AS n, count(rsi_14) AS rsi FROM gold.market_features")
    assert gold["n"][0] == silver > 1000
    assert gold["rsi"][0] == silver  # warmed up on the bars before the first partition
    assert all(e.passed for e in table_checks(result))

    ranged = dg.materialize(
        [asset], resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": "2024-06-26"},
    )
    assert ranged.success
    assert sorted(e.partition for e in ranged.get_asset_materialization_events()) == [START, "2024-06-25", "2024-06-26"]
