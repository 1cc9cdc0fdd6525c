"""Benchmark: the model backfill with the local profile, and on Celery workers with 1 and with 2 workers.

Three fresh copies of one demo home (same files, same settings, ``finsig init-instance``):

- ``local``: the default profile, the user's command, every step in the run's process (the baseline),
  over the partitions the backfill below targets (its sessions' downstream partitions reach the
  session after LAST)::

      dagster asset materialize -m finsig_assets.definitions --select '*ml/predictions' \\
          --partition-range FIRST...NEXT

- ``celery x1``: ``FINSIG_EXECUTOR=celery`` and ``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN=N``, the
  same selection and sessions backfilled as the UI launches it (``launchPartitionBackfill``, with
  ``dagster-webserver`` and ``dagster-daemon`` over the home; the landing sensor and the automation
  off), one worker on the queues ``dagster`` and ``gpu`` (``-c 1``): the SQL layers run as one run,
  ``ml/model_fits`` as runs of N sessions, ``ml/direction_model`` and ``ml/predictions`` as one run;
- ``celery x2``: the same with a second worker on ``dagster`` only (``-c 1``), as
  ``test_celery_workers.py`` runs them.

The workers (and the webserver and daemon) are started, and ready, before the clock starts, as
long-lived services are. Wall time: from the command (local) or the backfill's launch (celery) to
the end of its last run. For each case, per run and step: where it ran, how long (STEP_START to
STEP_SUCCESS) and how long it waited from its submission; for the fits, the sum of their steps'
seconds over the span from the first fit's start to the last one's end (the parallelism the workers
achieved); the speed-up of 2 workers over 1; whether the three warehouses hold the same
``ml.model_runs`` and ``ml.predictions`` rows (the backfill does not target the first session's
model partition, which the CLI range records as "no data": left out). The queues carry a prefix of
the bench's own and are deleted at the end. Needs the broker of ``FINSIG_CELERY_BROKER``
(RabbitMQ on 127.0.0.1:5672 by default).

Dagster's backfill daemon evaluates a backfill every 30 s (``DEFAULT_DAEMON_INTERVAL_SECONDS``), and
each stage of this one (bronze, silver and gold, the fits, the model) waits for an evaluation, so a
short backfill pays up to about 2 minutes that a long one does not notice; the report gives that
waiting apart.

    .venv/bin/python bench/distributed_backfill.py                                 # 20 sessions, fits in runs of 5
    .venv/bin/python bench/distributed_backfill.py --sessions 40 --fits-per-run 10 --json bench/out/distributed.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from finsig_assets import settings  # noqa: E402
from finsig_assets.instance_setup import open_instance  # noqa: E402
from finsig_assets_tests.integration.celery_cluster import (  # noqa: E402
    QUEUES,
    CeleryWorker,
    broker_reachable,
    delete_queues,
    queue_prefix,
    start_workers,
    step_placement,
    stop_workers,
)
from finsig_assets_tests.integration.live_dagster import LiveWebserverDaemon, finsig_env, run_cli  # noqa: E402
from finsig_assets_tests.integration.warehouse_compare import differences, digest, without_first_model_partition  # noqa: E402

SELECTION = "*ml/predictions"
COMPARED = ("ml.model_runs", "ml.predictions")
FITS_STEP = "ml__model_fits"
SENSORS_OFF = ("landing_sensor", "default_automation_condition_sensor")


def backfill_keys() -> list[dg.AssetKey]:
    from finsig_assets.definitions import defs

    return sorted(dg.AssetSelection.assets(dg.AssetKey(["ml", "predictions"])).upstream().resolve(defs.resolve_asset_graph()),
                  key=lambda k: k.to_user_string())  # fmt: skip


def backfill(env: dict[str, str], log: Path, sessions: list[str]) -> tuple[float, str]:
    """Launch the backfill as the UI does and wait for its last run: (seconds, backfill id)."""
    from dagster._core.execution.backfill import BulkActionStatus

    with LiveWebserverDaemon(env, log, start_daemon=False) as live:
        for sensor in SENSORS_OFF:
            live.set_sensor(sensor, running=False)
        live.start_daemon()
        live.wait_for_daemon(("BACKFILL", "QUEUED_RUN_COORDINATOR"))
        t0 = time.perf_counter()
        backfill_id = live.launch_backfill(backfill_keys(), sessions)
        live.wait(lambda: live.instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED and not live.busy(),
                  3600, f"backfill {backfill_id}", every=0.5)  # fmt: skip
        wall = time.perf_counter() - t0
        status = live.instance.get_backfill(backfill_id).status
        assert status == BulkActionStatus.COMPLETED_SUCCESS, f"{status}\n{live.diagnosis()}"
    return wall, backfill_id


def make_home(root: Path, sessions: int, articles: int) -> tuple[Path, str, str]:
    """The demo home every case copies: files and ``finsig.env`` (the demo's window and range)."""
    home = root / "demo"
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(sessions), "--home-settings",
             "--articles-per-session", str(articles), "--seed", "17"], finsig_env(home))  # fmt: skip
    first, last = settings.home_settings(home)["FINSIG_DEMO_RANGE"].split("...")
    return home, first, last


