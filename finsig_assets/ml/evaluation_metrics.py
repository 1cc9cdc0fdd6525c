"""Scores for a direction probability: AUC, log loss, Brier, accuracy and rank IC.

- AUC: ``sklearn.metrics.roc_auc_score``; ``nan`` when the labels hold one class only.
- log loss: ``sklearn.metrics.log_loss`` (p clipped to ``[eps, 1 - eps]``; both classes named, so a
  fold of one class still scores).
- Brier: ``sklearn.metrics.brier_score_loss``.
- accuracy: ``sklearn.metrics.accuracy_score`` of ``p >= 0.5`` against the label.
- rank IC: Spearman correlation between ``p`` and the realised ``fwd_return_30m``; ``nan`` when
  either side is constant (a constant forecast has no ranking).

``nan`` means "not defined here", never 0: reports print it as "n/a".

Over several validation folds, :func:`combine` averages the folds' values weighted by their
rows. For log loss, Brier and accuracy that *is* the pooled value; AUC and rank IC stay
within-fold rankings (pooling ranks across folds would mix the folds' base-rate shifts into
them -- a constant per-fold forecast such as the majority class would then show an AUC
different from 0.5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    pass


METRIC_NAMES = ("auc", "log_loss", "brier", "accuracy", "rank_ic")


@dataclass(frozen=True)
class Scores:
    n: int
    up_rate: float
    auc: float
    log_loss: float
    brier: float
    accuracy: float
    rank_ic: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in METRIC_NAMES}


NAN_SCORES = Scores(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)


def auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=bool)
    if y.size == 0 or y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, p))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import log_loss as sklearn_log_loss

    y = np.asarray(y, dtype=int)
    if y.size == 0:
        return math.nan
    return float(sklearn_log_loss(y, np.asarray(p, dtype=float), labels=[0, 1]))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import brier_score_loss

    y = np.asarray(y, dtype=int)
    if y.size == 0:
        return math.nan
    return float(brier_score_loss(y, np.asarray(p, dtype=float), pos_label=1))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    y = np.asarray(y, dtype=bool)
    if y.size == 0:
        return math.nan
    return float(accuracy_score(y, np.asarray(p, dtype=float) >= 0.5))


def rank_ic(p: np.ndarray, fwd_return: np.ndarray) -> float:
    from scipy.stats import spearmanr

    p = np.asarray(p, dtype=float)
    r = np.asarray(fwd_return, dtype=float)
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    if p.size < 3 or np.ptp(p) == 0 or np.ptp(r) == 0:
        return math.nan
    return float(spearmanr(p, r).statistic)


def score(y: np.ndarray, p: np.ndarray, fwd_return: np.ndarray) -> Scores:
    y = np.asarray(y, dtype=bool)
    if y.size == 0:
        return NAN_SCORES
    return Scores(
        n=int(y.size),
        up_rate=float(y.mean()),
        auc=auc(y, p),
        log_loss=log_loss(y, p),
        brier=brier(y, p),
        accuracy=accuracy(y, p),
        rank_ic=rank_ic(p, fwd_return),
    )


def combine(fold_scores: list[Scores]) -> Scores:
    """Row-weighted mean of per-fold scores; undefined (nan) folds are left out per metric."""
    folds = [f for f in fold_scores if f.n > 0]
    if not folds:
        return NAN_SCORES
    n = np.array([f.n for f in folds], dtype=float)

    def mean(name: str) -> float:
        v = np.array([getattr(f, name) for f in folds], dtype=float)
        ok = np.isfinite(v)
        return float(np.average(v[ok], weights=n[ok])) if ok.any() else math.nan

    return Scores(int(n.sum()), mean("up_rate"), *(mean(m) for m in METRIC_NAMES))


def auc_standard_error(auc_value: float, n_pos: int, n_neg: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC from its class counts."""
    if not math.isfinite(auc_value) or n_pos < 1 or n_neg < 1:
        return math.nan
    a = auc_value
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def finite_or_none(value: float | None) -> float | None:
    """``None`` for nan/inf (DuckDB NULL, metadata "n/a"), the float otherwise."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def fmt(value: float | None, digits: int = 4) -> str:
    v = finite_or_none(value)
    return "n/a" if v is None else f"{v:.{digits}f}"
