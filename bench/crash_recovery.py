"""Crash check: SIGKILL the daemon and the run worker in the middle of a backfill, then recover.

On the production profile (PostgreSQL storage, ``docker/dagster.yaml``, the code location,
``dagster-webserver`` and ``dagster-daemon`` as separate processes on 127.0.0.1, a fresh
database dropped at the end), over a temporary demo home:

1. a backfill of the whole graph over the demo's sessions is launched as the UI launches it;
2. once its run is past bronze, the daemon's process group and the run's worker process get
   SIGKILL (the run's step processes are left orphaned, as after a real crash);
3. the daemon is restarted; run monitoring must fail the dead run (finsig's launcher tells it the
   worker is gone) and hand its ``duckdb_writer`` slot back (``free_slots_after_run_end_seconds``);
4. the backfill is re-executed from failure, as the UI's "Re-execute from failure" does;
5. then every partition of every asset must be materialized exactly once (the dead run's
   finished steps and the re-execution's together), and the warehouse must hold exactly the rows
   of a clean CLI run over the same files (row counts, checksum and every value per table).

    .venv/bin/python bench/crash_recovery.py                     # 10 sessions
    .venv/bin/python bench/crash_recovery.py --sessions 20 --json bench/out/crash.json

Exit status 1 when any of it does not hold. Sensors are switched off so that the backfill and
its re-execution are the only runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402
import psutil  # noqa: E402
from dagster._core.execution.backfill import BulkActionStatus  # noqa: E402

from finsig_assets.run_worker_health import RunWorker  # noqa: E402
from finsig_assets.trading_calendar import sessions_between  # noqa: E402
from finsig_assets_tests.integration.live_dagster import finsig_env, run_cli  # noqa: E402
from finsig_assets_tests.integration.production_dagster import PostgresDatabase, ProductionDagster  # noqa: E402
from finsig_assets_tests.integration.warehouse_compare import TABLES, differences, digest, restrict  # noqa: E402

KILL_AFTER_STEP = "silver__market_bars"  # the kill comes once this step has started: past bronze
FINISHED = (BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED, BulkActionStatus.CANCELED)


def asset_keys() -> list[dg.AssetKey]:
    from finsig_assets.definitions import defs

    return [n.key for n in defs.resolve_asset_graph().asset_nodes if n.is_materializable]


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (the database is dropped)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="finsig-crash-"))
    home = tmp / "home"
    # The multiprocess executor: step processes that a dead run worker leaves orphaned.
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1", FINSIG_EXECUTOR="multiprocess")
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(args.sessions), "--home-settings",
             "--articles-per-session", "6", "--seed", "13"], env)
    first, last = (home / "finsig.env").read_text().split("FINSIG_DEMO_RANGE=")[1].split()[0].split("...")
    sessions = [d.isoformat() for d in sessions_between(first, last)]
    figures: dict = {"sessions": len(sessions), "range": f"{first}...{last}"}
    problems: list[str] = []
    t0 = time.perf_counter()

    def stamp(what: str) -> float:
        figures[what] = round(time.perf_counter() - t0, 1)
        print(f"[{figures[what]:7.1f}s] {what}", flush=True)
        return figures[what]

    with PostgresDatabase("finsig_crash") as db:
        env["DAGSTER_POSTGRES_URL"] = db.url
        with ProductionDagster(env, tmp / "logs", start_daemon=False) as prod:
            # Sensors off before the daemon starts: the backfill and its re-execution are the only runs.
            for sensor in ("landing_sensor", "default_automation_condition_sensor", "freshness_sensor"):
                run_cli(["dagster", "sensor", "stop", sensor, "-w", str(prod.workspace)], env)
            prod.start("daemon")
            stamp("processes_up")
            keys = asset_keys()
            backfill_id = prod.launch_backfill(keys, sessions)
            stamp("backfill_launched")

            def run_past_bronze() -> dg.DagsterRun | None:
                for run in backfill_runs(prod.instance, backfill_id):
                    started = {e.step_key for e in prod.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)}
                    if KILL_AFTER_STEP in started and RunWorker.from_run(run):
                        return run
                return None

            run = prod.wait(run_past_bronze, 600, f"the backfill's run to start {KILL_AFTER_STEP}", every=0.5)
            worker = RunWorker.from_run(run)
            step_workers = [int(e.dagster_event.event_specific_data.metadata["pid"].value)
                            for e in prod.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)]
            prod.kill("daemon")
            os.kill(worker.pid, signal.SIGKILL)
            stamp("killed_daemon_and_run_worker")
            figures["killed_run"] = run.run_id
            figures["steps_started_before_kill"] = sorted(
                {e.step_key for e in prod.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)})
            claimed = [s.run_id for s in prod.instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots]
            figures["slot_held_by_dead_run_after_kill"] = run.run_id in claimed

            prod.start("daemon")
            stamp("daemon_restarted")
            prod.wait(lambda: prod.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE, 300,
                      "run monitoring to fail the dead run")
            stamp("dead_run_failed")
            figures["failed_by"] = [
                e.message for e in prod.instance.all_logs(run.run_id)
                if e.dagster_event and e.dagster_event.event_type in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT)
                and e.timestamp > time.time() - 600 and ("worker" in (e.message or "") or e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE)
            ][-3:]

            def orphans() -> list[int]:
                alive = []
                for pid in step_workers:
                    try:
                        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                            alive.append(pid)
                    except psutil.NoSuchProcess:
                        pass
                return alive

            figures["orphaned_step_processes_at_failure"] = orphans()
            try:
                prod.wait(lambda: not orphans(), 120, "dead_run_cleanup to stop the dead run's step processes")
                stamp("orphans_stopped")
            except AssertionError:
                problems.append(f"step processes of the dead run still alive: {orphans()}")
            prod.wait(lambda: not any(s.run_id == run.run_id for s in
                                      prod.instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots),
                      300, "the dead run's pool slot to be freed")
            stamp("slot_freed")
            prod.wait(lambda: prod.instance.get_backfill(backfill_id).status in FINISHED, 300, "the backfill to end")
            figures["backfill_status_after_crash"] = prod.instance.get_backfill(backfill_id).status.value
            stamp("backfill_ended")

            retry_id = prod.reexecute_backfill_from_failure(backfill_id)
            stamp("reexecution_launched")
            prod.wait(lambda: prod.instance.get_backfill(retry_id).status in FINISHED, 900, "the re-execution to end", every=3.0)
            stamp("reexecution_done")
            figures["reexecution_status"] = prod.instance.get_backfill(retry_id).status.value
            if prod.instance.get_backfill(retry_id).status != BulkActionStatus.COMPLETED_SUCCESS:
                problems.append(f"re-execution ended {figures['reexecution_status']}\n{prod.diagnosis()}")
            figures["runs"] = [
                {"run": r.run_id[:8], "status": r.status.value, "backfill": r.tags.get("dagster/backfill"),
                 "parent": (r.parent_run_id or "")[:8],
                 "partitions": f"{r.tags.get('dagster/asset_partition_range_start', r.tags.get('dagster/partition', ''))}"
                               f"..{r.tags.get('dagster/asset_partition_range_end', '')}",
                 "assets": sorted(k.to_user_string() for k in (r.asset_selection or []))}
                for r in reversed(prod.instance.get_runs())
            ]

            once, twice, missing = 0, [], []
            for key in keys:
                counts = prod.materializations(key)
                # Model D is trained on the sessions before D: the first session's may or may not be requested.
                expected = sessions[1:] if key.to_user_string() == "ml/direction_model" else sessions
                for partition in sorted(set(expected) | set(counts)):
                    n = counts.get(partition, 0)
                    if n == 1:
                        once += 1
                    elif n == 0:
                        missing.append(f"{key.to_user_string()} {partition}")
                    else:
                        runs = sorted({r.event_log_entry.run_id[:8] for r in prod.instance.fetch_materializations(
                            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=10).records})
                        twice.append(f"{key.to_user_string()} {partition} x{n} (runs {', '.join(runs)})")
            figures["asset_partitions_materialized_once"] = once
            figures["last_partition_materialized"] = max(p for key in keys for p in prod.materialized(key))
            if missing or twice:
                problems.append(f"not materialized: {missing[:10]}; more than once: {twice[:10]}")

    # The reference: a clean CLI run over the same files.
    ref = tmp / "clean"
    ref_env = finsig_env(ref)
    (ref / "landing").mkdir(parents=True)
    for dataset in ("market", "news"):
        shutil.copytree(home / "landing" / dataset, ref / "landing" / dataset)
    shutil.copy(home / "finsig.env", ref / "finsig.env")
    run_cli(["finsig_assets.cli", "init-instance"], ref_env)
    # Over what the backfill materialized: silver D+1 reads D's last bars, so the backfill of the
    # demo's sessions also brings downstream assets up to the session after them.
    run_cli(["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*",
             "--partition-range", f"{first}...{figures['last_partition_materialized']}"], ref_env, timeout=1200)
    stamp("clean_cli_run_done")
    tables = {}
    for table in TABLES:
        a, b = digest(home / "warehouse.duckdb", table), digest(ref / "warehouse.duckdb", table)
        if table in ("ml.model_fits", "ml.model_runs") and a.rows < b.rows:
            # The CLI run records the model for the first session too ("no data"); a backfill may not request it.
            first_day = min(b.frame["trade_date"])
            b = restrict(b, b.frame["trade_date"] != first_day)
        tables[table] = {"rows": a.rows, "recovered": a.checksum, "clean": b.checksum}
        problems += differences(a, b)
    figures["tables"] = tables
    figures["problems"] = problems

    print(json.dumps(figures, indent=2, default=str))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print("OK: recovered exactly" if not problems else "FAILED:\n" + "\n".join(problems))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
