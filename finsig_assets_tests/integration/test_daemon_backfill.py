"""The live system, end to end, on a real instance with its daemon (``dagster dev``).

A 15-session backfill of the whole graph is launched through the GraphQL API exactly as the UI's
Materialize dialog does (``launchPartitionBackfill``). While it runs, the landing sensor is
switched on and a new session's files land: the sensor ingests them into bronze and the
automation carries that session down to ``ml/predictions``. At the end every partition of every
asset is materialized, no run failed, and the warehouse holds the rows that one CLI run over
the same files produces (``dagster asset materialize --select '*'``): row counts, a checksum and
every value per table.

The reference CLI run starts in the background as soon as the new session's files have landed (the
landing zone is only read from then on), while the live instance is still working.

The backfill daemon evaluates every 5 s here (``fast_backfill_daemon``) instead of Dagster's 30 s.
That makes it likely that the backfill computes the new session's silver partition (it reads the
last session's final bar) before the sensor's bronze run of that session has written; the
automation must then run it again (``automation.upstream_newer``) -- the warehouse comparison
below fails otherwise, as it did in CI before that fix.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from datetime import datetime, timezone

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus
import pytest

from finsig_assets import settings
from finsig_assets_tests.integration.live_dagster import BackgroundCli, LiveDagster, fast_backfill_daemon, finsig_env, run_cli
from finsig_assets_tests.integration.warehouse_compare import MODEL_TABLES, TABLES, differences, digest, without_first_model_partition

pytestmark = pytest.mark.integration

SESSIONS = 15
BRONZE = [dg.AssetKey(["bronze", "market_candles"]), dg.AssetKey(["bronze", "news_articles"])]
AUTOMATION_SENSOR = "default_automation_condition_sensor"


def demo_range(home) -> list[str]:
    from finsig_assets.trading_calendar import sessions_between

    text = dict(line.split("=", 1) for line in (home / "finsig.env").read_text().splitlines() if "=" in line and not line.startswith("#"))
    first, last = text["FINSIG_DEMO_RANGE"].split("...")
    return [d.isoformat() for d in sessions_between(first, last)]


def test_ui_backfill_with_the_sensor_and_automation_matches_a_cli_run(tmp_path):
    started = time.perf_counter()
    home = tmp_path / "live"
    env = fast_backfill_daemon(finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1"))
    demo_args = ["--articles-per-session", "8", "--seed", "11"]
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(SESSIONS), "--home-settings", *demo_args], env)
    # A 10-session training window keeps the 15 models of each run to a couple of seconds each.
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "10", "FINSIG_MODEL_MIN_SESSIONS": "5"}, home)
    run_cli(["finsig_assets.cli", "init-instance"], env)
    # The sensor waits until the backfill's bronze step has indexed the landing zone; in the UI
    # a user would switch it on the same way.
    run_cli(["dagster", "sensor", "stop", "landing_sensor", "-m", "finsig_assets.definitions"], env)
    sessions = demo_range(home)
    timings = {"setup": time.perf_counter() - started}

    with contextlib.ExitStack() as stack:  # the reference run: stopped on exit, whatever happened
        with LiveDagster(env, tmp_path / "dagster-dev.log") as live:
            keys = [n.key for n in _asset_nodes()]
            t0 = time.perf_counter()
            backfill_id = live.launch_backfill(keys, sessions)
            live.wait(lambda: all(set(sessions) <= live.materialized(k) for k in BRONZE), 300, "the backfill's bronze partitions")
            live.check_fast_backfill_daemon()

            live.set_sensor("landing_sensor", running=True)
            run_cli(["finsig_assets.cli", "demo-data", "--next-session", *demo_args], env)
            new_session = demo_range(home)[-1]
            t1 = time.perf_counter()
            everything = sessions + [new_session]
            # The reference: the same files, one CLI run over every session, in a home of its own --
            # started now, beside the live instance (which only reads the landing zone from here on).
            ref = tmp_path / "cli"
            ref_env = finsig_env(ref)
            (ref / "landing").mkdir(parents=True)
            shutil.copytree(home / "landing" / "market", ref / "landing" / "market")
            shutil.copytree(home / "landing" / "news", ref / "landing" / "news")
            shutil.copy(home / "finsig.env", ref / "finsig.env")
            run_cli(["finsig_assets.cli", "init-instance"], ref_env)
            reference = stack.enter_context(BackgroundCli(
                ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*",
                 "--partition-range", f"{everything[0]}...{everything[-1]}"],
                ref_env, tmp_path / "cli-run.log",
            ))  # fmt: skip

            upstream_of_predictions = [n.key for n in _asset_nodes() if n.key.to_user_string() not in ("ml/predictions", "ml/direction_model", "ml/performance_report")]
            quiet = {"since": None}

            def latest(key: dg.AssetKey) -> float | None:
                records = live.instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, asset_partitions=[new_session]), limit=1
                ).records
                return records[0].timestamp if records else None

            def settled() -> bool:
                """The backfill is done, nothing runs, the session's predictions are newer than every
                upstream partition of the session -- and it stays so across two automation ticks
                (ticks that started after it was first seen so, and ended)."""
                backfill = live.instance.get_backfill(backfill_id)
                upstream = [latest(k) for k in upstream_of_predictions]
                preds = latest(dg.AssetKey(["ml", "predictions"]))
                done = (
                    backfill.status != BulkActionStatus.REQUESTED
                    and not live.busy()
                    and all(upstream)
                    and preds is not None
                    and preds > max(upstream)
                )
                if not done:
                    quiet["since"] = None
                    return False
                quiet["since"] = quiet["since"] or datetime.now(timezone.utc).timestamp()
                return len(live.finished_ticks(AUTOMATION_SENSOR, quiet["since"])) >= 2

            live.wait(settled, 600, f"the backfill and session {new_session} to reach ml/predictions", every=3.0)
            timings["backfill_and_new_session"] = time.perf_counter() - t0
            timings["new_session_to_predictions"] = time.perf_counter() - t1

            backfill = live.instance.get_backfill(backfill_id)
            assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, live.diagnosis()
            runs = live.instance.get_runs()
            assert [r.run_id for r in runs if r.status != dg.DagsterRunStatus.SUCCESS] == [], live.diagnosis()
            sensor_runs = [r for r in runs if r.tags.get("finsig/trigger") == "landing_sensor"]
            assert sensor_runs and all(r.tags["dagster/asset_partition_range_start"] == new_session for r in sensor_runs)
            automation_runs = [r for r in runs if r.tags.get("dagster/from_automation_condition") or r.tags.get("dagster/automation_condition")]
            for node in _asset_nodes():
                # Model partition D is the model for session D, trained on the sessions before it:
                # the first session has none, so the backfill does not even request it (nor its fits).
                expected = everything[1:] if node.key.to_user_string() in ("ml/model_fits", "ml/direction_model") else everything
                missing = sorted(set(expected) - live.materialized(node.key))
                assert not missing, f"{node.key.to_user_string()} not materialized for {missing}\n{live.diagnosis()}"
            print(f"runs: {len(runs)} ({len(sensor_runs)} by the sensor, {len(automation_runs)} by the automation)")

        timings["cli_run"] = reference.finish()
    problems, report = [], []
    for table in TABLES:
        a, b = digest(home / "warehouse.duckdb", table), digest(ref / "warehouse.duckdb", table)
        if table in MODEL_TABLES:
            # The CLI run also records the model for the first session (no labelled session
            # before it: no data), which the backfill does not request.
            b = without_first_model_partition(b)
        report.append(f"{table:<24} {a.rows:>8,} rows  live {a.checksum}  cli {b.checksum}")
        problems += differences(a, b)
    print("\n".join(report))
    print({k: round(v, 1) for k, v in timings.items()})
    assert not problems, "\n".join(problems)


def _asset_nodes():
    from finsig_assets.definitions import defs

    return [n for n in defs.resolve_asset_graph().asset_nodes if n.is_materializable]
