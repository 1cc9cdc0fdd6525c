"""ml/model_fits: windows fitted apart from their registration give the very models fitted in place."""

from __future__ import annotations

import json
import shutil
import sys

import dagster as dg
import pytest

from finsig_assets.ml.direction_model import direction_model
from finsig_assets.ml.fit_store import stored_fit
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.model_fits import model_fits
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.ml.ml_helpers import (
    FAST_TRAINING,
    SESSIONS,
    insert_synthetic,
    materialize,
    materialized_partitions,
    metadata_for,
    model_for,
    model_runs,
)

# Five partitions, windows through SESSIONS[7..11]: with 10 sessions needed, the first two lack history.
FIRST, LAST = model_for(SESSIONS[7]), model_for(SESSIONS[11])
SPLIT = ((FIRST, model_for(SESSIONS[9])), (model_for(SESSIONS[10]), LAST))


def both(*assets: dg.AssetsDefinition, **overrides) -> dg.RunConfig:
    """The same configuration for each asset of the run, as a run that wants the fits used gives it."""
    config = FAST_TRAINING | {"min_sessions": 10} | overrides
    return dg.RunConfig(ops={a.node_def.name: {"config": config} for a in assets})


def fits(warehouse) -> list[dict]:
    return warehouse.query(
        "SELECT trade_date, status, training_data_sha256, config_sha256, fit_bytes, fitted_at, dagster_run_id "
        "FROM ml.model_fits ORDER BY trade_date"
    ).to_dicts()


def no_fitting_here(*args, **kwargs):
    raise AssertionError("ml/direction_model fitted a window that ml/model_fits had fitted")


def comparable(runs) -> list[dict]:
    """ml.model_runs less what says when, by which run, and how long (metrics_json less its timings)."""
    out = []
    for row in runs.drop("recorded_at", "dagster_run_id", "mlflow_run_id", "mlflow_experiment_id", "train_seconds").to_dicts():
        if row["metrics_json"]:
            metrics = json.loads(row["metrics_json"])
            metrics.pop("seconds", None)
            row["metrics_json"] = metrics
        out.append(row)
    return out


def test_fits_made_apart_are_registered_in_order_and_equal_fitting_in_place(warehouse, tracking, tmp_path, monkeypatch):
    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=3)
    # A twin warehouse and MLflow store with the same rows, where ml/direction_model fits every window itself.
    twin = DuckDBWarehouse(database=str(tmp_path / "twin.duckdb"), lock_timeout_seconds=60)
    shutil.copy(warehouse.database, twin.database)
    twin_db = tmp_path / "twin-mlflow.db"
    shutil.copy(tracking.tracking_uri.removeprefix("sqlite:///"), twin_db)
    twin_tracking = MlflowTracking(tracking_uri=f"sqlite:///{twin_db}", experiment_name="finsig-test", ui_url=None)
    in_place = materialize([direction_model], twin, twin_tracking, FIRST, LAST, run_config=both(direction_model))

    # Fits in two runs (as two workers would make them), then one registering run that fits nothing.
    for first, last in SPLIT:
        result = materialize([model_fits], warehouse, tracking, first, last, run_config=both(model_fits))
        assert result.success
    stored = fits(warehouse)
    assert [r["status"] for r in stored] == ["insufficient history", "insufficient history", "fitted", "fitted", "fitted"]
    assert all(r["fit_bytes"] > 10_000 for r in stored if r["status"] == "fitted")
    # (the modules, not the package's attributes: finsig_assets.ml.direction_model is also the asset's name there)
    monkeypatch.setattr(sys.modules["finsig_assets.ml.direction_model"], "train_direction_model", no_fitting_here)
    monkeypatch.setattr(sys.modules["finsig_assets.ml.return_model"], "train_return_model", no_fitting_here)
    registered = materialize([direction_model], warehouse, tracking, FIRST, LAST, run_config=both(direction_model))

    runs = model_runs(warehouse)
    assert runs["status"].to_list() == ["insufficient history"] * 2 + ["trained"] * 3
    assert runs["model_version"].to_list()[2:] == [1, 2, 3]  # registered in session order
    assert comparable(runs) == comparable(model_runs(twin))
    fit_runs = {r["trade_date"]: r["dagster_run_id"] for r in stored}
    for day in runs.filter(runs["status"] == "trained")["trade_date"]:
        meta = metadata_for(registered, day, "ml/direction_model")
        assert meta["fitted_by"] == f"ml/model_fits, run {fit_runs[day]}"
        assert metadata_for(in_place, day, "ml/direction_model")["fitted_by"].startswith("this step")
    # The registered boosters are the stored fits, tree for tree.
    client = tracking.client()
    version = client.get_model_version(tracking.registered_model_name, "3")
    fit = stored_fit(warehouse, LAST, version.tags["finsig.training_data_sha256"], version.tags["finsig.config_sha256"])
    import mlflow.xgboost

    tracking.activate()
    served = mlflow.xgboost.load_model(tracking.model_uri(3))
    assert served.save_raw() == fit.direction.booster.save_raw()


