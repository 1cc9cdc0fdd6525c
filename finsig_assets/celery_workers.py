"""The Celery app that finsig's Celery workers run: ``celery -A finsig_assets.celery_workers worker``.

A run with the ``celery`` executor (``FINSIG_EXECUTOR=celery``, :mod:`finsig_assets.run_worker_executor`)
sends each step to a queue of the broker; a worker started with this module takes it and executes
it (dagster-celery's ``execute_plan`` task: it loads the run from the instance, imports the code
location and runs the one step, writing its events to the instance itself)::

    celery -A finsig_assets.celery_workers worker -Q dagster,gpu -n gpu-a@%h -c 1   # sentiment and everything else
    celery -A finsig_assets.celery_workers worker -Q dagster -n cpu-b@%h -c 1       # everything but sentiment

``-Q``: the queues it serves -- ``dagster`` (every step) and ``gpu`` (``silver/news_sentiment``,
op tag ``dagster-celery/queue: gpu``), each name prefixed with ``FINSIG_CELERY_QUEUE_PREFIX`` when
that is set. ``-n``: a name unique on the broker (it is what the run's events call the worker).
``-c 1``: one step at a time per worker (a step uses a core, sentiment the whole GPU).

No config file: the broker and results backend are ``FINSIG_CELERY_BROKER`` and
``FINSIG_CELERY_BACKEND``, read like every finsig setting (environment, else
``$FINSIG_HOME/finsig.env``), as the executor reads them. Start a worker with the environment of
the runs it serves -- the same ``DAGSTER_HOME`` (the task finds its run there) and ``FINSIG_HOME``
/ ``FINSIG_*`` (the resources, hence the warehouse and the landing zone, come from them); it logs
both when it starts.

Each pool process imports the code location as it starts (``worker_process_init``), so that no
step waits for it. Not before the fork, in the worker's main process: the import starts polars'
thread pool there, and a forked child then hangs for ever on a lock one of those threads held
(seen: ``bronze/market_candles`` stuck on a futex right after its first log line).
"""

from __future__ import annotations

import logging
import os

from celery.signals import celeryd_after_setup, worker_process_init
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from finsig_assets import settings

log = logging.getLogger(__name__)


def app_args() -> dict:
    """The Celery app's arguments, as the executor builds them (dagster-celery's defaults for the rest)."""
    return CeleryExecutor.for_cli(broker=settings.celery_broker(), backend=settings.celery_backend()).app_args()


app = make_app(app_args())
# A pool process reports "up" after worker_process_init; importing the code location on two busy
# cores can take longer than Celery's 4 s default, which would kill the process.
app.conf.worker_proc_alive_timeout = 120.0
execute_plan = create_task(app)


@worker_process_init.connect
def _import_the_code_location(**_kwargs) -> None:
    import finsig_assets.definitions  # noqa: F401  -- in the pool process, after the fork (see above)


@celeryd_after_setup.connect
def _say_what_it_serves(sender, instance, **_kwargs) -> None:
    queues = sorted(instance.app.amqp.queues.consume_from or instance.app.amqp.queues)
    prefix = settings.celery_queue_prefix()
    log.warning(
        "finsig Celery worker %s: queues %s, DAGSTER_HOME=%s, FINSIG_HOME=%s, FINSIG_CELERY_QUEUE_PREFIX=%r",
        sender, ", ".join(queues), os.environ.get("DAGSTER_HOME", "(unset)"), settings.finsig_home(), prefix,
    )
    if prefix and not all(q.startswith(prefix) for q in queues):
        log.warning("queue names without the prefix %r get no finsig step: -Q %s", prefix, ",".join(f"{prefix}{q}" for q in ("dagster", "gpu")))
