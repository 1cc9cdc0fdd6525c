"""One registered version per (training data, configuration), not one per run.

Re-materializing a partition, a backfill over partitions already trained, or the automation's
first tick over an existing history would otherwise register a fresh version of the very same
model each time -- and re-run the promotion decision on no new evidence, which can move
``champion`` on fold noise alone. So each version is tagged with two hashes:

- ``finsig.training_data_sha256``: exactly what the model saw (keys, labels, features, in row
  order; :func:`finsig_assets.ml.direction_training.data_sha256`);
- ``finsig.config_sha256``: every training and promotion setting and the feature lists
  (XGBoost's thread count left out: it does not change the model).

A partition whose window hashes to an existing version's pair reuses that version: no
training, no new MLflow run, aliases untouched; its ``ml.model_runs`` row and metadata are
filled from the version's own run (metrics, params, tags), so they read the same as when it
was trained.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from finsig_assets.ml import baselines
from finsig_assets.ml.champion_history import TAG_PROMOTED, TAG_REASONS, RegisteredVersion

if TYPE_CHECKING:  # mlflow loads in the steps that use the registry, not with the definitions
    from mlflow import MlflowClient

TAG_DATA_SHA256 = "finsig.training_data_sha256"
TAG_CONFIG_SHA256 = "finsig.config_sha256"
_NOT_PART_OF_THE_MODEL = {"nthread"}


def config_sha256(config: Any, features: Any) -> str:
    """A hash of the configuration (a pydantic/Dagster config) and the feature lists."""
    settings = {k: v for k, v in sorted(config.model_dump().items()) if k not in _NOT_PART_OF_THE_MODEL}
    payload = {"config": settings, "market": list(features.market), "news": list(features.news)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def registered_with(versions: list[RegisteredVersion], data_hash: str, config_hash: str) -> RegisteredVersion | None:
    """The latest version trained on exactly this data with exactly this configuration, if any."""
    same = [
        v for v in versions if v.tags.get(TAG_DATA_SHA256) == data_hash and v.tags.get(TAG_CONFIG_SHA256) == config_hash
    ]
    return max(same, key=lambda v: v.version) if same else None


def _metric(metrics: dict[str, float], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if value is not None else None


def _float_tag(tags: dict[str, str], name: str) -> float | None:
    try:
        value = float(tags[name])
    except (KeyError, ValueError):
        return None
    return value if value == value else None  # nan -> None


def reused_row_values(client: MlflowClient, version: RegisteredVersion, model_name: str) -> dict[str, Any]:
    """``ml.model_runs`` values of a reused version, read back from its MLflow run and tags."""
    run = client.get_run(version.run_id) if version.run_id else None
    metrics = dict(run.data.metrics) if run else {}
    params = dict(run.data.params) if run else {}
    tags = version.tags

    def cv(who: str, metric: str) -> float | None:
        return _metric(metrics, f"cv_{who}_{metric}")

    def int_param(name: str) -> int | None:
        try:
            return int(params[name])
        except (KeyError, ValueError):
            return None

    return {
        "mlflow_run_id": version.run_id,
        "mlflow_experiment_id": run.info.experiment_id if run else None,
        "model_name": model_name,
        "model_version": version.version,
        "promoted": tags.get(TAG_PROMOTED) == "true",
        "champion_alias_moved": False,
        "decision_reasons": tags.get(TAG_REASONS),
        "n_sessions": int_param("window_sessions_used"),
        "n_train_rows": int_param("train_rows"),
        "n_trees": int_param("n_trees"),
        "training_data_sha256": tags.get(TAG_DATA_SHA256),
        "model_auc": cv(baselines.MODEL, "auc"),
        "model_log_loss": cv(baselines.MODEL, "log_loss"),
        "model_brier": cv(baselines.MODEL, "brier"),
        "model_accuracy": cv(baselines.MODEL, "accuracy"),
        "model_rank_ic": cv(baselines.MODEL, "rank_ic"),
        "market_only_auc": cv(baselines.MARKET_ONLY, "auc"),
        "market_only_log_loss": cv(baselines.MARKET_ONLY, "log_loss"),
        "majority_auc": cv(baselines.MAJORITY, "auc"),
        "majority_log_loss": cv(baselines.MAJORITY, "log_loss"),
        "majority_accuracy": cv(baselines.MAJORITY, "accuracy"),
        "sign_ret_30m_auc": cv(baselines.SIGN_RET_30M, "auc"),
        "sign_ret_30m_accuracy": cv(baselines.SIGN_RET_30M, "accuracy"),
        "value_of_news_auc": _metric(metrics, "value_of_news_auc"),
        "news_test_statistic": _float_tag(tags, "finsig.news_test_statistic"),
        "news_test_p_value": _float_tag(tags, "finsig.news_test_p_value"),
        "metrics_json": json.dumps({"reused_version": version.version, "mlflow_run_id": version.run_id}),
    }
