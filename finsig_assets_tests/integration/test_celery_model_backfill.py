"""A model backfill on two Celery workers spreads ``ml/model_fits`` over both and gives the local profile's rows.

A 10-session demo home, its layers up to ``gold/training_examples`` materialized by one local CLI run
over the demo's sessions and the one after them; two workers of ``finsig_assets.celery_workers`` over
the RabbitMQ of ``FINSIG_TEST_CELERY_BROKER`` (default guest@127.0.0.1:5672), each in its own process
group (A serves ``dagster`` and ``gpu``, B ``dagster``); ``dagster-webserver`` and ``dagster-daemon``
over the home with the celery profile and ``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN=3`` (the landing
sensor and the automation switched off first: only the backfill's runs). Then a backfill of
``ml/model_fits``, ``ml/direction_model`` and ``ml/predictions`` over those 11 sessions, launched as
the UI's Materialize dialog launches it (``launchPartitionBackfill``). (The layers below are left to a
local run because each stage of a backfill waits for the daemon's next evaluation, 30 s apart;
``test_celery_workers.py`` runs every layer on the workers.)

From the runs' event logs: ``ml/model_fits`` ran as one run per 3 sessions, whose steps ran on both
workers; ``ml/direction_model`` registered, for every model it trained, the fit one of those runs made (its
``fitted_by`` metadata), oldest first -- in one run, or in several when the fits finished on different
daemon evaluations (seen in CI), each waiting for the earlier ones: the version numbers rise with the
sessions. Every STEP_START came from a pool process of the
worker its event names.

A second home with the same files and settings runs the user's command with the local profile
(``dagster asset materialize --select '*ml/predictions'``, every step in the run's process) over the
same sessions, at the same time. Every table then holds the same rows -- count, checksum and every
value, the columns that say when or by which run a row was written left out -- and ``ml.model_runs``'
metrics are the same too. (Under the default promotion rules no model of an 8-session window is
promoted, so ``ml.predictions`` is empty in both; ``test_celery_workers.py`` compares predictions.)

The queue names carry a prefix of this test's own; the workers are stopped and the queues deleted
at the end (and that is checked). Skipped when no broker answers.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
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
    REPO_ROOT,
    LiveWebserverDaemon,
    finsig_env,
    run_cli,
    stop_process_group,
    twin_home,
)
from finsig_assets_tests.integration.warehouse_compare import (
    TABLES,
    differences,
    digest,
    json_differences,
    model_metrics,
)

pytestmark = pytest.mark.integration

BROKER = os.environ.get("FINSIG_TEST_CELERY_BROKER") or "pyamqp://guest:guest@127.0.0.1:5672//"
SESSIONS = 10
PREDICTIONS_STEP = "ml__predictions"
FITS_STEP = "ml__model_fits"
MODEL_STEP = "ml__direction_model"
FITS_PER_RUN = 3
MODEL = dg.AssetKey(["ml", "direction_model"])
PREDICTIONS = dg.AssetKey(["ml", "predictions"])


BACKFILLED = [dg.AssetKey(["ml", "model_fits"]), MODEL, PREDICTIONS]


def materialize_command(first: str, last: str, select: str = "*ml/predictions") -> list[str]:
    return ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", select,
            "--partition-range", f"{first}...{last}"]  # fmt: skip


def test_a_model_backfill_spreads_its_fits_over_two_celery_workers_and_gives_the_local_profiles_rows(tmp_path):
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
    # An 8-session window (as test_ducklake_profile.py): from the demo's 5th session on, models train.
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "8", "FINSIG_MODEL_MIN_SESSIONS": "4"}, celery_home)
    first, last = twin_home(celery_home, local_home)
    assert len(sessions_between(first, last)) == SESSIONS
    # Through the session after the last: the models trained on the last one serve it.
    reach = next_session(dt.date.fromisoformat(last)).isoformat()
    sessions = [d.isoformat() for d in sessions_between(first, reach)]
    for home_env in (env, local_env):
        run_cli(["finsig_assets.cli", "init-instance"], home_env)
    # The layers up to gold/training_examples in one local run first: the backfill below is the model's
    # (test_celery_workers.py runs every layer on the workers). Each stage of a backfill waits for the
    # daemon's next evaluation, 30 s apart.
    run_cli(materialize_command(first, reach, "*gold/training_examples"), env)
    # The celery profile, and ml/model_fits backfilled in runs of FITS_PER_RUN sessions (the daemon, the
    # workers and the code servers read the same settings).
    env |= {"FINSIG_EXECUTOR": "celery", "FINSIG_MODEL_FITS_PARTITIONS_PER_RUN": str(FITS_PER_RUN)}
    timings["setup"] = time.perf_counter() - started

    # The local profile's run, beside the celery backfill (its own home: nothing shared): one CLI run.
    local_log = open(tmp_path / "local-run.log", "w")
    t_local = time.perf_counter()
    local_run = subprocess.Popen([sys.executable, "-m", *materialize_command(first, reach)], env=local_env, cwd=REPO_ROOT,
                                 stdout=local_log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    worker_a = CeleryWorker(f"gpu-a-{prefix.rstrip('-')}", queues, env, tmp_path / "worker-a.log")
    worker_b = CeleryWorker(f"cpu-b-{prefix.rstrip('-')}", queues[:1], env, tmp_path / "worker-b.log")
    workers = [worker_a, worker_b]
    celery_ok = False
    try:
        t0 = time.perf_counter()
        start_workers(workers)
        timings["workers_ready"] = time.perf_counter() - t0
        with LiveWebserverDaemon(env, tmp_path / "live.log", start_daemon=False) as live:
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
                raise AssertionError(f"{failed}\n" + "\n".join(f"worker {w.name}:\n{w.log_tail()}" for w in workers)) from None
            timings["celery_backfill"] = time.perf_counter() - t0
            status = live.instance.get_backfill(backfill_id).status
            assert status == BulkActionStatus.COMPLETED_SUCCESS, f"{status}\n{live.diagnosis()}"
        pools = {worker_a.name: worker_a.pool_pids(), worker_b.name: worker_b.pool_pids()}
        celery_ok = True
    finally:
        stop_workers(workers)
        existed = delete_queues(broker, queues)
        try:
            local_run.wait(timeout=600 if celery_ok else 0.1)
        except subprocess.TimeoutExpired:
            if celery_ok:
                raise
        finally:
            stop_process_group(local_run)  # whatever is left of it (nothing, when it ended)
            local_log.close()
    timings["local_run_beside"] = time.perf_counter() - t_local
    assert local_run.returncode == 0, (tmp_path / "local-run.log").read_text()[-6000:]
    assert existed == queues, f"the runs and their workers should have used the queues {queues}, found {existed}"
    assert not any(queue_exists(broker, q) for q in queues), "a queue of the test was left on the broker"

    # Where each step of each of the backfill's runs ran, from the runs' event logs.
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
    # The fits: one run per FITS_PER_RUN sessions, on both workers; the model: one run, oldest first.
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
    materializations = instance.fetch_materializations(MODEL, limit=1000).records
    fitted_by = [
        str(r.asset_materialization.metadata["fitted_by"].value)
        for r in materializations
        if "fitted_by" in r.asset_materialization.metadata
    ]
    assert fitted_by and all(f.removeprefix("ml/model_fits, run ") in fit_runs for f in fitted_by), fitted_by

    # The same rows as the local profile.
    [local] = open_instance(local_home / "dagster").get_runs()
    assert local.status == dg.DagsterRunStatus.SUCCESS
    problems, lines = [], []
    for table in TABLES:
        a, b = digest(celery_home / "warehouse.duckdb", table), digest(local_home / "warehouse.duckdb", table)
        lines.append(f"{table:<24} {a.rows:>7,} rows  celery {a.checksum}  local {b.checksum}")
        problems += differences(a, b)
    celery_metrics, local_metrics = model_metrics(celery_home), model_metrics(local_home)
    problems += json_differences(celery_metrics, local_metrics, "ml.model_runs.metrics_json")
    print("\n".join(lines))
    timings["total"] = time.perf_counter() - started
    print({k: round(v, 1) for k, v in timings.items()})
    assert not problems, "\n".join(problems + lines)
    trained = digest(local_home / "warehouse.duckdb", "ml.model_runs").frame.filter(pl.col("status") == "trained").height
    assert trained >= 4 and len(fitted_by) == trained and celery_metrics, f"the comparison must cover trained models: {trained}"
