"""``dead_run_cleanup``: stops the step processes that a run's dead worker left behind.

When a run's worker process is killed, the step processes it started are not killed with it: the
multiprocess executor's children live on, orphaned, finish (or not) the step they were running,
and then hang for ever holding their memory. Whoever fails the dead run -- the code location's
gRPC server (it notices that a run process it launched has exited), Dagster's run monitoring
through finsig's launcher, or the next run (:func:`finsig_assets.run_worker_health.fail_dead_runs`)
-- this sensor sees the failure and stops those orphans. It runs where the runs' processes run
(the code location), so their pids mean something there; a run whose worker was elsewhere, or
is still alive, is left alone.
"""

from __future__ import annotations

import dagster as dg

from finsig_assets.run_worker_health import RunWorker, stop_orphaned_step_workers


@dg.run_failure_sensor(
    name="dead_run_cleanup",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="When a run fails because its worker process died, stops the step processes it left orphaned.",
)
def dead_run_cleanup(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    worker = RunWorker.from_run(run)
    if worker is None or worker.state() != "dead":
        return
    stopped = stop_orphaned_step_workers(context.instance, run.run_id)
    if stopped:
        context.log.warning(f"run {run.run_id}: its worker {worker.describe()} is gone; stopped orphaned step processes {stopped}")
