"""One MLflow run per trained partition: tags, params, metrics, artifacts, the registered model.

Run tags: ``dagster.run_id``, ``dagster.asset_key``, ``dagster.partition``,
``finsig.sentiment_model``, ``finsig.decision``. Params: the training window (first/last
session, sessions used, rth_only), the hash of the training data, counts, the feature list's
size (the list itself is the ``features.json`` artifact), every training and promotion setting.
Metrics (walk-forward validation folds, row-weighted): ``cv_<model>_<metric>`` for the model and every
baseline (``market_only``, ``majority``, ``sign_ret_30m``) and metric (``auc``, ``log_loss``,
``brier``, ``accuracy``, ``rank_ic``), ``value_of_news_auc``, ``n_trees``, and per-fold values
``fold_<model>_<metric>`` with step = fold index. Artifacts: ``features.json``,
``folds.json``, ``plots/feature_importance.png``, ``plots/calibration.png`` (``mlflow.log_figure``). The model goes
through ``mlflow.xgboost.log_model(name="model", registered_model_name=..., signature=...,
input_example=...)``; pip requirements are given explicitly (xgboost's pin), which skips
MLflow's slow requirement inference. The new version gets tags ``finsig.trained_through``,
``finsig.sentiment_model``, ``finsig.rth_only``, ``dagster.run_id``, ``finsig.training_data_sha256`` and
``finsig.config_sha256`` (:mod:`finsig_assets.ml.version_reuse`); the promotion tags follow
(:func:`finsig_assets.ml.promotion.record_decision`).

Later, ``ml/predictions`` logs ``oos_auc``, ``oos_log_loss``, ``oos_brier``, ``oos_accuracy``,
``oos_rank_ic`` and ``oos_rows`` to the same run, with step = the predicted session as
YYYYMMDD (:func:`log_oos_metrics`).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from finsig_assets.ml import baselines
from finsig_assets.ml.champion_history import (
    MARKET_ONLY_ARTIFACT,
    TAG_DAGSTER_RUN,
    TAG_DECISION,
    TAG_RTH_ONLY,
    TAG_SENTIMENT_MODEL,
    TAG_TRAIN_UP_RATE,
    TAG_TRAINED_THROUGH,
)
from finsig_assets.ml.direction_training import TrainingOutcome, TrainingSettings
from finsig_assets.ml.evaluation_metrics import METRIC_NAMES
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.promotion import PromotionDecision, PromotionRules
from finsig_assets.ml.version_reuse import TAG_CONFIG_SHA256, TAG_DATA_SHA256

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    import xgboost as xgb


@dataclass(frozen=True)
class LoggedVersion:
    run_id: str
    experiment_id: str
    version: int
    model_uri: str


@dataclass(frozen=True)
class RunContext:
    partition: dt.date
    window_first: dt.date
    window_last: dt.date
    window_sessions: int
    min_sessions: int
    rth_only: bool
    sentiment_model: str | None
    dagster_run_id: str
    asset_key: str


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def log_training_run(
    tracking: MlflowTracking,
    outcome: TrainingOutcome,
    ctx: RunContext,
    settings: TrainingSettings,
    rules: PromotionRules,
    decision: PromotionDecision,
    config_hash: str,
) -> LoggedVersion:
    import mlflow.xgboost
    from mlflow.entities import Metric

    from finsig_assets.ml.plots import calibration_figure, feature_importance_figure, plt  # plots selects the Agg backend first

    tags = {
        "dagster.run_id": ctx.dagster_run_id,
        "dagster.asset_key": ctx.asset_key,
        "dagster.partition": ctx.partition.isoformat(),
        TAG_SENTIMENT_MODEL: ctx.sentiment_model or "none",
        TAG_DECISION: decision.label,
    }
    with tracking.start_run(run_name=f"direction-{ctx.partition}", tags=tags) as run:
        params: dict[str, object] = {
            "partition": ctx.partition.isoformat(),
            "window_first": ctx.window_first.isoformat(),
            "window_last": ctx.window_last.isoformat(),
            "window_sessions_config": ctx.window_sessions,
            "window_sessions_used": len(outcome.sessions),
            "min_sessions": ctx.min_sessions,
            "rth_only": ctx.rth_only,
            "sentiment_model": ctx.sentiment_model or "none",
            "training_data_sha256": outcome.data_sha256,
            "train_rows": outcome.n_rows,
            "n_features": len(outcome.features),
            "n_news_features": len(outcome.news_features),
            "n_trees": outcome.n_trees,
            "market_only_n_trees": outcome.market_only_n_trees if outcome.market_only_n_trees is not None else "n/a",
            "n_folds_used": len(outcome.folds),
        }
        params |= {f"train.{k}": v for k, v in settings.as_params().items()}
        params |= {f"promotion.{k}": v for k, v in rules.__dict__.items()}
        mlflow.log_params(params)

        metrics = {f"cv_{who}_{m}": getattr(outcome.scores[who], m) for who in baselines.ALL_MODELS for m in METRIC_NAMES}
        metrics |= {
            "value_of_news_auc": outcome.value_of_news_auc,
            "news_test_statistic": outcome.news_test.statistic if outcome.news_test else math.nan,
            "news_test_p_value": outcome.news_test.p_value if outcome.news_test else math.nan,
            "n_trees": outcome.n_trees,
            "train_rows": outcome.n_rows,
            "cv_validation_rows": outcome.scores[baselines.MODEL].n,
            "cv_up_rate": outcome.scores[baselines.MODEL].up_rate,
        }
        metrics |= {f"seconds_{k}": v for k, v in outcome.seconds.items()}
        mlflow.log_metrics(_finite(metrics))
        now = int(time.time() * 1000)
        fold_metrics = [
            Metric(f"fold_{who}_{m}", float(getattr(f.scores[who], m)), now, f.index)
            for f in outcome.folds
            for who in baselines.ALL_MODELS
            for m in METRIC_NAMES
            if math.isfinite(getattr(f.scores[who], m))
        ]
        tracking.client().log_batch(run.info.run_id, metrics=fold_metrics)

        mlflow.log_dict(
            {
                "features": outcome.features,
                "news_features": outcome.news_features,
                "market_features": [c for c in outcome.features if c not in outcome.news_features],
                "importance_gain": outcome.importance,
            },
            "features.json",
        )
        mlflow.log_dict(
            {
                "folds": [
                    {
                        "index": f.index,
                        "validation_sessions": [d.isoformat() for d in f.validation_sessions],
                        "n_train": f.n_train,
                        "n_val": f.n_val,
                        "n_purged": f.n_purged,
                        "n_embargoed": f.n_embargoed,
                        "best_trees": f.best_trees,
                        "scored_with_trees": f.scored_trees,
                        "scores": {k: s.as_dict() for k, s in f.scores.items()},
                    }
                    for f in outcome.folds
                ],
                "decision": decision.label,
                "reasons": decision.reasons,
            },
            "folds.json",
        )
        title = f"finsig-direction {ctx.partition}"
        y = outcome.oos["label_up"].to_numpy().astype(float)
        probs = {
            baselines.LABELS[baselines.MODEL]: outcome.oos["p_model"].to_numpy(),
            baselines.LABELS[baselines.MARKET_ONLY]: outcome.oos["p_market_only"].to_numpy(),
        }
        for figure, name in ((feature_importance_figure(outcome.importance, title), "feature_importance.png"),
                             (calibration_figure(y, probs, title), "calibration.png")):  # fmt: skip
            mlflow.log_figure(figure, f"plots/{name}")
            plt.close(figure)
        log_market_only(outcome.market_only_booster)
        version, model_uri = register_booster(outcome.booster, outcome.input_example, tracking.registered_model_name)
        client = tracking.client()
        for key, value in {
            TAG_TRAINED_THROUGH: ctx.window_last.isoformat(),
            TAG_SENTIMENT_MODEL: ctx.sentiment_model or "",
            TAG_RTH_ONLY: "true" if ctx.rth_only else "false",
            TAG_DAGSTER_RUN: ctx.dagster_run_id,
            TAG_DATA_SHA256: outcome.data_sha256,
            TAG_CONFIG_SHA256: config_hash,
            "finsig.window": f"{ctx.window_first}..{ctx.window_last}",
            TAG_TRAIN_UP_RATE: f"{outcome.train_up_rate:.17g}",
        }.items():
            client.set_model_version_tag(tracking.registered_model_name, str(version), key, value)
        mlflow.set_tag("finsig.model_version", str(version))
        return LoggedVersion(run.info.run_id, run.info.experiment_id, version, model_uri)


def log_market_only(booster: xgb.Booster | None) -> None:
    """The market-only baseline beside a version, in the active run (``baselines/market_only.ubj``)."""
    import mlflow.xgboost

    if booster is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MARKET_ONLY_ARTIFACT.split("/")[-1]
        booster.save_model(str(path))
        mlflow.log_artifact(str(path), MARKET_ONLY_ARTIFACT.rsplit("/", 1)[0])


def register_booster(booster: xgb.Booster, example, model_name: str) -> tuple[int, str]:
    """Log the booster in the active run as a new version of ``model_name``: (version, model URI).

    The signature comes from real rows; pip requirements are given (xgboost's pin), which skips
    MLflow's slow requirement inference.
    """
    import mlflow.xgboost
    import xgboost as xgb
    from mlflow.models import infer_signature

    signature = infer_signature(example, booster.predict(xgb.DMatrix(example)).astype(np.float64))
    info = mlflow.xgboost.log_model(
        booster,
        name="model",
        registered_model_name=model_name,
        signature=signature,
        input_example=example,
        pip_requirements=mlflow.xgboost.get_default_pip_requirements(),
    )
    return int(info.registered_model_version), info.model_uri


def log_oos_metrics(tracking: MlflowTracking, run_id: str, session: dt.date, scores: dict[str, float | int | None]) -> None:
    """A predicted session's out-of-sample metrics on the version's training run."""
    from mlflow.entities import Metric

    step = int(session.strftime("%Y%m%d"))
    ts = int(time.time() * 1000)
    names = {"auc": "oos_auc", "log_loss": "oos_log_loss", "brier": "oos_brier", "accuracy": "oos_accuracy", "rank_ic": "oos_rank_ic", "n_labelled": "oos_rows"}
    metrics = [
        Metric(mlflow_name, float(value), ts, step)
        for key, mlflow_name in names.items()
        if (value := scores.get(key)) is not None and math.isfinite(float(value))
    ]
    if metrics:
        tracking.client().log_batch(run_id, metrics=metrics)
