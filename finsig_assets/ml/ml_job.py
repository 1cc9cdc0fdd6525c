"""``ml_training``: the ml/ assets as a partitioned job with dagster-mlflow's run-end hook.

``end_mlflow_on_run_finished`` (dagster-mlflow) needs a resource under the key ``mlflow`` with
``end_run(status=...)``; :class:`finsig_assets.ml.mlflow_tracking.MlflowTracking` provides it.
On a failed step the hook ends the process's active MLflow run as FAILED, and after the job's
last step it ends whatever is still active -- a safety net under the assets' own
``start_run`` context managers (see that module's docstring).

dagster-mlflow imports ``mlflow`` when it is imported (1 s or more), and the definitions are
imported by every ``dagster`` command, run and step. So the job carries a hook of the same name
that imports dagster-mlflow when it first runs -- in a step that used MLflow anyway -- and hands
the events to the package's own hook.
"""

from __future__ import annotations

import warnings

import dagster as dg

from finsig_assets.ml.direction_model import direction_model
from finsig_assets.ml.model_fits import model_fits
from finsig_assets.ml.performance_report import performance_report
from finsig_assets.ml.predictions import predictions

HOOK_NAME = "end_mlflow_on_run_finished"


def _end_mlflow_on_run_finished(context, event_list):
    with warnings.catch_warnings():  # dagster-mlflow 0.29 marks its own hook factory beta on import
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        from dagster_mlflow import end_mlflow_on_run_finished

    return end_mlflow_on_run_finished.hook_fn(context, event_list)


end_mlflow_on_run_finished = dg.HookDefinition(
    name=HOOK_NAME, hook_fn=_end_mlflow_on_run_finished, required_resource_keys={"mlflow"}
)

ml_training_job = dg.define_asset_job(
    "ml_training",
    selection=dg.AssetSelection.assets(model_fits, direction_model, predictions, performance_report),
    hooks={end_mlflow_on_run_finished},
    description="Fit ml/model_fits, register ml/direction_model, write ml/predictions and draw ml/performance_report for a range of sessions (single run).",
)