def copy_home(demo: Path, home: Path) -> None:
    (home / "landing").mkdir(parents=True)
    for dataset in ("market", "news"):
        shutil.copytree(demo / "landing" / dataset, home / "landing" / dataset)
    shutil.copy(demo / "finsig.env", home / "finsig.env")


def run_case(name: str, n_workers: int, demo: Path, root: Path, first: str, last: str, prefix: str, fits_per_run: int) -> dict:
    from finsig_assets.trading_calendar import next_session, sessions_between

    home = root / name.replace(" ", "-")
    copy_home(demo, home)
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1", FINSIG_CELERY_BROKER=settings.celery_broker(),
                     FINSIG_CELERY_QUEUE_PREFIX=prefix, PYTHONWARNINGS="ignore")  # fmt: skip
    run_cli(["finsig_assets.cli", "init-instance"], env)
    queues = [f"{prefix}{q}" for q in QUEUES]
    workers = [CeleryWorker(f"gpu-a-{prefix.rstrip('-')}", queues, env, root / f"{home.name}-worker-a.log")]
    if n_workers > 1:
        workers.append(CeleryWorker(f"cpu-b-{prefix.rstrip('-')}", queues[:1], env, root / f"{home.name}-worker-b.log"))
    out: dict = {"case": name, "workers": n_workers}
    try:
        if n_workers:
            env = env | {"FINSIG_EXECUTOR": "celery", "FINSIG_MODEL_FITS_PARTITIONS_PER_RUN": str(fits_per_run)}
            t0 = time.perf_counter()
            start_workers(workers)
            out["workers_ready_s"] = round(time.perf_counter() - t0, 1)
            sessions = [d.isoformat() for d in sessions_between(first, last)]
            wall, backfill_id = backfill(env, root / f"{home.name}-live.log", sessions)
            out["wall_s"] = round(wall, 1)
        else:
            # Over what the backfill targets: its sessions' downstream partitions reach the session after them.
            reach = next_session(dt.date.fromisoformat(last)).isoformat()
            command = ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", SELECTION,
                       "--partition-range", f"{first}...{reach}"]  # fmt: skip
            t0 = time.perf_counter()
            run_cli(command, env, timeout=3600)
            out["wall_s"] = round(time.perf_counter() - t0, 1)
    finally:
        if n_workers:
            stop_workers(workers)
            delete_queues(settings.celery_broker(), queues)
    instance = open_instance(home / "dagster")
    runs = list(reversed(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}) if n_workers else None)))
    assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
    out["runs"] = len(runs)
    out["steps"] = []
    for run in runs:
        span = f"{run.tags.get('dagster/asset_partition_range_start')}..{run.tags.get('dagster/asset_partition_range_end')}"
        placement = step_placement(instance, run.run_id)
        started, ended = _step_times(instance, run.run_id)
        out["steps"] += [
            {"run": run.run_id[:8], "span": span, "step": p.step_key, "worker": p.worker_name if n_workers else "run process",
             "queue": p.queue, "seconds": p.seconds, "wait_s": p.submitted_to_start,
             "start": started.get(p.step_key), "end": ended.get(p.step_key)}
            for p in placement.values()
        ]  # fmt: skip
    fits = [s for s in out["steps"] if s["step"] == FITS_STEP]
    if fits:
        span = max(s["end"] for s in fits) - min(s["start"] for s in fits)
        out["fits"] = {"runs": len(fits), "step_seconds_sum": round(sum(s["seconds"] for s in fits), 1),
                       "span_s": round(span, 1), "parallelism": round(sum(s["seconds"] for s in fits) / span, 2) if span else None,
                       "workers": sorted({s["worker"] for s in fits})}  # fmt: skip
    busy = sorted((s["start"], s["end"]) for s in out["steps"])
    out["steps_busy_s"] = round(_union(busy), 1)  # time with at least one step running
    out["home"] = str(home)
    return out


