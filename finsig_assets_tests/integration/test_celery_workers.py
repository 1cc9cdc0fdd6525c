"""Two Celery workers (``FINSIG_EXECUTOR=celery``, RabbitMQ) give the rows of the local profile: a whole-graph run, then a model backfill.

One 10-session demo home for the celery profile and a second home with the same files and settings for the
default local profile (every step in the run's process); two workers of ``finsig_assets.celery_workers`` over
the RabbitMQ of ``FINSIG_TEST_CELERY_BROKER`` (default guest@127.0.0.1:5672), each in its own process group:
worker A serves the queues ``dagster`` and ``gpu``, worker B only ``dagster``. An 8-session model window:
from the demo's 5th session on, models train. The range is the demo's sessions and the one after them (the
models trained on the last session serve it). The homes and the workers serve both parts, one after the other:

1. The user's command with the celery profile::

       FINSIG_EXECUTOR=celery dagster asset materialize -m finsig_assets.definitions \\
           --select '*ml/predictions' --partition-range FIRST...NEXT

   every trained model promoted (so that ``ml.predictions`` has rows to compare). The run's event log says
   where each step ran: dagster-celery's worker-side engine event "Executing steps <step> in celery worker"
   names the worker (metadata ``Celery worker``), and each step's STEP_START comes from a pool process of
   that worker, never from the run's own process. Steps must have run on both workers, and
   ``silver/news_sentiment`` (op tag ``dagster-celery/queue: gpu``) on A, the only worker of the ``gpu`` queue.

2. A backfill of ``ml/model_fits``, ``ml/direction_model`` and ``ml/predictions`` over the same sessions with
   the default training configuration, launched as the UI's Materialize dialog launches it
   (``launchPartitionBackfill``) through ``dagster-webserver`` and ``dagster-daemon`` over the celery home,
   with ``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN=3`` (the landing sensor and the automation switched off
   first: only the backfill's runs). From its runs' event logs: ``ml/model_fits`` ran as one run per 3
   sessions, whose steps ran on both workers; ``ml/direction_model`` registered, for every model it trained,
   the fit one of those runs made (its ``fitted_by`` metadata), oldest first -- in one run, or in several
   when the fits finished on different daemon evaluations, each waiting for the earlier ones: the version
   numbers rise with the sessions. Every STEP_START came from a pool process of the worker its event names.
   (The backfill daemon evaluates every 5 s here instead of 30 s: ``fast_backfill_daemon``.)

In each part the local home runs the same thing with the local profile (one CLI run), at the same time as
the celery run (two cores: the celery run mostly waits on one step at a time), and then every table holds
the same rows in both homes -- count, checksum and every value, the columns that say when or by which run
a row was written left out -- and ``ml.model_runs``' metrics (``metrics_json`` less its timings) are the
same too.

The queue names carry a prefix of this test's own (``FINSIG_CELERY_QUEUE_PREFIX``), so that parallel tests
and CI jobs sharing the broker do not take each other's steps; the workers are stopped and the queues
deleted at the end (and that is checked). Skipped when no broker answers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import time

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from finsig_assets import settings
from finsig_assets.instance_setup import open_instance
from finsig_assets.run_worker_health import WORKER_TAG, RunWorker
from finsig_assets.trading_calendar import next_session, sessions_between
from finsig_assets_tests.integration.celery_cluster import (
    QUEUES,
    CeleryWorker,
    broker_reachable,
    delete_queues,
    queue_exists,
    queue_prefix,
    start_workers,
    step_placement,
    stop_workers,
)
from finsig_assets_tests.integration.live_dagster import (
    BackgroundCli,
    LiveWebserverDaemon,
    fast_backfill_daemon,
    finsig_env,
    run_cli,
    twin_home,
)
from finsig_assets_tests.integration.warehouse_compare import TABLES, differences, digest, json_differences, model_metrics

pytestmark = pytest.mark.integration

# The tests' environment has no FINSIG_* variables (conftest.py); FINSIG_TEST_CELERY_BROKER names another broker.
BROKER = os.environ.get("FINSIG_TEST_CELERY_BROKER") or "pyamqp://guest:guest@127.0.0.1:5672//"
SESSIONS = 10
SENTIMENT_STEP = "silver__news_sentiment"
PREDICTIONS_STEP = "ml__predictions"
FITS_STEP = "ml__model_fits"
MODEL_STEP = "ml__direction_model"
FITS_PER_RUN = 3
MODEL = dg.AssetKey(["ml", "direction_model"])
BACKFILLED = [dg.AssetKey(["ml", "model_fits"]), MODEL, dg.AssetKey(["ml", "predictions"])]
# Part 1: every trained version is promoted (ml.predictions gets rows); the smallest training the other tests use.
# ml/model_fits gets the same configuration, so that ml/direction_model registers its fits.
MODEL_CONFIG = {
    "promotion_level": 1.0, "require_log_loss_beats_majority": False, "champion_level": 0.0, "min_test_sessions": 1,
    "n_folds": 2, "max_trees": 30, "nthread": 1,
}  # fmt: skip
RUN_CONFIG = {"ops": {"ml__model_fits": {"config": MODEL_CONFIG}, "ml__direction_model": {"config": MODEL_CONFIG}}}


def materialize_command(first: str, last: str, select: str, run_config: dict | None = None) -> list[str]:
    config = ["--config-json", json.dumps(run_config)] if run_config else []
    return ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", select,
            "--partition-range", f"{first}...{last}", *config]  # fmt: skip


def compare_homes(celery_home, local_home) -> tuple[list[str], list[str], dict]:
    """Every table and ``ml.model_runs``' metrics of the two homes: (problems, report lines, celery metrics)."""
    problems, lines = [], []
    for table in TABLES:
        a, b = digest(celery_home / "warehouse.duckdb", table), digest(local_home / "warehouse.duckdb", table)
        lines.append(f"{table:<24} {a.rows:>7,} rows  celery {a.checksum}  local {b.checksum}")
        problems += differences(a, b)
    celery_metrics, local_metrics = model_metrics(celery_home), model_metrics(local_home)
    problems += json_differences(celery_metrics, local_metrics, "ml.model_runs.metrics_json")
    print("\n".join(lines))
    return problems, lines, celery_metrics


