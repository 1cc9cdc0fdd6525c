"""Steps on two Celery workers (``FINSIG_EXECUTOR=celery``, RabbitMQ) give the rows of the local profile.

A 10-session demo home; two workers of ``finsig_assets.celery_workers`` over the RabbitMQ of
``FINSIG_TEST_CELERY_BROKER`` (default guest@127.0.0.1:5672), each in its own process group: worker A serves
the queues ``dagster`` and ``gpu``, worker B only ``dagster``. Then the user's command with the
celery profile::

    FINSIG_EXECUTOR=celery dagster asset materialize -m finsig_assets.definitions \\
        --select '*ml/predictions' --partition-range FIRST...LAST

The run's event log says where each step ran: dagster-celery's worker-side engine event
"Executing steps <step> in celery worker" names the worker (metadata ``Celery worker``), and each
step's STEP_START comes from a pool process of that worker, never from the run's own process.
Steps must have run on both workers, and ``silver/news_sentiment`` (op tag
``dagster-celery/queue: gpu``) on A, the only worker of the ``gpu`` queue.

A second home with the same files and settings runs the same command with the default local
profile (every step in the run's process), at the same time as the celery run (two cores: the
celery run mostly waits on one step at a time). Every table then holds the same rows -- count,
checksum and every value, the columns that say when or by which run a row was written left out
-- and ``ml.model_runs``' metrics (``metrics_json`` less its timings) are the same too. Every
trained model is promoted, so that ``ml.predictions`` has rows to compare.

The queue names carry a prefix of this test's own (``FINSIG_CELERY_QUEUE_PREFIX``), so that
parallel tests and CI jobs sharing the broker do not take each other's steps; the workers are
stopped and the queues deleted at the end (and that is checked). Skipped when no broker answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from finsig_assets import settings
from finsig_assets.instance_setup import open_instance
from finsig_assets.run_worker_health import WORKER_TAG, RunWorker
from finsig_assets.trading_calendar import sessions_between
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
from finsig_assets_tests.integration.live_dagster import REPO_ROOT, finsig_env, run_cli, stop_process_group, twin_home
from finsig_assets_tests.integration.warehouse_compare import TABLES, differences, digest, json_differences, model_metrics

pytestmark = pytest.mark.integration

# The tests' environment has no FINSIG_* variables (conftest.py); FINSIG_TEST_CELERY_BROKER names another broker.
BROKER = os.environ.get("FINSIG_TEST_CELERY_BROKER") or "pyamqp://guest:guest@127.0.0.1:5672//"
SESSIONS = 10
SENTIMENT_STEP = "silver__news_sentiment"
# Every trained version is promoted (ml.predictions gets rows); the smallest training the other tests use.
# ml/model_fits gets the same configuration, so that ml/direction_model registers its fits.
MODEL_CONFIG = {
    "promotion_level": 1.0, "require_log_loss_beats_majority": False, "champion_level": 0.0, "min_test_sessions": 1,
    "n_folds": 2, "max_trees": 30, "nthread": 1,
}  # fmt: skip
RUN_CONFIG = {"ops": {"ml__model_fits": {"config": MODEL_CONFIG}, "ml__direction_model": {"config": MODEL_CONFIG}}}


def materialize_command(first: str, last: str) -> list[str]:
    return ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*ml/predictions",
            "--partition-range", f"{first}...{last}", "--config-json", json.dumps(RUN_CONFIG)]  # fmt: skip


def test_steps_run_on_two_celery_workers_with_the_gpu_queue_and_give_the_local_profiles_rows(tmp_path):
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
    # An 8-session window (as test_ducklake_profile.py): from the demo's 5th session on, models train; the later ones
    # validate on enough sessions for the promotion test, hence are promoted and predict the sessions after them.
    settings.write_home_settings({"FINSIG_MODEL_WINDOW_SESSIONS": "8", "FINSIG_MODEL_MIN_SESSIONS": "4"}, celery_home)
    first, last = twin_home(celery_home, local_home)
    assert len(sessions_between(first, last)) == SESSIONS
    for home_env in (env, local_env):
        run_cli(["finsig_assets.cli", "init-instance"], home_env)
    timings["setup"] = time.perf_counter() - started

    # The local profile's run, beside the celery run (its own home: nothing shared).
    local_log = open(tmp_path / "local-run.log", "w")
    t_local = time.perf_counter()
    local_run = subprocess.Popen([sys.executable, "-m", *materialize_command(first, last)], env=local_env, cwd=REPO_ROOT,
                                 stdout=local_log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    worker_a = CeleryWorker(f"gpu-a-{prefix.rstrip('-')}", queues, env, tmp_path / "worker-a.log")
    worker_b = CeleryWorker(f"cpu-b-{prefix.rstrip('-')}", queues[:1], env, tmp_path / "worker-b.log")
    workers = [worker_a, worker_b]
    celery_ok = False
    try:
        t0 = time.perf_counter()
        start_workers(workers)
        timings["workers_ready"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            run_cli(materialize_command(first, last), env | {"FINSIG_EXECUTOR": "celery"}, timeout=600)
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n" + "\n".join(f"worker {w.name}:\n{w.log_tail()}" for w in workers)) from None
        timings["celery_run"] = time.perf_counter() - t0
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
    assert existed == queues, f"the run and its workers should have used the queues {queues}, found {existed}"
    assert not any(queue_exists(broker, q) for q in queues), "a queue of the test was left on the broker"

    # Where each step ran, from the run's event log.
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
    counts = {t: digest(local_home / "warehouse.duckdb", t).rows for t in ("ml.model_runs", "ml.predictions")}
    assert all(counts.values()) and celery_metrics, f"the comparison must cover models, metrics and predictions: {counts}"
