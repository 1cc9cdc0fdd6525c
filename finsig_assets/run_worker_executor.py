"""finsig's executor: Dagster's in-process or multiprocess executor that first names its run worker.

Before any step starts, the run's worker process (``dagster asset materialize`` itself, or the
process the code location starts for a launched run) records itself in the run tag
``finsig/run_worker``, so that run monitoring can tell later whether it is still alive, and fails
the runs on this instance whose worker died without a word, handing back their pool slots
(:mod:`finsig_assets.run_worker_health`). That second part is what lets a CLI run proceed after a
crashed one without a daemon: otherwise it would wait for ever on the dead run's
``duckdb_writer`` slot.

Everything else is Dagster's own executors, unchanged, with the configuration of Dagster's
default ``multi_or_in_process_executor``: ``execution: config: in_process: {}`` or
``execution: config: multiprocess: {...}`` (``max_concurrent``, ``start_method`` with
``forkserver`` and ``preload_modules``, retries), pools honoured by both.

Which one by default (``FINSIG_EXECUTOR``, default ``in_process``): a step subprocess starts a
Python interpreter and imports Dagster, the definitions and the step's libraries again before
it does any work -- 2 to 5 s per step on two cores, paid by every step of every run, while the
data work of a session's step is often well under a second. finsig's steps are mostly serial
anyway (every step that writes the warehouse holds the ``duckdb_writer`` pool's single slot),
so on one machine running them in the run's own process loses little parallelism and saves
that start-up per step (``bench/market_pipeline.py --cli`` measures both). ``multiprocess``
isolates each step's memory (FinBERT's weights are freed with its step process) and runs the
steps that do not write the warehouse (sentiment scoring) beside others; a deployment with
more cores or memory pressure can choose it per run or with ``FINSIG_EXECUTOR=multiprocess``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dagster as dg
from dagster._config import Field, Selector
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
    multiple_process_executor_requirements,
)
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.base import Executor

from finsig_assets import settings
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


def _requirements(executor_config) -> list:
    return multiple_process_executor_requirements() if "multiprocess" in executor_config else []


@dg.executor(
    name="multi_or_in_process",
    config_schema=Field(
        Selector({"in_process": IN_PROC_CONFIG, "multiprocess": MULTI_PROC_CONFIG}),
        default_value={settings.executor(): {}},
    ),
    requirements=_requirements,
)
def finsig_executor(init_context: dg.InitExecutorContext) -> Executor:
    """Dagster's in-process or multiprocess executor; the run's worker process is recorded for run monitoring."""
    config = init_context.executor_config
    if "multiprocess" in config:
        return WorkerRecordingExecutor(_core_multiprocess_executor_creation(config["multiprocess"]))
    return WorkerRecordingExecutor(_core_in_process_executor_creation(config["in_process"]))