def test_two_celery_workers_run_the_graph_and_a_model_backfill_and_give_the_local_profiles_rows(tmp_path):
    broker = BROKER
    if (why := broker_reachable(broker)) is not None:
        pytest.skip(f"no Celery broker at {broker} (FINSIG_TEST_CELERY_BROKER): {why}")
    started = time.perf_counter()
    timings = {}
    prefix = queue_prefix()
    queues = [f"{prefix}{q}" for q in QUEUES]
    celery_home, local_home = tmp_path / "celery", tmp_path / "local"
    env = finsig_env(celery_home, FINSIG_LANDING_SETTLE_SECONDS="1", FINSIG_CELERY_BROKER=broker, FINSIG_CELERY_QUEUE_PREFIX=prefix)
    local_env = finsig_env(local_home, FINSIG_LANDING_SETTLE_SECONDS="1")
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(SESSIONS), "--home-settings",
             "--articles-per-session", "4", "--seed", "13"], env)  # fmt: skip
    # An 8-session window (as test_ducklake_profile.py): from the demo's 5th session on, models train; in part 1
    # the later ones validate on enough sessions for the promotion test, hence are promoted and predict the sessions after them.
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "8", "FINSIG_MODEL_MIN_SESSIONS": "4"}, celery_home)
    first, last = twin_home(celery_home, local_home)
    assert len(sessions_between(first, last)) == SESSIONS
    # Through the session after the last: the models trained on the last one serve it.
    reach = next_session(dt.date.fromisoformat(last)).isoformat()
    sessions = [d.isoformat() for d in sessions_between(first, reach)]
    for home_env in (env, local_env):
        run_cli(["finsig_assets.cli", "init-instance"], home_env)
    # The workers, the daemon and the code servers of part 2 read the same settings: the celery profile, and
    # ml/model_fits backfilled in runs of FITS_PER_RUN sessions. (Not the CLI run of part 1: a range run needs
    # single-run backfill policies, and it is one run whatever the policy.)
    cluster_env = env | {"FINSIG_EXECUTOR": "celery", "FINSIG_MODEL_FITS_PARTITIONS_PER_RUN": str(FITS_PER_RUN)}
    timings["setup"] = time.perf_counter() - started

    worker_a = CeleryWorker(f"gpu-a-{prefix.rstrip('-')}", queues, cluster_env, tmp_path / "worker-a.log")
    worker_b = CeleryWorker(f"cpu-b-{prefix.rstrip('-')}", queues[:1], cluster_env, tmp_path / "worker-b.log")
    workers = [worker_a, worker_b]

    def with_worker_logs(failed: AssertionError) -> AssertionError:
        return AssertionError(f"{failed}\n" + "\n".join(f"worker {w.name}:\n{w.log_tail()}" for w in workers))

    with contextlib.ExitStack() as stack:  # the local runs: stopped on exit, whatever happened
        try:
            t0 = time.perf_counter()
            start_workers(workers)
            timings["workers_ready"] = time.perf_counter() - t0

            # 1. Every layer on the workers, and the local profile's run beside it (its own home: nothing shared).
            local_run = stack.enter_context(BackgroundCli(
                materialize_command(first, reach, "*ml/predictions", RUN_CONFIG), local_env, tmp_path / "local-run.log"
            ))  # fmt: skip
            t0 = time.perf_counter()
            try:
                run_cli(materialize_command(first, reach, "*ml/predictions", RUN_CONFIG), env | {"FINSIG_EXECUTOR": "celery"})
            except AssertionError as failed:
                raise with_worker_logs(failed) from None
            timings["celery_run"] = time.perf_counter() - t0
            pools_1 = {worker_a.name: worker_a.pool_pids(), worker_b.name: worker_b.pool_pids()}
            timings["local_run_beside"] = local_run.finish()
            check_the_graph_run(celery_home, local_home, worker_a, worker_b, pools_1)

            # 2. The model's backfill on the workers, and the local profile's run of the same three assets beside it.
            local_run = stack.enter_context(BackgroundCli(
                materialize_command(first, reach, ",".join(k.to_user_string() for k in BACKFILLED)), local_env,
                tmp_path / "local-model-run.log",
            ))  # fmt: skip
            with LiveWebserverDaemon(fast_backfill_daemon(cluster_env), tmp_path / "live.log", start_daemon=False) as live:
                # Only the backfill's runs: the landing sensor would ingest the files, and the automation follow it.
                for sensor in ("landing_sensor", "default_automation_condition_sensor"):
                    live.set_sensor(sensor, running=False)
                live.start_daemon()
                live.wait_for_daemon(("BACKFILL", "QUEUED_RUN_COORDINATOR"))
                t0 = time.perf_counter()
                backfill_id = live.launch_backfill(BACKFILLED, sessions)

                def finished():
                    backfill = live.instance.get_backfill(backfill_id)
                    return backfill.status != BulkActionStatus.REQUESTED and not live.busy()

                try:
                    live.wait(finished, 900, f"backfill {backfill_id}", every=1.0)
                except AssertionError as failed:
                    raise with_worker_logs(failed) from None
                timings["celery_backfill"] = time.perf_counter() - t0
                status = live.instance.get_backfill(backfill_id).status
                assert status == BulkActionStatus.COMPLETED_SUCCESS, f"{status}\n{live.diagnosis()}"
                live.check_fast_backfill_daemon()
            pools_2 = {worker_a.name: worker_a.pool_pids(), worker_b.name: worker_b.pool_pids()}
            timings["local_model_run_beside"] = local_run.finish()
        finally:
            stop_workers(workers)
            existed = delete_queues(broker, queues)
    assert existed == queues, f"the runs and their workers should have used the queues {queues}, found {existed}"
    assert not any(queue_exists(broker, q) for q in queues), "a queue of the test was left on the broker"

    check_the_model_backfill(celery_home, local_home, backfill_id, sessions, worker_a, worker_b, pools_2)
    timings["total"] = time.perf_counter() - started
    print({k: round(v, 1) for k, v in timings.items()})


