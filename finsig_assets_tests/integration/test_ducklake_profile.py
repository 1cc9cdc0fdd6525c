"""The whole graph in the DuckLake profile equals the local DuckDB profile, table by table.

The same demo landing files go through the user's command (``dagster asset materialize
--select '*'``) twice: once with the default warehouse (one DuckDB file), once with
``FINSIG_WAREHOUSE=ducklake`` over a catalog database of the local PostgreSQL and a data
directory. Every table then holds the same rows: count, checksum and every value (the columns
that say when or by which run a row was written left out). The catalog and data are removed at
the end, and that is checked. The two runs go side by side (two homes: nothing shared).
"""

from __future__ import annotations

import json
import time

import pytest

from finsig_assets import settings
from finsig_assets.trading_calendar import sessions_between
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.ducklake_catalog import temporary_lake
from finsig_assets_tests.integration.live_dagster import BackgroundCli, finsig_env, run_cli, twin_home
from finsig_assets_tests.integration.warehouse_compare import TABLES, differences, digest

pytestmark = pytest.mark.integration

SESSIONS = 12
# Every trained version is promoted, so that the sessions after the first model are predicted and
# the comparison covers ml.predictions and ml.oos_record too.
# ml/model_fits gets the same configuration, so that its fits (BLOBs in the lake) are the ones registered.
MODEL_CONFIG = {
    "promotion_level": 1.0, "require_log_loss_beats_majority": False, "champion_level": 0.0, "min_test_sessions": 1,
    "n_folds": 2, "max_trees": 60, "nthread": 1,
}  # fmt: skip
PROMOTE_EVERY_VERSION = {"ops": {"ml__model_fits": {"config": MODEL_CONFIG}, "ml__direction_model": {"config": MODEL_CONFIG}}}


def materialize_command(first: str, last: str) -> list[str]:
    return ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*",
            "--partition-range", f"{first}...{last}", "--config-json", json.dumps(PROMOTE_EVERY_VERSION)]  # fmt: skip


def test_the_whole_graph_in_ducklake_gives_the_rows_of_the_local_duckdb_profile(tmp_path):
    local_home, lake_home = tmp_path / "local", tmp_path / "lake-home"
    local_env = finsig_env(local_home)
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(SESSIONS), "--home-settings",
             "--articles-per-session", "8", "--seed", "5"], local_env)
    # A short training window, so that models are trained and predictions written in 12 sessions.
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "8", "FINSIG_MODEL_MIN_SESSIONS": "4"}, local_home)
    first, last = twin_home(local_home, lake_home)
    assert len(sessions_between(first, last)) == SESSIONS

    with temporary_lake(tmp_path / "lake-data") as lake:
        lake_env = finsig_env(lake_home, FINSIG_WAREHOUSE="ducklake", FINSIG_DUCKLAKE_CATALOG=lake.catalog,
                              FINSIG_DUCKLAKE_DATA_PATH=lake.data_path)
        for env in (local_env, lake_env):
            run_cli(["finsig_assets.cli", "init-instance"], env)
        with BackgroundCli(materialize_command(first, last), local_env, tmp_path / "duckdb-run.log") as duckdb_run:
            started = time.perf_counter()
            run_cli(materialize_command(first, last), lake_env, timeout=900)
            seconds = {"ducklake": time.perf_counter() - started, "duckdb": duckdb_run.finish(timeout=900)}
        assert not (lake_home / "warehouse.duckdb").exists(), "the DuckLake profile wrote a DuckDB file"
        assert list((tmp_path / "lake-data").rglob("*.parquet")), "no Parquet files under the lake's data path"

        local = DuckDBWarehouse(database=str(local_home / "warehouse.duckdb"))
        problems, report = [], []
        for table in TABLES:
            a, b = digest(local, table), digest(lake, table)
            report.append(f"{table:<24} {a.rows:>7,} rows  duckdb {a.checksum}  ducklake {b.checksum}")
            problems += differences(a, b)
        print("\n".join(report), f"\nwhole graph: {seconds}")
        assert not problems, "\n".join(problems + report)
        rows = {table: digest(local, table).rows for table in ("ml.model_runs", "ml.predictions", "ml.oos_record")}
        assert all(rows.values()), f"the comparison must cover models and predictions: {rows}"
