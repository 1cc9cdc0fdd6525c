"""finsig's executor: Dagster's multiprocess executor that first names its run worker.

Before any step starts, the run's worker process (``dagster asset materialize`` itself, or the
process the code location starts for a launched run) records itself in the run tag
``finsig/run_worker``, so that run monitoring can tell later whether it is still alive, and fails
the runs on this instance whose worker died without a word, handing back their pool slots
(:mod:`finsig_assets.run_worker_health`). That second part is what lets a CLI run proceed after a
crashed one without a daemon: otherwise it would wait for ever on the dead run's
``duckdb_writer`` slot.

Everything else -- configuration (``execution: config: multiprocess: ...``), step processes,
pools, retries -- is Dagster's multiprocess executor, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.executor_definition import (
    MULTI_PROC_CONFIG,
    _core_multiprocess_executor_creation,
    multiple_process_executor_requirements,
)
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.base import Executor

from finsig_assets.run_worker_health import fail_dead_runs, record_this_worker

log = logging.getLogger(__name__)


class WorkerRecordingExecutor(Executor):
    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self) -> RetryMode:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        instance, run_id = plan_context.instance, plan_context.run_id
        worker = record_this_worker(instance, run_id)
        failed = fail_dead_runs(instance, except_run_id=run_id)
        if failed:
            plan_context.log.warning(
                f"Failed {len(failed)} run(s) whose worker process died without reporting ({', '.join(failed)}); "
                "their pool slots are free again"
            )
        plan_context.log.debug(f"run worker {worker.describe()}")
        yield from self._inner.execute(plan_context, execution_plan)


@dg.executor(
    name="multiprocess",
    config_schema=MULTI_PROC_CONFIG,
    requirements=multiple_process_executor_requirements(),
)
def finsig_executor(init_context: dg.InitExecutorContext) -> Executor:
    """Dagster's multiprocess executor; the run's worker process is recorded for run monitoring."""
    return WorkerRecordingExecutor(_core_multiprocess_executor_creation(init_context.executor_config))
