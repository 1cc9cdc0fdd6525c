"""The production profile for real: Dagster over PostgreSQL, as three separate processes.

A fresh database in the local PostgreSQL, ``docker/dagster.yaml`` as the instance, and on
127.0.0.1 the code location (``dagster code-server start``), ``dagster-webserver`` and
``dagster-daemon`` -- the processes docker/compose.yaml runs, never ``dagster dev``. A demo's
files land in an empty landing zone; the landing sensor's runs ingest them and the automation
carries every session through silver, gold and the model. Everything is read back from
PostgreSQL itself: the runs, the materializations and the check results. The database is dropped
at the end.
"""

from __future__ import annotations

import shutil
import time

import dagster as dg
import psycopg2
import pytest

from finsig_assets_tests.integration.live_dagster import finsig_env, run_cli
from finsig_assets_tests.integration.production_dagster import POSTGRES_ADMIN, PostgresDatabase, ProductionDagster

pytestmark = [pytest.mark.integration, pytest.mark.production]

SESSIONS = 4
# Model partition D is trained on the sessions before D: the first session has none, and nothing requests it.
MODEL_ASSETS = ("ml/model_fits", "ml/direction_model")


def asset_keys() -> list[dg.AssetKey]:
    from finsig_assets.definitions import defs

    return [n.key for n in defs.resolve_asset_graph().asset_nodes if n.is_materializable]


def test_sensor_and_automation_on_postgres_with_separate_webserver_daemon_and_code_server(tmp_path):
    started = time.perf_counter()
    home = tmp_path / "home"
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1")
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(SESSIONS), "--home-settings",
             "--articles-per-session", "4", "--seed", "8"], env)
    demo_first, demo_last = (home / "finsig.env").read_text().split("FINSIG_DEMO_RANGE=")[1].split()[0].split("...")
    from finsig_assets.trading_calendar import sessions_between

    sessions = [d.isoformat() for d in sessions_between(demo_first, demo_last)]
    incoming = tmp_path / "incoming"
    shutil.move(home / "landing", incoming)  # the zone starts empty; the files land below
    (home / "landing").mkdir()
    timings = {}

    with PostgresDatabase() as db:
        env["DAGSTER_POSTGRES_URL"] = db.url
        with ProductionDagster(env, tmp_path / "logs") as prod:
            timings["processes_up"] = time.perf_counter() - started
            pids = {name: p.pid for name, p in prod.processes.items()}
            assert len(set(pids.values())) == 3 and all(p.poll() is None for p in prod.processes.values())

            t_drop = time.perf_counter()
            for dataset in ("market", "news"):
                shutil.move(incoming / dataset, home / "landing" / dataset)
            bronze = [dg.AssetKey(["bronze", "market_candles"]), dg.AssetKey(["bronze", "news_articles"])]
            prod.wait(lambda: all(set(sessions) <= prod.materialized(k) for k in bronze), 300, "the sensor's bronze runs")
            timings["files_to_bronze"] = time.perf_counter() - t_drop

            def everything_materialized() -> bool:
                for key in asset_keys():
                    # Model D is trained on the sessions before D: the first session has none.
                    expected = sessions[1:] if key.to_user_string() in MODEL_ASSETS else sessions
                    if not set(expected) <= prod.materialized(key):
                        return False
                return True

            prod.wait(everything_materialized, 480, "the automation to carry every session to ml/predictions", every=3.0)
            timings["files_to_predictions"] = time.perf_counter() - t_drop
            prod.wait_quiet_ticks("default_automation_condition_sensor", 2, 240, "no run left queued or running across two automation ticks")

            runs = prod.instance.get_runs()
            assert [r.run_id for r in runs if r.status != dg.DagsterRunStatus.SUCCESS] == [], prod.diagnosis()
            sensor_runs = [r for r in runs if r.tags.get("finsig/trigger") == "landing_sensor"]
            automation_runs = [r for r in runs if any(k.startswith("dagster/") and "automation" in k for k in r.tags)]
            assert sensor_runs and automation_runs, prod.diagnosis()
            assert all("finsig/run_worker" in r.tags for r in runs), "a run did not record its worker for run monitoring"

            # What PostgreSQL itself holds.
            by_status = dict(db.query("SELECT status, count(*) FROM runs GROUP BY status"))
            assert by_status == {"SUCCESS": len(runs)}, by_status
            materialized = dict(db.query(
                "SELECT asset_key, count(DISTINCT partition) FROM event_logs "
                "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY asset_key"
            ))
            for key in asset_keys():
                expected = SESSIONS - 1 if key.to_user_string() in MODEL_ASSETS else SESSIONS
                assert materialized.get(key.to_string(), 0) >= expected, (key, materialized)
            checks = dict(db.query(
                "SELECT execution_status, count(*) FROM asset_check_executions GROUP BY execution_status"
            ))
            assert checks.get("SUCCEEDED", 0) + checks.get("FAILED", 0) > 0, checks
            check_names = {row[0] for row in db.query("SELECT DISTINCT check_name FROM asset_check_executions")}
            assert {"rejection_rate", "unique_non_null_keys", "latest_session_fresh"} <= check_names, check_names
            daemons = {row[0] for row in db.query("SELECT daemon_type FROM daemon_heartbeats")}
            assert {"SENSOR", "ASSET", "QUEUED_RUN_COORDINATOR", "MONITORING", "BACKFILL"} <= daemons, daemons
            print(f"runs: {len(runs)} ({len(sensor_runs)} by the sensor, {len(automation_runs)} by the automation); "
                  f"checks {checks}; processes {pids}")
        timings["total"] = time.perf_counter() - started
        print({k: round(v, 1) for k, v in timings.items()})

    admin = psycopg2.connect(POSTGRES_ADMIN)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,))
            assert cursor.fetchone() is None, "the test database was not dropped"
    finally:
        admin.close()
