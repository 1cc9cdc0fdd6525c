"""The ml/ layer: per-trading-day direction model in the MLflow registry, and its predictions.

Resources the assets need: ``warehouse`` (:class:`finsig_assets.warehouse.Warehouse`)
and ``mlflow`` (:class:`MlflowTracking`).

XGBoost runs on OpenMP. With GNU OpenMP's default *active* wait policy, idle threads spin at
every synchronisation point; when the cores are shared with other work (another Dagster step,
DuckDB, a second run), a two-thread XGBoost fit then crawls -- on the shared two-core
benchmark machine a 60-session regular-hours partition took 30 s with ``nthread=2`` against
6 s with one thread. ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep instead of spinning) removes
that; it must be in the environment before the OpenMP runtime loads, i.e. before xgboost is
imported, so it is set here (``setdefault``: an explicit setting in the environment wins).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from finsig_assets.ml.direction_model import direction_model  # noqa: E402
from finsig_assets.ml.model_fits import model_fits  # noqa: E402
from finsig_assets.ml.training_config import DirectionModelConfig  # noqa: E402
from finsig_assets.ml.ml_job import ml_training_job  # noqa: E402
from finsig_assets.ml.mlflow_tracking import MlflowTracking  # noqa: E402
from finsig_assets.ml.performance_report import PerformanceReportConfig, performance_report  # noqa: E402
from finsig_assets.ml.predictions import PredictionsConfig, predictions  # noqa: E402

ml_assets = [model_fits, direction_model, predictions, performance_report]

__all__ = [
    "DirectionModelConfig",
    "MlflowTracking",
    "PerformanceReportConfig",
    "PredictionsConfig",
    "direction_model",
    "ml_assets",
    "ml_training_job",
    "model_fits",
    "performance_report",
    "predictions",
]