def check_the_graph_run(celery_home, local_home, worker_a: CeleryWorker, worker_b: CeleryWorker, pools: dict[str, set[int]]) -> None:
    """Part 1: where each step of the celery run ran, from its event log, and the same rows as the local run."""
    instance = open_instance(celery_home / "dagster")
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS
    orchestrator = RunWorker.from_run(run)
    assert orchestrator is not None, f"the run did not record its worker ({WORKER_TAG})"
    placement = step_placement(instance, run.run_id)
    report = "\n".join(f"  {p.step_key:<26} {p.worker:<40} queue {p.queue:<8} pid {p.pid:<7} {p.seconds:6.2f} s" for p in placement.values())
    print(f"steps of run {run.run_id[:8]}:\n{report}")
    assert len(placement) >= 10, report
    hosts = {p.worker for p in placement.values()}
    assert {h.split("@")[0] for h in hosts} == {worker_a.name, worker_b.name}, f"steps should run on both workers:\n{report}"
    assert placement[SENTIMENT_STEP].worker_name == worker_a.name and placement[SENTIMENT_STEP].queue == "gpu", report
    assert all(p.queue == "dagster" for k, p in placement.items() if k != SENTIMENT_STEP), report
    for p in placement.values():  # each STEP_START came from a pool process of the worker its event names
        assert p.pid != orchestrator.pid and p.pid in pools[p.worker_name], (p, pools)
    executing = [r.dagster_event.message for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                 if r.dagster_event.step_key == SENTIMENT_STEP]  # fmt: skip
    assert f"[CeleryExecutor] Executing steps {SENTIMENT_STEP} in celery worker" in executing, executing
    assert f'Submitting celery task for step "{SENTIMENT_STEP}" to queue "gpu".' in executing, executing
    instance.dispose()

    # The same rows as the local profile.
    local_instance = open_instance(local_home / "dagster")
    [local] = local_instance.get_runs()
    assert local.status == dg.DagsterRunStatus.SUCCESS
    local_instance.dispose()
    problems, lines, celery_metrics = compare_homes(celery_home, local_home)
    assert not problems, "\n".join(problems + lines)
    counts = {t: digest(local_home / "warehouse.duckdb", t).rows for t in ("ml.model_runs", "ml.predictions")}
    assert all(counts.values()) and celery_metrics, f"the comparison must cover models, metrics and predictions: {counts}"


