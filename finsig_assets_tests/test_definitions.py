"""The code location loads and keeps the docs/design.md contracts (asset keys, partitions, pools)."""

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
    for name in ("finsig_pipeline", "ml_training"):
        job = defs.resolve_job_def(name)
        assert job.partitions_def == trading_day_partitions


def test_every_asset_table_has_a_ddl_contract():
    from finsig_assets.warehouse import table_ddl_files

    tables = {p.stem for p in table_ddl_files()}
    # ml/direction_model's product is a registered MLflow model; its table is ml.model_runs.
    expected = [k.replace("/", ".") for k in CONTRACT_KEYS if k != "ml/direction_model"] + ["ml.model_runs"]
    for table in expected:
        assert table in tables, table


def test_column_schemas_describe_columns_from_the_ddl_comments(asset_graph):
    # The UI's column table shows each column's meaning: the comment ending its line in the DDL,
    # and through a '-- columns of' directive the upstream table's own comment.
    def described(key: str) -> dict[str, str | None]:
        value = asset_graph.get(dg.AssetKey(key.split("/"))).metadata["dagster/column_schema"]
        schema = getattr(value, "schema", value)  # a TableSchema, or its metadata value
        return {c.name: c.description for c in schema.columns}

    features, examples = described("gold/market_features"), described("gold/training_examples")
    assert features["vol_of_vol_30"] == "sample std of realized_vol_30 over the last 30 bars"
    assert features["ret_240m"] == "ln(close / close of the last bar at or before ts - 240 minutes)"
    assert examples["vol_of_vol_30"] == features["vol_of_vol_30"] and examples["sma_50"] == features["sma_50"]
    assert examples["label_up"].startswith("fwd_return_30m > 0")
    assert examples["ts"] == "bar open time, UTC"  # its own comment, not market_features'
    assert all(features[c] for c in features if c not in ("instrument", "trade_date")), features
    assert described("silver/market_bars")["gap_minutes"]


def test_resources_are_configured():
    assert {"warehouse", "landing", "sentiment", "mlflow"} <= set(defs.resources)


def test_sensors_are_on_and_the_landing_sensor_targets_bronze_only():
    sensor = defs.resolve_sensor_def("landing_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    (target,) = sensor.targets
    selection = target.resolvable_to_job.selection
    assert {k.to_user_string() for k in selection.resolve(defs.resolve_asset_graph())} == {
        "bronze/market_candles",
        "bronze/news_articles",
    }
    automation = defs.resolve_sensor_def("default_automation_condition_sensor")
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_schedule_def("session_close_schedule").default_status == dg.DefaultScheduleStatus.STOPPED


def test_every_asset_below_bronze_follows_its_upstream_by_itself(asset_graph):
    for node in asset_graph.asset_nodes:
        if not node.is_materializable:
            continue
        layer = node.key.path[0]
        if layer == "bronze":
            assert node.automation_condition is None, node.key  # the landing sensor drives bronze
        else:
            assert node.automation_condition is not None, node.key
            expected = "follows upstream updates" + (" and new partitions" if node.key.to_user_string() in {"ml/model_fits", "ml/direction_model"} else "")
            assert node.automation_condition.get_label() == expected


def test_every_asset_has_a_code_version_that_follows_its_code(asset_graph):
    import hashlib
    import sys
    from pathlib import Path

    from finsig_assets.warehouse import table_ddl_path

    nodes = [n for n in asset_graph.asset_nodes if n.is_materializable]
    assert all(n.code_version for n in nodes), [n.key.to_user_string() for n in nodes if not n.code_version]
    # A Python asset's: its module and its table's DDL, hashed independently here.
    module = Path(sys.modules["finsig_assets.ml.model_fits"].__file__)
    expected = hashlib.sha256(module.read_bytes() + table_ddl_path("ml.model_fits").read_bytes()).hexdigest()[:16]
    assert asset_graph.get(dg.AssetKey(["ml", "model_fits"])).code_version == expected
    assert len({n.code_version for n in nodes}) == len(nodes)  # no two assets share one


def test_editing_an_assets_module_changes_its_code_version(tmp_path, monkeypatch):
    import importlib

    from finsig_assets.trading_day_asset import python_code_version

    module = tmp_path / "some_asset_module.py"
    module.write_text("def some_asset():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = python_code_version(importlib.import_module("some_asset_module").some_asset, "ml.model_runs")
    module.write_text("def some_asset():\n    return 2\n")
    after = python_code_version(importlib.reload(importlib.import_module("some_asset_module")).some_asset, "ml.model_runs")
    assert before != after
    assert python_code_version(importlib.import_module("some_asset_module").some_asset, "ml.predictions") != after  # the DDL counts
