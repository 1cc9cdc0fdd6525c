"""``MlflowTracking``: where finsig's MLflow runs and registered models live (resource ``mlflow``).

Configuration: ``tracking_uri`` defaults to ``MLFLOW_TRACKING_URI`` and else to a SQLite store
under ``$FINSIG_HOME/mlflow`` (:func:`finsig_assets.settings.mlflow_tracking_uri`); the
registry uses the same URI. For a SQLite (or other local) store the experiment's artifacts go
beside the database (``<dir>/artifacts``), not into the process's working directory, which is
MLflow's default; the store moves with its directory (a moved or copied ``FINSIG_HOME`` uses its
own artifacts: :mod:`finsig_assets.ml.mlflow_store_location` rewrites the recorded locations when
the store is opened somewhere new). ``make mlflow-ui`` serves the same store.

In production the URI is a tracking server's (``MLFLOW_TRACKING_URI=http://host:5000``, a
``mlflow server`` over PostgreSQL that serves the artifacts): nothing else changes. Nothing local
is assumed then -- no directory is created, the experiments' artifact locations are the server's
(``mlflow-artifacts:/...``, unless ``artifact_location`` is configured), and the links in the
materialization metadata point at the server's own UI. ``ui_url`` only builds those links:
``auto`` (the default) is the tracking server itself for an ``http(s)`` URI, else
``http://127.0.0.1:5000`` (``make mlflow-ui``); ``None`` writes no links, only the URI.

How dagster-mlflow is used
--------------------------
(``mlflow`` itself is imported by the methods that talk to the store, not with the module: the
definitions, which every ``dagster`` command, run and step load, stay free of it.)

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

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import dagster as dg
from pydantic import Field

from finsig_assets import settings
from finsig_assets.ml.mlflow_store_location import sqlite_db_path, sync_artifact_root

_NAME = re.compile(r"^[A-Za-z0-9_.\- ]+$")
_CREATED: set[str] = set()


def create_sqlite_store(tracking_uri: str, db: Path) -> None:
    """Create (or upgrade) a SQLite store's schema under an exclusive lock, once per process.

    MLflow creates the tables and runs its migrations on first use, and two processes doing it
    at once on a fresh store collide (alembic: "Online migration expected to match one row"):
    a model run and a predictions run started together on a new home do exactly that. The
    lock file beside the database makes the first one create it and the others wait and find it.
    """
    if tracking_uri in _CREATED:
        return
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Whoever created the file held this lock until the schema was complete.
            if not db.exists() or db.stat().st_size == 0:
                from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
                from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

                TrackingStore(tracking_uri, (db.parent / "artifacts").as_uri())
                RegistryStore(tracking_uri)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _CREATED.add(tracking_uri)
AUTO = "auto"
LOCAL_UI_URL = "http://127.0.0.1:5000"
FINISHED = "FINISHED"  # mlflow.entities.RunStatus.to_string(RunStatus.FINISHED)

if TYPE_CHECKING:
    import mlflow
    from mlflow import MlflowClient


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


def is_server_uri(uri: str) -> bool:
    """A tracking server (``http(s)://``): it owns its stores and artifact locations."""
    return urlparse(uri).scheme in ("http", "https")


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
        description=(
            "Artifact root for a newly created experiment; default <store dir>/artifacts for local stores (moves with "
            "the store), the server's own for a tracking server."
        ),
    )
    ui_url: str | None = Field(
        default=AUTO,
        description=(
            "Base URL of the MLflow UI, for links in metadata; 'auto': the tracking server itself when tracking_uri is "
            "http(s), else http://127.0.0.1:5000 (make mlflow-ui); empty: no links."
        ),
    )

    def activate(self) -> None:
        """Point MLflow's fluent API (used by ``mlflow.xgboost.log_model``) at this store."""
        for name in (self.experiment_name, self.registered_model_name, self.return_model_name, self.report_experiment_name):
            if not _NAME.match(name):
                raise ValueError(f"bad MLflow name {name!r}")
        store = local_store_dir(self.tracking_uri)
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
            db = sqlite_db_path(self.tracking_uri)
            if db is not None:
                create_sqlite_store(self.tracking_uri, db)
            if db is not None and self.artifact_location is None:
                # The artifacts directory exists from the start, so a copy of the home carries
                # it even before the first run; then the store's recorded locations follow it.
                root = store / "artifacts"
                root.mkdir(exist_ok=True)
                sync_artifact_root(db, root)
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

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
        if location is None and not is_server_uri(self.tracking_uri):
            store = local_store_dir(self.tracking_uri)
            location = (store / "artifacts").as_uri() if store is not None else None
        # A tracking server (or an unknown store) with no configured location: the server's default.
        from mlflow.exceptions import MlflowException

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
        import mlflow

        experiment_id = self.experiment_id(experiment)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            yield run

    def end_run(self, status: str = FINISHED) -> None:
        """End the active MLflow run of this process, if any (dagster-mlflow's hook calls this)."""
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.end_run(status=status)

    def model_uri(self, version: int | str, model_name: str | None = None) -> str:
        return f"models:/{model_name or self.registered_model_name}/{version}"

    def ui_base(self) -> str | None:
        """The MLflow UI that links point at: ``ui_url``, or for ``auto`` the tracking server itself."""
        if not self.ui_url:
            return None
        if self.ui_url.strip().lower() == AUTO:
            if not is_server_uri(self.tracking_uri):
                return LOCAL_UI_URL
            parsed = urlparse(self.tracking_uri)  # the server's UI, without any user:password@
            return parsed._replace(netloc=parsed.netloc.rpartition("@")[2], query="", fragment="").geturl().rstrip("/")
        return self.ui_url.rstrip("/")

    def run_link(self, experiment_id: str, run_id: str) -> str:
        base = self.ui_base()
        if base:
            return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"{self.tracking_uri} experiments/{experiment_id}/runs/{run_id}"

    def version_link(self, version: int | str, model_name: str | None = None) -> str:
        name = model_name or self.registered_model_name
        base = self.ui_base()
        if base:
            return f"{base}/#/models/{name}/versions/{version}"
        return f"{self.tracking_uri} models/{name}/versions/{version}"
