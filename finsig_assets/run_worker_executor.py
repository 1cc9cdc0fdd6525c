"""finsig's executor: Dagster's in-process, multiprocess or Celery executor that first names its run worker.

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

``celery`` (``FINSIG_EXECUTOR=celery``, or ``execution: config: celery: {...}``) is dagster-celery's
``celery_executor``: the run's process stays the orchestrator (and the recorded run worker) and
sends each step to a Celery queue, where a worker process executes it -- on this machine or on
others that see the same ``DAGSTER_HOME``, ``FINSIG_*`` settings and files. A step goes to the
queue its op tag ``dagster-celery/queue`` names (``silver/news_sentiment``: ``gpu``), every other
step to ``dagster``. Broker, results backend and a queue-name prefix come from
``FINSIG_CELERY_BROKER`` (default RabbitMQ on 127.0.0.1), ``FINSIG_CELERY_BACKEND`` (``rpc://``)
and ``FINSIG_CELERY_QUEUE_PREFIX`` (empty; homes that share a broker set one each), or from the
run config; the workers (:mod:`finsig_assets.celery_workers`) read the same settings. Pools are
honoured: the orchestrator claims a step's slot before it submits the step. A run whose
orchestrator dies leaves the step a worker already took running to its end: run monitoring fails
the run and frees its slots, but does not revoke Celery tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._config import Field, Noneable, Selector, StringSource
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    ExecutorConfig,
    ExecutorRequirement,
    _core_in_process_executor_creation,
    _core_multiprocess_executor_creation,
    multiple_process_executor_requirements,
)
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.base import Executor
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

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

    def __getattr__(self, name: str):
        # An inner executor's own loop reads more of ``plan_context.executor`` than this class
        # defines (dagster-celery: ``app_args()``): that is the inner executor's.
        if name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

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


CELERY_POLL_SECONDS = 0.1


class FinsigCeleryExecutor(CeleryExecutor):
    """dagster-celery's executor: every queue name prefixed by ``queue_prefix``, the steps' results
    polled every ``CELERY_POLL_SECONDS``, and the run's reply queue deleted when the run ends."""

    def __init__(self, *, queue_prefix: str = "", **kwargs):
        super().__init__(**kwargs)
        self.queue_prefix = queue_prefix

    def execute(self, plan_context, execution_plan):
        from dagster_celery import core_execution_loop
        from dagster_celery.executor import _submit_task

        # The loop polls its steps' results every TICK_SECONDS (1 s): a step is seen done, and
        # the next one submitted, up to that long after it ended -- half a second per step of a
        # chain on average. One run per process, so the module's constant is this run's.
        core_execution_loop.TICK_SECONDS = CELERY_POLL_SECONDS
        prefix = self.queue_prefix
        apps = []

        def submit(app, context, step, queue, priority, known_state):
            apps[:] = [app]
            return _submit_task(app, context, step, prefix + queue, priority, known_state)

        try:
            yield from core_execution_loop.core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)
        finally:
            if apps:
                _delete_reply_queue(apps[0], plan_context.log)


def _delete_reply_queue(app, log) -> None:
    """Delete the queue the run's step results came back on (``rpc://`` backend).

    Celery's rpc backend polls that queue with basic.get, never subscribing to it, so RabbitMQ's
    auto-delete never removes it: without this every run would leave an empty queue behind for
    ``result_expires`` (a day). Best effort: a failure only leaves that queue to expire.
    """
    from celery.backends.rpc import RPCBackend

    backend = app.backend
    if not isinstance(backend, RPCBackend):
        return
    try:
        with app.pool.acquire_channel(block=True) as (_, channel):
            backend.binding(channel).delete()
    except Exception as exc:  # noqa: BLE001 -- see above
        log.warning(f"Could not delete the Celery reply queue {backend.oid}: {exc}")


# dagster-celery's executor config; broker, backend and the queue prefix default to finsig's settings.
FINSIG_CELERY_CONFIG = {
    **CELERY_CONFIG,
    "broker": Field(
        Noneable(StringSource), is_required=False, description="Celery broker URL. Default: FINSIG_CELERY_BROKER."
    ),
    "backend": Field(
        Noneable(StringSource), is_required=False, description="Celery results backend. Default: FINSIG_CELERY_BACKEND (rpc://)."
    ),
    "queue_prefix": Field(
        Noneable(StringSource),
        is_required=False,
        description="Put before every queue name (dagster, gpu). Default: FINSIG_CELERY_QUEUE_PREFIX (empty).",
    ),
}


def celery_executor_from_config(config: Mapping[str, Any]) -> FinsigCeleryExecutor:
    """The executor a run with ``execution: config: celery: {config}`` gets (the workers build their app from ``{}``)."""
    return FinsigCeleryExecutor(
        broker=config.get("broker") or settings.celery_broker(),
        backend=config.get("backend") or settings.celery_backend(),
        include=config.get("include"),
        config_source=config.get("config_source"),
        retries=RetryMode.from_config(config.get("retries", {"enabled": {}})),
        queue_prefix=settings.celery_queue_prefix() if config.get("queue_prefix") is None else config["queue_prefix"],
    )


def _requirements(executor_config: ExecutorConfig) -> Sequence[ExecutorRequirement]:
    return multiple_process_executor_requirements() if {"multiprocess", "celery"} & set(executor_config) else []


@dg.executor(
    name="multi_or_in_process",
    config_schema=Field(
        Selector({"in_process": IN_PROC_CONFIG, "multiprocess": MULTI_PROC_CONFIG, "celery": FINSIG_CELERY_CONFIG}),
        default_value={settings.executor(): {}},
    ),
    requirements=_requirements,
)
def finsig_executor(init_context: dg.InitExecutorContext) -> Executor:
    """Dagster's in-process, multiprocess or Celery executor; the run's worker process is recorded for run monitoring."""
    config = init_context.executor_config
    if "celery" in config:
        return WorkerRecordingExecutor(celery_executor_from_config(_selected(config, "celery")))
    if "multiprocess" in config:
        return WorkerRecordingExecutor(_core_multiprocess_executor_creation(_selected(config, "multiprocess")))
    return WorkerRecordingExecutor(_core_in_process_executor_creation(_selected(config, "in_process")))


def _selected(config: ExecutorConfig, name: str) -> Mapping[str, Any]:
    """The config of the executor the Selector chose (a mapping, as the config schema requires)."""
    section = config[name]
    if not isinstance(section, Mapping):
        raise TypeError(f"executor config {name!r} is not a mapping: {section!r}")
    return section
