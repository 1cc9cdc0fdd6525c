"""Is a run's worker process still alive? Dagster's own launcher cannot say, so finsig does.

A run is STARTED until its worker process reports how it ended. When that process dies without a
word -- ``kill -9``, the kernel's OOM killer, a lost container -- the run stays STARTED for ever,
and with it the pool slot its running step claimed: every later run then waits on "Step blocked
by limit for pool duckdb_writer". Dagster's run monitoring exists for this, but it asks the run
launcher whether the worker is healthy, and ``DefaultRunLauncher`` (runs as processes of the
code location, as under ``dagster dev`` and in docker/compose.yaml) does not support the
question, so monitoring never fails such a run. Runs started by ``dagster asset materialize``
have no launcher at all.

So every finsig run records its worker process in the run tag ``finsig/run_worker``
(:mod:`finsig_assets.run_worker_executor` does it first thing): the pid, the process's start
time (a reused pid has another) and the PID namespace (a pid means something only inside the
namespace, and boot, that recorded it). From that:

- :class:`MonitoredRunLauncher` is ``DefaultRunLauncher`` plus ``check_run_worker_health``, so
  Dagster's run monitoring fails a run whose worker is gone, and ``free_slots_after_run_end_seconds``
  then hands its pool slots back (both set by ``finsig init-instance`` and docker/dagster.yaml);
- :func:`fail_dead_runs` does the same at the start of every run, so a ``dagster asset
  materialize`` after a crash proceeds without a daemon.

A worker recorded in another PID namespace cannot be judged from here: it counts as alive (never
fail a run that may be running). In docker/compose.yaml the daemon shares the code location's
PID namespace (``pid: service:codeserver``), where the runs' processes live.

When the worker is gone, the step processes it had started may live on, orphaned (the
multiprocess executor's children are not killed with their parent, and hang once their step
ends). They are stopped with the run: a failed run's orphan must not go on writing the warehouse
under the run that re-executes it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Literal

import dagster as dg
import psutil
from dagster._core.events import DagsterEventType
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus

WORKER_TAG = "finsig/run_worker"
# A step worker's STEP_WORKER_STARTED event follows the process's start within this long.
STEP_WORKER_START_SECONDS = 120.0
# psutil's start times are kernel ticks (10 ms); a reused pid starts later than that.
START_TIME_TOLERANCE_SECONDS = 0.5

log = logging.getLogger(__name__)


def process_namespace() -> str:
    """Where a pid is meaningful: this boot and (on Linux) this PID namespace."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # no /proc (macOS): one namespace per host
        namespace = socket.gethostname()
    return f"{int(psutil.boot_time())}/{namespace}"


WorkerState = Literal["alive", "dead", "elsewhere"]


@dataclass(frozen=True)
class RunWorker:
    """One process, named so that it cannot be confused with a later one of the same pid."""

    namespace: str
    pid: int
    started: float

    @classmethod
    def this_process(cls) -> RunWorker:
        return cls(process_namespace(), os.getpid(), psutil.Process().create_time())

    def to_tag(self) -> str:
        return json.dumps({"namespace": self.namespace, "pid": self.pid, "started": self.started})

    @classmethod
    def from_run(cls, run: dg.DagsterRun) -> RunWorker | None:
        text = run.tags.get(WORKER_TAG)
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(str(data["namespace"]), int(data["pid"]), float(data["started"]))
        except (ValueError, KeyError, TypeError):
            return None

    def state(self) -> WorkerState:
        if self.namespace != process_namespace():
            return "elsewhere"
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return "dead"
            started = process.create_time()
        except psutil.NoSuchProcess:
            return "dead"
        return "alive" if abs(started - self.started) <= START_TIME_TOLERANCE_SECONDS else "dead"

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} (started {when}, namespace {self.namespace})"


def record_this_worker(instance: dg.DagsterInstance, run_id: str) -> RunWorker:
    worker = RunWorker.this_process()
    instance.add_run_tags(run_id, {WORKER_TAG: worker.to_tag()})
    return worker


def worker_health(run: dg.DagsterRun) -> CheckRunHealthResult:
    """RUNNING unless the run's recorded worker process is provably gone (then FAILED)."""
    worker = RunWorker.from_run(run)
    if worker is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"no {WORKER_TAG} tag: the worker cannot be checked")
    state = worker.state()
    if state == "dead":
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker process, {worker.describe()}, is gone without reporting how the run ended "
            "(killed, out of memory, or its container stopped); re-execute the run from failure",
            run_worker_id=str(worker.pid),
        )
    if state == "elsewhere":
        return CheckRunHealthResult(
            WorkerStatus.RUNNING,
            f"the run's worker, {worker.describe()}, is in another PID namespace than {process_namespace()}: not checked here",
            run_worker_id=str(worker.pid),
        )
    return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker.pid))


def orphaned_step_workers(instance: dg.DagsterInstance, run_id: str) -> list[psutil.Process]:
    """The step processes of ``run_id`` that outlived its worker (only in this PID namespace)."""
    found = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_WORKER_STARTED):
        metadata = getattr(record.get_dagster_event().event_specific_data, "metadata", None) or {}
        pid_value = metadata.get("pid")
        raw_pid = getattr(pid_value, "value", pid_value)
        if raw_pid is None:
            continue
        try:
            pid = int(raw_pid)
            process = psutil.Process(pid)
            started = process.create_time()
        except (TypeError, ValueError, psutil.NoSuchProcess):
            continue
        # The same process if it started shortly before its STEP_WORKER_STARTED event.
        if record.timestamp - STEP_WORKER_START_SECONDS <= started <= record.timestamp + START_TIME_TOLERANCE_SECONDS:
            found.append(process)
    return found


def stop_orphaned_step_workers(instance: dg.DagsterInstance, run_id: str) -> list[int]:
    processes = orphaned_step_workers(instance, run_id)
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)
    return [p.pid for p in processes]


def fail_run_with_dead_worker(instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str) -> None:
    """Fail the run, stop what is left of it and hand back its pool slots at once."""
    current = instance.get_run_by_id(run.run_id)
    if current is None or current.status != dg.DagsterRunStatus.STARTED:
        return  # it ended meanwhile, or another process failed it first
    stopped = stop_orphaned_step_workers(instance, run.run_id)
    if stopped:
        reason += f"; stopped its orphaned step processes {stopped}"
    instance.report_run_failed(current, reason)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def fail_dead_runs(instance: dg.DagsterInstance, *, except_run_id: str | None = None) -> list[str]:
    """Fail every STARTED run whose worker is provably gone; returns their ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if run.run_id == except_run_id:
            continue
        health = worker_health(run)
        if health.status == WorkerStatus.FAILED:
            fail_run_with_dead_worker(instance, run, health.msg or "run worker gone")
            log.warning("failed run %s: %s", run.run_id, health.msg)
            failed.append(run.run_id)
    return failed


class MonitoredRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose runs Dagster's run monitoring can check (and fail when dead)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        health = worker_health(run)
        if health.status == WorkerStatus.FAILED and self.has_instance:
            # Monitoring fails the run next; its orphans must not outlive it.
            stop_orphaned_step_workers(self._instance, run.run_id)
        return health

    def get_run_worker_debug_info(self, run: dg.DagsterRun, include_container_logs: bool | None = True) -> str | None:
        worker = RunWorker.from_run(run)
        return f"finsig run worker: {worker.describe()}" if worker else None
