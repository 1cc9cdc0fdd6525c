"""Model partitions are registered in session order, also when a backfill splits the registering.

Each promotion decision compares the new version with the champion in force before it, and
MLflow numbers versions in registration order, so ``ml/direction_model`` registers oldest first.
Within one run that is the loop's order. Across runs it is not given: when ``ml/model_fits``
backfills as several runs (``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN``), Dagster's backfill daemon
launches ``ml/direction_model`` for the partitions whose fits are done -- on one evaluation the
earlier sessions, on a later one the rest -- and nothing in the graph orders those runs (a model
partition does not depend on the previous one: a self-dependency would stall every backfill
that does not start at the first partition). Seen in ``bench/distributed_backfill.py``: the
model backfill became two runs, 11-09..11-30 and 12-01..12-07.

So a run of ``ml/direction_model`` that belongs to a backfill first waits until every earlier
partition that the same backfill fitted has been registered (its ``ml.model_runs`` row is newer
than its fit). The earlier partitions' run never waits for a later one, so this cannot deadlock;
when the backfill stops (failed, canceled) while the wait goes on, the run fails and says which
partitions were not registered.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import dagster as dg

from finsig_assets.ml.fit_store import STATUS_FITTED
from finsig_assets.warehouse import Warehouse

BACKFILL_TAG = "dagster/backfill"
POLL_SECONDS = 2.0
LOG_EVERY_SECONDS = 30.0


def unregistered_fits(warehouse: Warehouse, before: dt.date, run_ids: set[str]) -> list[dt.date]:
    """Partitions before ``before`` fitted by one of ``run_ids`` and not registered since."""
    if not run_ids:
        return []
    frame = warehouse.query(
        "SELECT f.trade_date, f.dagster_run_id FROM ml.model_fits f "
        "LEFT JOIN ml.model_runs r ON r.trade_date = f.trade_date AND r.recorded_at >= f.fitted_at "
        "WHERE f.trade_date < ? AND f.status = ? AND r.trade_date IS NULL ORDER BY f.trade_date",
        [before, STATUS_FITTED],
    )
    return [day for day, run_id in frame.iter_rows() if run_id in run_ids]


def wait_for_earlier_registrations(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    first: dt.date,
    timeout_seconds: float = 6 * 3600,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Block until the run's backfill has registered every partition it fitted before ``first``;
    the seconds waited. Runs outside a backfill never wait."""
    from dagster._core.execution.backfill import BulkActionStatus

    backfill_id = context.run.tags.get(BACKFILL_TAG)
    if not backfill_id:
        return 0.0
    instance = context.instance
    started = last_log = time.monotonic()
    while True:
        run_ids = set(instance.get_run_ids(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id})))
        pending = unregistered_fits(warehouse, first, run_ids)
        if not pending:
            waited = time.monotonic() - started
            if waited >= POLL_SECONDS:
                context.log.info(f"ml/direction_model: the earlier partitions of backfill {backfill_id} are registered; went on after {waited:.0f}s")
            return waited
        what = f"{len(pending)} earlier partition(s) of backfill {backfill_id} fitted but not registered yet ({_span(pending)})"
        backfill = instance.get_backfill(backfill_id)
        if backfill is None or backfill.status != BulkActionStatus.REQUESTED:
            status = "gone" if backfill is None else backfill.status.value
            raise dg.Failure(
                f"ml/direction_model for {first} and later waits for {what}, and the backfill is {status}: registering "
                "out of session order would make the promotion decisions depend on scheduling. Re-execute the "
                "backfill from failure, or materialize ml/direction_model from the first of those partitions."
            )
        if time.monotonic() - started > timeout_seconds:
            raise dg.Failure(f"ml/direction_model for {first} and later waited {timeout_seconds:.0f}s for {what}")
        if time.monotonic() - last_log >= LOG_EVERY_SECONDS or last_log == started:
            context.log.info(f"ml/direction_model for {first} and later: waiting for {what}; registering goes in session order")
            last_log = time.monotonic()
        sleep(POLL_SECONDS)


def _span(days: list[dt.date]) -> str:
    return days[0].isoformat() if len(days) == 1 else f"{days[0]}..{days[-1]}"
