"""Run monitoring can tell a dead run worker from a live one, and Dagster then fails its run.

The kill of a real ``dagster asset materialize`` is in ``integration/test_crashed_run.py``; here
the pieces, against a real (SQLite) instance written by ``finsig init-instance``: the worker
identity, Dagster's own run-monitoring and slot-freeing iterations over finsig's launcher, and
what ``fail_dead_runs`` does at the start of a run.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from types import SimpleNamespace

import dagster as dg
import psutil
import pytest
from dagster._daemon.monitoring.concurrency import execute_concurrency_slots_iteration
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from finsig_assets.instance_setup import open_instance, write_instance_config
from finsig_assets.run_worker_health import WORKER_TAG, MonitoredRunLauncher, RunWorker, fail_dead_runs, process_namespace

POOL = "duckdb_writer"


def dead_worker() -> RunWorker:
    proc = subprocess.Popen(["sleep", "30"])
    worker = RunWorker(process_namespace(), proc.pid, psutil.Process(proc.pid).create_time())
    proc.kill()
    proc.wait()
    return worker


def test_a_worker_is_alive_until_its_process_ends_and_a_reused_pid_is_not_it():
    me = RunWorker.this_process()
    assert me.state() == "alive"
    assert RunWorker.from_run(dg.DagsterRun(job_name="j", tags={WORKER_TAG: me.to_tag()})) == me
    assert dead_worker().state() == "dead"
    # Same pid, started at another time: a later process that reused the pid.
    assert RunWorker(me.namespace, me.pid, me.started - 60).state() == "dead"
    # Recorded in another PID namespace: cannot be judged here, never called dead.
    assert RunWorker("0/other", me.pid, me.started).state() == "elsewhere"


@pytest.fixture
def instance(tmp_path):
    write_instance_config(tmp_path)
    with open_instance(tmp_path) as inst:
        yield inst


def started_run(instance: dg.DagsterInstance, worker: RunWorker | None, claim_slot: bool = True) -> dg.DagsterRun:
    run = instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.STARTED,
            tags={WORKER_TAG: worker.to_tag()} if worker else {},
        )
    )
    if claim_slot:
        # The pool takes the instance's default limit (1), as in a run.
        instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)
        claim = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, f"step_{run.run_id[:8]}")
        assert claim.is_claimed
    return run


def claimed_by(instance: dg.DagsterInstance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def test_the_instance_finsig_writes_monitors_runs_with_finsigs_launcher(instance):
    assert isinstance(instance.run_launcher, MonitoredRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    assert instance.run_monitoring_max_resume_run_attempts == 0


def test_dagsters_run_monitoring_fails_the_run_of_a_dead_worker_and_then_frees_its_slot(instance, monkeypatch):
    dead = started_run(instance, dead_worker())
    assert claimed_by(instance) == {dead.run_id}
    logger = logging.getLogger("test")
    # Dagster's own monitoring step, as the daemon runs it every poll interval.
    monitor_started_run(instance, None, instance.get_run_record_by_id(dead.run_id), logger)
    failed = instance.get_run_by_id(dead.run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure and "worker process" in failure[-1].message and "gone" in failure[-1].message

    # Dagster's slot-freeing step gives the slot back once the run has been over for the setting.
    context = SimpleNamespace(instance=instance)
    list(execute_concurrency_slots_iteration(context, logger))
    assert claimed_by(instance) == {dead.run_id}, "freed before free_slots_after_run_end_seconds"
    monkeypatch.setattr(type(instance), "run_monitoring_settings", property(lambda self: {"free_slots_after_run_end_seconds": 1}))
    time.sleep(2.1)
    list(execute_concurrency_slots_iteration(context, logger))
    assert claimed_by(instance) == set()


def test_run_monitoring_leaves_live_unknown_and_foreign_workers_running(instance):
    me = RunWorker.this_process()
    live = started_run(instance, me, claim_slot=False)
    untagged = started_run(instance, None, claim_slot=False)
    foreign = started_run(instance, RunWorker("0/another-namespace", 1, 0.0), claim_slot=False)
    logger = logging.getLogger("test")
    for run in (live, untagged, foreign):
        monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logger)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


def test_fail_dead_runs_fails_only_dead_workers_and_frees_their_slots_at_once(instance):
    dead = started_run(instance, dead_worker())
    me = started_run(instance, RunWorker.this_process(), claim_slot=False)
    assert fail_dead_runs(instance, except_run_id=me.run_id) == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(me.run_id).status == dg.DagsterRunStatus.STARTED
    assert claimed_by(instance) == set()
    # Failing twice (two runs starting at once) reports the failure once.
    assert fail_dead_runs(instance) == []
    assert len(instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)) == 1
