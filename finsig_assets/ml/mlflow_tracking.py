"""``MlflowTracking``: where finsig's MLflow runs and registered models live (resource ``mlflow``).

Configuration: ``tracking_uri`` defaults to ``MLFLOW_TRACKING_URI`` and else to a SQLite store
under ``$FINSIG_HOME/mlflow`` (:func:`finsig_assets.settings.mlflow_tracking_uri`); the
registry uses the same URI. For a SQLite (or other local) store the experiment's artifacts go
beside the database (``<dir>/artifacts``), not into the process's working directory, which is
MLflow's default. ``make mlflow-ui`` serves the same store; ``ui_url`` only builds links for
the materialization metadata.

How dagster-mlflow is used
--------------------------
dagster-mlflow 0.29 offers two things. Its ``mlflow_tracking`` resource opens *one MLflow run
per Dagster run* and configures MLflow through environment variables; finsig needs one MLflow
run *per partition* inside a single-run backfill (a backfill of a year is one Dagster run that
trains 252 models), so the legacy resource does not fit and this ``ConfigurableResource`` is
used instead. The package's ``end_mlflow_on_run_finished`` hook *is* used: it only needs a
resource under the key ``mlflow`` with an ``end_run(status=...)`` method, which this class
has. :data:`finsig_assets.ml.ml_job.ml_training_job` attaches the hook, so when a step fails
(or the run's last step finishes) any MLflow run still active in that process is ended with the
right status instead of being left RUNNING. The assets open their runs with ``start_run`` (a
context manager that ends them itself), so the hook is the safety net, not the mechanism.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import mlflow
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from pydantic import Field

from finsig_assets import settings

_NAME = re.compile(r"^[A-Za-z0-9_.\- ]+$")


def local_store_dir(uri: str) -> Path | None:
    """The directory of a local store (``sqlite:///...`` file or ``file:`` path), else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else None
        if not path or path == ":memory:":
            return None
        return Path(path).resolve().parent
    if parsed.scheme in ("", "file"):
        return Path(parsed.path).resolve()
    return None


class MlflowTracking(dg.ConfigurableResource):
    """Tracking and registry URI, experiment and registered model name for finsig's models."""

    tracking_uri: str = Field(
        default_factory=settings.mlflow_tracking_uri,
        description="MLflow tracking (and registry) URI; default MLFLOW_TRACKING_URI or a SQLite store under $FINSIG_HOME/mlflow.",
    )
    experiment_name: str = Field(default="finsig-direction", description="MLflow experiment for the per-partition runs.")
    registered_model_name: str = Field(default="finsig-direction", description="Registered model that gets one version per trained partition.")
    return_model_name: str = Field(
        default="finsig-return", description="Registered model of the 30-minute log-return regressor (one version per trained partition)."
    )
    report_experiment_name: str = Field(
        default="finsig-performance", description="MLflow experiment for ml/performance_report's runs (one per report partition)."
    )
    artifact_location: str | None = Field(
        default=None,
        description="Artifact root for a newly created experiment; default <store dir>/artifacts for local stores.",
    )
    ui_url: str | None = Field(
        default="http://127.0.0.1:5000", description="Base URL of the MLflow UI (make mlflow-ui), for links in metadata."
    )

    def activate(self) -> None:
        """Point MLflow's fluent API (used by ``mlflow.xgboost.log_model``) at this store."""
        for name in (self.experiment_name, self.registered_model_name, self.return_model_name, self.report_experiment_name):
            if not _NAME.match(name):
                raise ValueError(f"bad MLflow name {name!r}")
        store = local_store_dir(self.tracking_uri)
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def client(self) -> MlflowClient:
        self.activate()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, name: str | None = None) -> str:
        """The id of ``name`` (default: the training experiment), created on first use."""
        name = name or self.experiment_name
        client = self.client()
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = self.artifact_location
        if location is None:
            store = local_store_dir(self.tracking_uri)
            location = (store / "artifacts").as_uri() if store is not None else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    @contextmanager
    def start_run(self, run_name: str, tags: dict[str, str], experiment: str | None = None) -> Iterator[mlflow.ActiveRun]:
        """A new MLflow run in the experiment (default: the training one); ended FINISHED, or FAILED on an exception."""
        experiment_id = self.experiment_id(experiment)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            yield run

    def end_run(self, status: str = RunStatus.to_string(RunStatus.FINISHED)) -> None:
        """End the active MLflow run of this process, if any (dagster-mlflow's hook calls this)."""
        if mlflow.active_run() is not None:
            mlflow.end_run(status=status)

    def model_uri(self, version: int | str, model_name: str | None = None) -> str:
        return f"models:/{model_name or self.registered_model_name}/{version}"

    def run_link(self, experiment_id: str, run_id: str) -> str:
        if self.ui_url:
            return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"{self.tracking_uri} experiments/{experiment_id}/runs/{run_id}"

    def version_link(self, version: int | str, model_name: str | None = None) -> str:
        name = model_name or self.registered_model_name
        if self.ui_url:
            return f"{self.ui_url.rstrip('/')}/#/models/{name}/versions/{version}"
        return f"{self.tracking_uri} models/{name}/versions/{version}"