def test_a_fit_of_another_configuration_is_not_registered_in_its_place(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=3)
    day = model_for(SESSIONS[12])
    other = dg.RunConfig(ops={"ml__model_fits": {"config": FAST_TRAINING | {"max_depth": 2}},
                              "ml__direction_model": {"config": FAST_TRAINING}})  # fmt: skip
    result = materialize([model_fits, direction_model], warehouse, tracking, day, run_config=other)
    [stored] = fits(warehouse)
    assert stored["status"] == "fitted"
    [run] = model_runs(warehouse).to_dicts()
    assert run["status"] == "trained"
    assert metadata_for(result, day, "ml/direction_model")["fitted_by"].startswith("this step (no fit")


def test_a_window_fitted_before_is_kept_and_new_data_is_fitted_again(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=3)
    day = model_for(SESSIONS[12])
    first = materialize([model_fits], warehouse, tracking, day, run_config=both(model_fits))
    [before] = fits(warehouse)
    again = materialize([model_fits], warehouse, tracking, day, run_config=both(model_fits))
    [kept] = fits(warehouse)
    assert kept == before  # not written again
    assert metadata_for(again, day, "ml/model_fits")["status"] == "fitted before"
    assert metadata_for(first, day, "ml/model_fits")["status"] == "fitted"

    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=4)  # new rows in the window
    materialize([model_fits], warehouse, tracking, day, run_config=both(model_fits))
    [refit] = fits(warehouse)
    assert refit["status"] == "fitted" and refit["training_data_sha256"] != before["training_data_sha256"]


def test_past_the_end_of_the_data_nothing_is_fitted_or_materialized(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=3)
    result = materialize([model_fits], warehouse, tracking, model_for(SESSIONS[11]), model_for(SESSIONS[13]), run_config=both(model_fits))
    assert materialized_partitions(result, "ml/model_fits") == [model_for(SESSIONS[11]).isoformat()]
    assert [r["status"] for r in fits(warehouse)] == ["fitted", "no data", "no data"]


@pytest.mark.parametrize("value, expected", [(None, dg.BackfillPolicy.single_run()),
                                             ("5", dg.BackfillPolicy.multi_run(max_partitions_per_run=5))])  # fmt: skip
def test_a_backfill_is_one_run_unless_a_deployment_splits_it_over_workers(monkeypatch, tmp_path, value, expected):
    from finsig_assets import settings
    from finsig_assets.trading_day_asset import runs_of_at_most

    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("FINSIG_MODEL_FITS_PARTITIONS_PER_RUN", raising=False)
    else:
        monkeypatch.setenv("FINSIG_MODEL_FITS_PARTITIONS_PER_RUN", value)
    assert runs_of_at_most(settings.model_fits_partitions_per_run()) == expected


def test_a_bad_partitions_per_run_is_named(monkeypatch, tmp_path):
    from finsig_assets import settings

    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    monkeypatch.setenv("FINSIG_MODEL_FITS_PARTITIONS_PER_RUN", "0")
    with pytest.raises(ValueError, match="FINSIG_MODEL_FITS_PARTITIONS_PER_RUN='0'"):
        settings.model_fits_partitions_per_run()