def check_the_model_backfill(
    celery_home, local_home, backfill_id: str, sessions: list[str], worker_a: CeleryWorker, worker_b: CeleryWorker, pools: dict[str, set[int]]
) -> None:
    """Part 2: where each step of each of the backfill's runs ran, from the runs' event logs, and the same rows as the local run."""
    instance = open_instance(celery_home / "dagster")
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
    placements, lines = [], []
    for run in reversed(runs):  # oldest first
        orchestrator = RunWorker.from_run(run)
        assert orchestrator is not None, f"run {run.run_id} did not record its worker ({WORKER_TAG})"
        span = f"{run.tags.get('dagster/asset_partition_range_start')}..{run.tags.get('dagster/asset_partition_range_end')}"
        for p in step_placement(instance, run.run_id).values():
            placements.append((run, p))
            lines.append(f"  run {run.run_id[:8]} {span}  {p.step_key:<26} {p.worker:<40} queue {p.queue:<8} pid {p.pid:<7} {p.seconds:6.2f} s")
            assert p.pid != orchestrator.pid and p.pid in pools[p.worker_name], (p, pools)
    report = "\n".join(lines)
    print(f"steps of backfill {backfill_id}:\n{report}")
    by_step: dict[str, list] = {}
    for run, p in placements:
        by_step.setdefault(p.step_key, []).append((run, p))
    assert set(by_step) == {FITS_STEP, MODEL_STEP, PREDICTIONS_STEP}, report
    assert {p.worker_name for _, p in placements} == {worker_a.name, worker_b.name}, f"steps should run on both workers:\n{report}"
    assert all(p.queue == "dagster" for _, p in placements), report
    # The fits: one run per FITS_PER_RUN sessions, on both workers.
    fits = by_step[FITS_STEP]
    assert len(fits) == math.ceil(len(sessions) / FITS_PER_RUN), report
    assert {p.worker_name for _, p in fits} == {worker_a.name, worker_b.name}, f"the fits should spread over both workers:\n{report}"
    # The model: registered oldest first, in one run or -- when the fits finished on different daemon
    # evaluations -- in several, each waiting for the earlier ones (ml/registration_order.py).
    spans = sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r, _ in by_step[MODEL_STEP])
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans
    with duckdb.connect(str(celery_home / "warehouse.duckdb"), read_only=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT model_version FROM ml.model_runs WHERE model_version IS NOT NULL ORDER BY trade_date").fetchall()]
    assert versions and versions == sorted(versions) and len(set(versions)) == len(versions), versions
    # ml/direction_model registered the fits those runs made (it fitted nothing itself).
    fit_runs = {run.run_id for run, _ in fits}
    backfill_runs = {run.run_id for run in runs}
    materializations = [r for r in instance.fetch_materializations(MODEL, limit=1000).records if r.event_log_entry.run_id in backfill_runs]
    fitted_by = [
        str(r.asset_materialization.metadata["fitted_by"].value)
        for r in materializations
        if "fitted_by" in r.asset_materialization.metadata
    ]
    assert fitted_by and all(f.removeprefix("ml/model_fits, run ") in fit_runs for f in fitted_by), fitted_by
    instance.dispose()

    # The same rows as the local profile's run of the same three assets.
    local_instance = open_instance(local_home / "dagster")
    local = local_instance.get_runs(limit=1)[0]
    assert local.status == dg.DagsterRunStatus.SUCCESS and local.asset_selection == set(BACKFILLED), local
    local_instance.dispose()
    problems, lines, celery_metrics = compare_homes(celery_home, local_home)
    assert not problems, "\n".join(problems + lines)
    trained = digest(local_home / "warehouse.duckdb", "ml.model_runs").frame.filter(pl.col("status") == "trained").height
    assert trained >= 4 and len(fitted_by) == trained and celery_metrics, f"the comparison must cover trained models: {trained}"
