"""Benchmark: how long a new session takes from landing files to ``ml/predictions``, live.

What a user sees with ``make ui`` running: a collector drops one session's market and news files
into the landing zone; the landing sensor ingests them, the automation carries them through
every layer. This script builds a demo home the way ``make demo`` does (in a temporary
directory), starts ``dagster dev`` on it (webserver, daemon, code server), lands the next session
(``finsig demo-data --next-session``) and polls the instance, reporting

- when the sensor's bronze runs were created and finished,
- when the session's ``ml/predictions`` partition was materialized,
- when the system was quiet again (no run in progress, nothing requested since),
- every run created after the files landed: its assets, partitions, status and who launched it
  -- nothing for other sessions must appear.

    .venv/bin/python bench/live_latency.py                 # 20 demo sessions, report on stdout
    .venv/bin/python bench/live_latency.py --json out.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from finsig_assets_tests.integration.live_dagster import LiveDagster, finsig_env, run_cli  # noqa: E402

BRONZE = [dg.AssetKey(["bronze", "market_candles"]), dg.AssetKey(["bronze", "news_articles"])]
PREDICTIONS = dg.AssetKey(["ml", "predictions"])
QUIET_SECONDS = 45  # two automation ticks with nothing in progress and no new run


def materialized_at(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str, after: float) -> float | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    return records[0].timestamp if records and records[0].timestamp > after else None


def runs_since(instance: dg.DagsterInstance, since: float) -> list[dg.DagsterRun]:
    after = datetime.datetime.fromtimestamp(since, datetime.timezone.utc)
    records = instance.get_run_records(filters=dg.RunsFilter(created_after=after))
    return [r.dagster_run for r in sorted(records, key=lambda r: r.create_timestamp)]


def created(instance: dg.DagsterInstance, run: dg.DagsterRun) -> float:
    return instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()


def describe(run: dg.DagsterRun) -> dict:
    tags = run.tags
    launched = (
        "landing_sensor" if tags.get("finsig/trigger") == "landing_sensor"
        else "automation" if any(k.startswith("dagster/auto") or "automation" in k for k in tags)
        else "backfill" if "dagster/backfill" in tags else tags.get("dagster/sensor_name", "user")
    )
    partitions = tags.get("dagster/partition") or (
        f"{tags.get('dagster/asset_partition_range_start')}..{tags.get('dagster/asset_partition_range_end')}"
    )
    return {
        "run": run.run_id[:8],
        "assets": sorted(k.to_user_string() for k in (run.asset_selection or [])),
        "partitions": partitions,
        "status": run.status.value,
        "launched_by": launched,
    }


def measure(work: Path, sessions: int, timeout: float) -> dict:
    home = work / "home"
    env = finsig_env(home)
    t_setup = time.perf_counter()
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(sessions), "--home-settings"], env)
    run_cli(["finsig_assets.cli", "init-instance"], env)
    first_last = run_cli(["finsig_assets.session_range", "demo"], env).strip().splitlines()[-1]
    run_cli(["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*", "--partition-range", first_last], env)
    setup_seconds = time.perf_counter() - t_setup

    with LiveDagster(env, work / "dagster-dev.log") as live:
        instance = live.instance
        started = time.time()
        time.sleep(30)  # the sensors' first ticks: they must start nothing
        quiet_before = [describe(r) for r in runs_since(instance, started)]
        t0 = time.time()
        run_cli(["finsig_assets.cli", "demo-data", "--next-session"], env)
        session = first_last.split("...")[1]
        marks: dict[str, float] = {}
        last_change, last_count = time.time(), 0
        while time.time() - t0 < timeout:
            runs = runs_since(instance, t0)
            sensor_runs = [r for r in runs if r.tags.get("finsig/trigger") == "landing_sensor"]
            if sensor_runs and "sensor_run_created" not in marks:
                marks["sensor_run_created"] = created(instance, sensor_runs[0]) - t0
            done = [materialized_at(instance, k, session, t0) for k in BRONZE]
            if all(done) and "bronze_materialized" not in marks:
                marks["bronze_materialized"] = max(done) - t0
            pred = materialized_at(instance, PREDICTIONS, session, t0)
            if pred and "predictions_first" not in marks:
                marks["predictions_first"] = pred - t0
            if pred:
                marks["predictions_last"] = pred - t0
            if len(runs) != last_count or live.busy():
                last_change, last_count = time.time(), len(runs)
            elif pred and time.time() - last_change >= QUIET_SECONDS:
                marks["quiet"] = last_change - t0
                break
            time.sleep(1.0)
        runs = runs_since(instance, t0)
        return {
            "sessions": sessions,
            "new_session": session,
            "setup_seconds": round(setup_seconds, 1),
            "runs_started_by_ui_start": quiet_before,
            "seconds_after_files_landed": {k: round(v, 1) for k, v in marks.items()},
            "runs_after_files_landed": [describe(r) for r in runs],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="finsig-live-") as tmp:
        report = measure(Path(tmp), args.sessions, args.timeout)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if "predictions_first" in report["seconds_after_files_landed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