def _step_times(instance, run_id: str) -> tuple[dict, dict]:
    started, ended = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ended[event.step_key] = record.timestamp
    return started, ended


def _union(intervals: list[tuple[float, float]]) -> float:
    total, current = 0.0, None
    for start, end in intervals:
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    return total + (current[1] - current[0] if current else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--articles-per-session", type=int, default=30)
    parser.add_argument("--fits-per-run", type=int, default=5, help="FINSIG_MODEL_FITS_PARTITIONS_PER_RUN of the celery cases")
    parser.add_argument("--no-local", action="store_true", help="skip the local (in-process) baseline")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args(argv)
    broker = settings.celery_broker()
    if (why := broker_reachable(broker)) is not None:
        raise SystemExit(f"no Celery broker at {broker} ({why}); set FINSIG_CELERY_BROKER")

    root = Path(tempfile.mkdtemp(prefix="finsig-distributed-"))
    prefix = queue_prefix("bench")
    demo, first, last = make_home(root, args.sessions, args.articles_per_session)
    figures: dict = {"sessions": args.sessions, "range": f"{first}...{last}", "articles_per_session": args.articles_per_session,
                     "window_sessions": settings.home_settings(demo).get("FINSIG_MODEL_WINDOW_SESSIONS"),
                     "fits_per_run": args.fits_per_run, "cases": []}  # fmt: skip
    cases = [("celery x1", 1), ("celery x2", 2)] + ([] if args.no_local else [("local", 0)])
    for name, n in cases:
        result = run_case(name, n, demo, root, first, last, prefix, args.fits_per_run)
        figures["cases"].append(result)
        print(f"{name:<10} {result['wall_s']:7.1f} s wall", flush=True)

    by_name = {c["case"]: c for c in figures["cases"]}
    one, two = by_name["celery x1"]["wall_s"], by_name["celery x2"]["wall_s"]
    figures["speedup_2_over_1_worker"] = round(one / two, 2)
    if "local" in by_name:
        figures["speedup_2_workers_over_local"] = round(by_name["local"]["wall_s"] / two, 2)
    problems = []
    reference = Path(figures["cases"][0]["home"]) / "warehouse.duckdb"
    for case in figures["cases"][1:]:
        for table in COMPARED:
            a, b = digest(reference, table), digest(Path(case["home"]) / "warehouse.duckdb", table)
            if case["case"] == "local" and table == "ml.model_runs":
                b = without_first_model_partition(b)  # the CLI's range has it, the backfill's targets do not
            problems += [f"{case['case']}: {p}" for p in differences(a, b)]
    figures["same_models_and_predictions"] = not problems
    figures["problems"] = problems

    print(f"\n{args.sessions} sessions ({first}...{last}), {args.articles_per_session} articles/session, `{SELECTION}`")
    for case in figures["cases"]:
        ready = f"  (workers ready in {case['workers_ready_s']} s, not counted)" if case["workers"] else ""
        print(f"\n{case['case']}: {case['wall_s']} s wall, {case['runs']} run(s), a step running during {case['steps_busy_s']} s{ready}")
        for s in case["steps"]:
            print(f"  {s['run']} {s['span']:<23} {s['step']:<26} {s['worker']:<32} {s['queue'] or '-':<8} ran {s['seconds']:7.2f} s   "
                  f"waited {s['wait_s']:5.2f} s")
        if "fits" in case:
            f = case["fits"]
            print(f"  fits: {f['runs']} runs on {', '.join(f['workers'])}: {f['step_seconds_sum']} s of steps in {f['span_s']} s "
                  f"(parallelism {f['parallelism']})")
    print(f"\nspeed-up, 2 workers over 1: {figures['speedup_2_over_1_worker']}x"
          + (f"; over the local profile: {figures['speedup_2_workers_over_local']}x" if "local" in by_name else ""))
    print("same ml.model_runs and ml.predictions in every case" if not problems else "DIFFERENT:\n" + "\n".join(problems))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
