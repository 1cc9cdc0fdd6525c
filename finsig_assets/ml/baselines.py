"""The baselines the direction model must beat, scored on the same validation folds.

- ``market_only``: the same XGBoost procedure (same folds, same early stopping, same
  hyper-parameters) on the market features only -- every feature without the ``news_``
  prefix. The model's AUC minus this one's is the measured value of news.
- ``majority``: the majority class of the fold's *training* rows, predicted with the training
  up-rate as probability (a constant: AUC 0.5, no rank IC).
- ``sign_ret_30m``: up when the last 30-minute return (``ret_30m``) is positive, down
  otherwise (momentum; the rule's direction is fixed, so its AUC, accuracy and rank IC are the
  rule's). As a probability it says ``c`` for up and ``1 - c`` for down, where ``c`` is the
  rule's hit rate on the training rows (Laplace-smoothed, kept just above 0.5 so the rule's
  direction never flips); rows without ``ret_30m`` get the training up-rate. That makes its
  log loss and Brier score meaningful: a rule with no skill has ``c`` near 0.5.

Every statistic here comes from the fold's training rows only.
"""

from __future__ import annotations

import numpy as np

from finsig_assets.ml.training_table import FeatureSet

MODEL = "model"
MARKET_ONLY = "market_only"
MAJORITY = "majority"
SIGN_RET_30M = "sign_ret_30m"
ALL_MODELS = (MODEL, MARKET_ONLY, MAJORITY, SIGN_RET_30M)
LABELS = {
    MODEL: "model (market + news)",
    MARKET_ONLY: "market-only XGBoost",
    MAJORITY: "majority class",
    SIGN_RET_30M: "sign of ret_30m",
}


def market_only_features(features: FeatureSet) -> list[str]:
    return list(features.market)


def majority_probability(y_train: np.ndarray, n: int) -> np.ndarray:
    """The training up-rate, for ``n`` validation rows (its side of 0.5 is the majority class)."""
    y_train = np.asarray(y_train, dtype=float)
    rate = float(y_train.mean()) if y_train.size else 0.5
    return np.full(n, rate)


def sign_probability(ret_train: np.ndarray, y_train: np.ndarray, ret_val: np.ndarray) -> np.ndarray:
    """The momentum rule as a probability, its confidence fitted on the training rows."""
    ret_train = np.asarray(ret_train, dtype=float)
    y_train = np.asarray(y_train, dtype=bool)
    ret_val = np.asarray(ret_val, dtype=float)
    base = float(y_train.mean()) if y_train.size else 0.5
    known = np.isfinite(ret_train)
    hits = float(((ret_train[known] > 0) == y_train[known]).sum())
    hit_rate = (hits + 1.0) / (float(known.sum()) + 2.0)
    c = min(max(hit_rate, 0.5 + 1e-6), 1.0 - 1e-6)
    out = np.full(ret_val.shape, base)
    finite = np.isfinite(ret_val)
    out[finite & (ret_val > 0)] = c
    out[finite & (ret_val <= 0)] = 1.0 - c
    return out
