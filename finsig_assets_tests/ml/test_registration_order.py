"""A backfill's registering runs go in session order: a later run waits for the earlier partitions."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from finsig_assets.ml.direction_model import direction_model
from finsig_assets.ml.model_fits import model_fits
from finsig_assets.ml.registration_order import unregistered_fits, wait_for_earlier_registrations
from finsig_assets_tests.ml.ml_helpers import FAST_TRAINING, SESSIONS, insert_synthetic, model_for

EARLY, LATE = model_for(SESSIONS[10]), model_for(SESSIONS[11])
CONFIG = FAST_TRAINING | {"min_sessions": 10}


def run(assets, warehouse, tracking, instance, day, tags=None, raise_on_error=True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        partition_key=day.isoformat(),
        resources={"warehouse": warehouse, "mlflow": tracking},
        instance=instance,
        tags=tags or {},
        run_config=dg.RunConfig(ops={a.node_def.name: {"config": CONFIG} for a in assets}),
        raise_on_error=raise_on_error,
    )


@pytest.fixture
def fitted(warehouse, tracking):
    """Both partitions fitted by runs of backfill "bf" (as its multi-run fits would be)."""
    insert_synthetic(warehouse, SESSIONS[:13], news_effect=0.6, seed=3)
    instance = dg.DagsterInstance.ephemeral()
    fit_runs = {run([model_fits], warehouse, tracking, instance, day, {"dagster/backfill": "bf"}).run_id for day in (EARLY, LATE)}
    return instance, fit_runs


def test_fits_of_the_backfill_not_registered_yet_are_found(warehouse, tracking, fitted):
    instance, fit_runs = fitted
    assert unregistered_fits(warehouse, LATE, fit_runs) == [EARLY]
    assert unregistered_fits(warehouse, EARLY, fit_runs) == []  # nothing before the first
    assert unregistered_fits(warehouse, LATE, {"another-backfills-run"}) == []
    run([direction_model], warehouse, tracking, instance, EARLY, {"dagster/backfill": "bf"})
    assert unregistered_fits(warehouse, LATE, fit_runs) == []  # registered after its fit


def test_a_later_run_of_a_stopped_backfill_fails_instead_of_registering_out_of_order(warehouse, tracking, fitted):
    instance, _ = fitted  # the ephemeral instance holds no backfill "bf": as good as gone
    result = run([direction_model], warehouse, tracking, instance, LATE, {"dagster/backfill": "bf"}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert f"waits for 1 earlier partition(s) of backfill bf fitted but not registered yet ({EARLY})" in message
    assert warehouse.query("SELECT count(*) AS n FROM ml.model_runs")["n"][0] == 0  # nothing registered
    # Outside a backfill nothing waits (one run registers its range in order by itself).
    assert run([direction_model], warehouse, tracking, instance, LATE).success


def test_a_later_run_waits_until_the_earlier_partition_is_registered_then_goes_on(warehouse, tracking, fitted):
    instance, fit_runs = fitted
    requested = SimpleNamespace(status=BulkActionStatus.REQUESTED)
    logs: list[str] = []
    context = SimpleNamespace(
        run=SimpleNamespace(tags={"dagster/backfill": "bf"}),
        instance=SimpleNamespace(get_run_ids=lambda filters: list(fit_runs), get_backfill=lambda _id: requested),
        log=SimpleNamespace(info=logs.append),
    )
    sleeps = []

    def earlier_run_registers(seconds: float) -> None:  # while this run sleeps, the earlier run registers EARLY
        sleeps.append(seconds)
        run([direction_model], warehouse, tracking, instance, EARLY, {"dagster/backfill": "bf"})

    wait_for_earlier_registrations(context, warehouse, LATE, sleep=earlier_run_registers)
    assert len(sleeps) == 1
    assert any("waiting for 1 earlier partition(s) of backfill bf" in line and EARLY.isoformat() in line for line in logs), logs
    assert unregistered_fits(warehouse, LATE, fit_runs) == []


def test_partitions_before_the_first_of_the_data_never_wait(warehouse, tracking, fitted):
    _, fit_runs = fitted
    assert unregistered_fits(warehouse, dt.date(2000, 1, 3), fit_runs) == []
