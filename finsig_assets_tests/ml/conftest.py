"""ml/ test fixtures: a per-test MLflow SQLite store (copied from one migrated template)."""

from __future__ import annotations

import shutil

import pytest
from mlflow import MlflowClient

from finsig_assets.ml.mlflow_tracking import MlflowTracking


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An empty, migrated MLflow database; creating one takes seconds, copying it milliseconds."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    MlflowClient(tracking_uri=uri).search_experiments()
    return path


@pytest.fixture
def tracking(tmp_path, mlflow_template) -> MlflowTracking:
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(mlflow_template, db)
    return MlflowTracking(tracking_uri=f"sqlite:///{db}", experiment_name="finsig-test", ui_url=None)
