"""The code location loads and keeps the DESIGN.md contracts (asset keys, partitions, pools)."""

from __future__ import annotations

import dagster as dg
import pytest

from finsig_assets.definitions import defs
from finsig_assets.partitions import trading_day_partitions

CONTRACT_KEYS = [
    "bronze/market_candles",
    "bronze/news_articles",
    "silver/market_bars",
    "silver/news_articles",
    "silver/news_sentiment",
    "gold/market_features",
    "gold/news_signals",
    "gold/training_examples",
    "ml/direction_model",
    "ml/predictions",
]
DUCKDB_WRITERS = [k for k in CONTRACT_KEYS if k not in ("silver/news_sentiment", "ml/direction_model")]


@pytest.fixture(scope="module")
def asset_graph():
    return defs.resolve_asset_graph()


def test_definitions_validate():
    dg.Definitions.validate_loadable(defs)


@pytest.mark.parametrize("key", CONTRACT_KEYS)
def test_contract_assets_exist_partitioned_by_trading_day(asset_graph, key):
    node = asset_graph.get(dg.AssetKey.from_user_string(key))
    assert node.partitions_def == trading_day_partitions
    assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_every_materializable_asset_is_partitioned_and_described(asset_graph):
    for node in asset_graph.asset_nodes:
        if not node.is_materializable:
            continue
        assert node.partitions_def == trading_day_partitions, node.key
        assert node.description, f"{node.key.to_user_string()} has no description"


def test_writers_queue_on_their_pools():
    pools = {}
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.AssetsDefinition):
            for key in assets_def.keys:
                pools[key.to_user_string()] = assets_def.op.pool
    for key in DUCKDB_WRITERS:
        assert pools[key] == "duckdb_writer", key
    # FinBERT: never two runs loading the model onto one GPU at once.
    assert pools["silver/news_sentiment"] == "gpu"


def test_jobs_resolve():
    for name in ("finsig_pipeline", "market_refresh", "news_refresh"):
        job = defs.resolve_job_def(name)
        assert job.partitions_def == trading_day_partitions
    market = {k.to_user_string() for k in defs.resolve_job_def("market_refresh").asset_layer.executable_asset_keys}
    assert {"bronze/market_candles", "silver/market_bars", "gold/market_features"} <= market
    assert "bronze/news_articles" not in market


def test_every_asset_table_has_a_ddl_contract():
    from finsig_assets.warehouse import table_ddl_files

    tables = {p.stem for p in table_ddl_files()}
    # ml/direction_model's product is a registered MLflow model; its table is ml.model_runs.
    expected = [k.replace("/", ".") for k in CONTRACT_KEYS if k != "ml/direction_model"] + ["ml.model_runs"]
    for table in expected:
        assert table in tables, table


def test_resources_are_configured():
    assert {"warehouse", "landing", "sentiment", "mlflow"} <= set(defs.resources)


def test_sensor_targets_the_refresh_jobs():
    sensor = defs.resolve_sensor_def("landing_sensor")
    assert {j.name for j in sensor.jobs} == {"market_refresh", "news_refresh"}
