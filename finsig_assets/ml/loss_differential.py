"""A paired test of two forecasts' squared errors on the same rows (Diebold-Mariano, by session).

The return regressor is promoted on evidence the same way the direction model is
(:mod:`finsig_assets.ml.auc_inference`): on the validation rows, its squared error must be
smaller than the market-only regressor's by more than chance explains. Per row the loss
differential is ``d = e_market^2 - e_model^2``; H0: ``E[d] <= 0``. Neighbouring 30-minute
returns overlap and a session shares its volatility, so rows are not independent: the mean's
variance is cluster-robust over sessions, ``C / (C - 1) * sum_c (sum_{i in c} (d_i - mean))^2 /
N^2``, and the statistic is referred to Student's t with ``C - 1`` degrees of freedom (the
Diebold-Mariano test with a session-block long-run variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from finsig_assets.p_values import format_p

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    pass


@dataclass(frozen=True)
class LossDifferentialTest:
    mean_difference: float  # mean of e_b^2 - e_a^2: > 0 when forecast a has the smaller loss
    standard_error: float
    statistic: float
    p_value: float  # one-sided
    n_rows: int
    n_clusters: int
    method: str = "Diebold-Mariano on squared errors, session-clustered"

    @property
    def defined(self) -> bool:
        return math.isfinite(self.p_value)

    def describe(self) -> str:
        if not self.defined:
            return f"no verdict: {self.n_rows:,} rows in {self.n_clusters} session(s) are too few to estimate the variance"
        return (
            f"squared-error reduction {self.mean_difference:+.3e} (SE {self.standard_error:.3e}), "
            f"t = {self.statistic:.2f} (df {self.n_clusters - 1}), one-sided p = {format_p(self.p_value)} "
            f"({self.n_rows:,} rows in {self.n_clusters} sessions)"
        )


def paired_loss_test(actual: np.ndarray, forecast_a: np.ndarray, forecast_b: np.ndarray, clusters: np.ndarray) -> LossDifferentialTest:
    """One-sided test that ``forecast_a`` has a smaller squared error than ``forecast_b``."""
    from scipy.stats import t as student_t

    r = np.asarray(actual, dtype=float)
    d = (r - np.asarray(forecast_b, dtype=float)) ** 2 - (r - np.asarray(forecast_a, dtype=float)) ** 2
    ok = np.isfinite(d)
    d, clusters = d[ok], np.asarray(clusters)[ok]
    n = d.size
    _, codes = np.unique(clusters, return_inverse=True)
    c = int(codes.max()) + 1 if n else 0
    if n == 0 or c < 2:
        return LossDifferentialTest(float(d.mean()) if n else math.nan, math.nan, math.nan, math.nan, n, c)
    mean = float(d.mean())
    sums = np.bincount(codes, weights=d - mean)
    var = c / (c - 1) * float(np.sum(sums * sums)) / (n * n)
    if var == 0.0:
        p_value = 0.5 if mean == 0 else (0.0 if mean > 0 else 1.0)
        stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        return LossDifferentialTest(mean, 0.0, stat, p_value, n, c)
    se = math.sqrt(var)
    stat = mean / se
    return LossDifferentialTest(mean, se, stat, float(student_t.sf(stat, c - 1)), n, c)
