"""MlflowTracking: URIs and artifact location; the dagster-mlflow hook runs with it."""

from __future__ import annotations

import dagster as dg
import mlflow

from finsig_assets.ml import ml_assets, ml_training_job
from finsig_assets.ml.mlflow_tracking import MlflowTracking, local_store_dir
from finsig_assets_tests.ml.ml_helpers import FAST_TRAINING, SESSIONS, insert_synthetic


def test_tracking_uri_defaults_to_the_environment_then_finsig_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////somewhere/else.db")
    assert MlflowTracking().tracking_uri == "sqlite:////somewhere/else.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    default = MlflowTracking()
    assert default.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert default.experiment_name == "finsig-direction" and default.registered_model_name == "finsig-direction"
    assert local_store_dir(default.tracking_uri) == tmp_path / "mlflow"


def test_experiment_artifacts_live_beside_the_store_not_in_the_working_directory(tracking):
    exp = tracking.client().get_experiment(tracking.experiment_id())
    assert exp.artifact_location == (local_store_dir(tracking.tracking_uri) / "artifacts").as_uri()
    assert tracking.experiment_id() == exp.experiment_id  # found, not created twice


def test_end_run_ends_the_active_run_with_the_given_status(tracking):
    tracking.activate()
    run = mlflow.start_run(experiment_id=tracking.experiment_id())
    tracking.end_run(status="FAILED")
    assert mlflow.active_run() is None
    assert tracking.client().get_run(run.info.run_id).info.status == "FAILED"
    tracking.end_run()  # nothing active: a no-op


def test_ml_training_job_runs_with_the_end_mlflow_hook(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:3], seed=21)
    defs = dg.Definitions(
        assets=ml_assets, jobs=[ml_training_job], resources={"warehouse": warehouse, "mlflow": tracking}
    )
    job = defs.resolve_job_def("ml_training")
    result = job.execute_in_process(
        partition_key=str(SESSIONS[2]),
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"ml__direction_model": {"config": FAST_TRAINING}}},
    )
    assert result.success
    hooks = [e for e in result.all_events if e.event_type_value == "HOOK_COMPLETED"]
    assert hooks  # end_mlflow_on_run_finished ran after the steps
    assert mlflow.active_run() is None
