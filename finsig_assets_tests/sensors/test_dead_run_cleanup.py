"""``dead_run_cleanup`` stops a dead run's orphaned step processes, and nothing else."""

from __future__ import annotations

import subprocess
import time
import uuid

import dagster as dg
import psutil
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._core.events.log import EventLogEntry

from finsig_assets.instance_setup import open_instance, write_instance_config
from finsig_assets.run_worker_health import WORKER_TAG, RunWorker, process_namespace
from finsig_assets.sensors.dead_run_cleanup import dead_run_cleanup


@pytest.fixture
def instance(tmp_path):
    write_instance_config(tmp_path)
    with open_instance(tmp_path) as inst:
        yield inst


def failed_run_with_step_worker(instance: dg.DagsterInstance, worker: RunWorker, step_pid: int) -> dg.DagsterRun:
    run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=str(uuid.uuid4()),
                                         status=dg.DagsterRunStatus.STARTED, tags={WORKER_TAG: worker.to_tag()}))
    event = DagsterEvent(
        event_type_value=DagsterEventType.STEP_WORKER_STARTED.value,
        job_name=run.job_name,
        step_key="silver__market_bars",
        message='Executing step "silver__market_bars" in subprocess.',
        event_specific_data=EngineEventData(metadata={"pid": dg.MetadataValue.text(str(step_pid))}),
    )
    instance.handle_new_event(EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run.run_id,
                                            timestamp=time.time(), step_key="silver__market_bars", job_name=run.job_name,
                                            dagster_event=event))
    instance.report_run_failed(run)
    return instance.get_run_by_id(run.run_id)


def evaluate(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    failure = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)[-1].dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="dead_run_cleanup", dagster_instance=instance, dagster_run=run, dagster_event=failure
    ).for_run_failure()
    dead_run_cleanup(context)


def test_a_dead_workers_orphaned_step_process_is_stopped(instance):
    worker_proc = subprocess.Popen(["sleep", "60"])
    worker = RunWorker(process_namespace(), worker_proc.pid, psutil.Process(worker_proc.pid).create_time())
    worker_proc.kill()
    worker_proc.wait()
    orphan = subprocess.Popen(["sleep", "60"])
    try:
        run = failed_run_with_step_worker(instance, worker, orphan.pid)
        evaluate(instance, run)
        orphan.wait(timeout=10)  # a `sleep 60` that ends now was stopped (psutil reaps it: no exit code)
    finally:
        orphan.kill()


def test_the_step_processes_of_a_live_worker_are_left_alone(instance):
    step = subprocess.Popen(["sleep", "60"])
    try:
        run = failed_run_with_step_worker(instance, RunWorker.this_process(), step.pid)
        evaluate(instance, run)
        time.sleep(0.5)
        assert step.poll() is None
    finally:
        step.kill()
        step.wait()
