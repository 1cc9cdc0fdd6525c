"""Standard errors and paired tests for AUCs of overlapping 30-minute labels.

Why not plain DeLong: DeLong's variance treats every row as independent. finsig's rows are
one-minute bars whose labels look 30 minutes ahead, so neighbouring labels share up to 29 of
their 30 one-minute returns, and a whole session shares its volatility regime. Treating 5,000
such rows as independent understates the variance several-fold, and a test at "5 %" then
promotes noise far more often than 5 % of the time.

What is used instead -- DeLong's structural components with a **cluster-robust** variance
(Obuchowski 1997, "Nonparametric analysis of clustered ROC curve data"):

- For an AUC on ``m`` positives and ``n`` negatives, each positive ``i`` has the placement
  ``V10_i`` = share of negatives it outranks (ties count 1/2) and each negative ``j`` the
  placement ``V01_j`` = share of positives that outrank it; AUC = mean(V10) = mean(V01).
  The AUC's first-order influence of a row is ``(V10_i - AUC) / m`` or ``(V01_j - AUC) / n``
  (DeLong, DeLong & Clarke-Pearson 1988), computed from mid-ranks in O(N log N) (Sun & Xu
  2014).
- Rows are grouped in clusters -- sessions: labels never cross a session's close (they are
  NULL there), so dependence lives within a session and sessions are taken as independent.
  The variance is ``C / (C - K) * sum_c (sum of the influences of cluster c)^2`` for ``K``
  folds (``K = 1`` without folds). With one row
  per cluster this is DeLong's variance (to a factor ``m / (m - 1)``), which the tests check
  against an O(mn) reference.
- Several validation folds: finsig's fold AUC is the row-weighted mean of the folds' AUCs
  (:func:`finsig_assets.ml.evaluation_metrics.combine`), each ranking only its own fold. The
  influences are computed within each fold and weighted the same way, so the standard error is
  that of exactly the number that is reported.
- A paired difference (model vs market-only on the same rows) has the difference of the two
  influences per row; the shared rows' noise cancels, which is why the test is paired.
- Few clusters make the variance estimate itself noisy: the statistic is referred to
  Student's t, not to the normal, with ``C - K`` degrees of freedom for ``K`` folds -- the
  influences are centred within each fold, one constraint per fold (see
  :func:`_clustered_variance`).

The tests check, on simulated sessions with overlapping labels and no signal, that the
one-sided 5 % test rejects close to 5 % of the time while the row-independent DeLong test
rejects far more often, and that the clustered standard error agrees with a session block
bootstrap.
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
class PairedAucTest:
    """``H0: AUC(a) <= AUC(b)`` against ``AUC(a) > AUC(b)`` on the same rows."""

    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    standard_error: float
    statistic: float  # difference / standard_error (t with clusters - 1 degrees of freedom)
    p_value: float  # one-sided
    n_rows: int
    n_clusters: int
    df: int = 0  # degrees of freedom of the t reference: sessions minus folds
    method: str = "DeLong, session-clustered, fold-stratified"

    @property
    def defined(self) -> bool:
        return math.isfinite(self.p_value)

    def describe(self) -> str:
        if not self.defined:
            return (
                f"no verdict: {self.n_rows:,} rows in {self.n_clusters} session(s) are too few to estimate "
                "the variance (AUC " + (f"{self.auc_a:.4f} vs {self.auc_b:.4f})" if math.isfinite(self.difference) else "undefined)")
            )
        return (
            f"AUC {self.auc_a:.4f} vs {self.auc_b:.4f}: difference {self.difference:+.4f}, SE {self.standard_error:.4f}, "
            f"t = {self.statistic:.2f} (df {self.df}), one-sided p = {format_p(self.p_value)} "
            f"({self.n_rows:,} rows in {self.n_clusters} sessions)"
        )


@dataclass(frozen=True)
class AucEstimate:
    auc: float
    standard_error: float
    n_rows: int
    n_clusters: int
    df: int = 0

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        from scipy.stats import t as student_t

        if not (math.isfinite(self.auc) and math.isfinite(self.standard_error)) or self.df < 1:
            return (math.nan, math.nan)
        q = float(student_t.ppf(0.5 + level / 2, self.df))
        # An AUC lives in [0, 1]; with few sessions the t band reaches past it.
        return (max(0.0, self.auc - q * self.standard_error), min(1.0, self.auc + q * self.standard_error))


def auc_influence(y: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray]:
    """AUC and each row's influence on it (sums to ~0); nan and zeros when one class only."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    m, n = int(y.sum()), int(y.size - y.sum())
    if m == 0 or n == 0:
        return math.nan, np.zeros(y.size)
    r_all = rankdata(p)  # mid-ranks: ties count 1/2
    r_pos = rankdata(p[y])
    r_neg = rankdata(p[~y])
    v10 = (r_all[y] - r_pos) / n  # negatives below each positive
    v01 = 1.0 - (r_all[~y] - r_neg) / m  # positives above each negative
    auc = float(v10.mean())
    psi = np.empty(y.size)
    psi[y] = (v10 - auc) / m
    psi[~y] = (v01 - auc) / n
    return auc, psi


def _stratified(y: np.ndarray, p: np.ndarray, folds: np.ndarray) -> tuple[float, np.ndarray, int]:
    """Row-weighted mean of the folds' AUCs, each row's influence on it, and the folds used
    (folds of one class are left out)."""
    total, psi, weights = 0.0, np.zeros(y.size), []
    parts = []
    for k in np.unique(folds):
        idx = np.flatnonzero(folds == k)
        a, inf = auc_influence(y[idx], p[idx])
        if math.isfinite(a):
            parts.append((idx, a, inf))
            weights.append(idx.size)
    if not parts:
        return math.nan, psi, 0
    w = np.asarray(weights, dtype=float) / float(sum(weights))
    for wk, (idx, a, inf) in zip(w, parts):
        total += wk * a
        psi[idx] = wk * inf
    return total, psi, len(parts)


def _clustered_variance(psi: np.ndarray, clusters: np.ndarray, strata: int = 1) -> tuple[float, int, int]:
    """Cluster-robust variance of a sum of influences, the clusters and the degrees of freedom.

    Influences are centred within each of ``strata`` folds (they sum to zero there), so the
    cluster sums obey one linear constraint per fold: ``C - strata`` degrees of freedom, and the
    small-sample factor is ``C / (C - strata)``. With two sessions in a fold, their two sums are
    each other's negatives -- counting them as two independent clusters (``C / (C - 1)``) would
    understate the variance and make a test with few sessions reject far too often.
    """
    _, codes = np.unique(clusters, return_inverse=True)
    sums = np.bincount(codes, weights=psi)
    c = sums.size
    df = c - max(strata, 1)
    if df < 1:
        return math.nan, c, df
    return float(c / df * np.sum(sums * sums)), c, df


def _folds_or_one(folds: np.ndarray | None, size: int) -> np.ndarray:
    return np.zeros(size, dtype=int) if folds is None else np.asarray(folds)


def auc_estimate(y: np.ndarray, p: np.ndarray, clusters: np.ndarray, folds: np.ndarray | None = None) -> AucEstimate:
    """The (fold-stratified) AUC with its cluster-robust standard error."""
    y = np.asarray(y, dtype=bool)
    a, psi, k = _stratified(y, np.asarray(p, dtype=float), _folds_or_one(folds, y.size))
    var, c, df = _clustered_variance(psi, np.asarray(clusters), k)
    return AucEstimate(a, math.sqrt(var) if math.isfinite(var) else math.nan, int(y.size), c, df)


def paired_auc_test(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    clusters: np.ndarray,
    folds: np.ndarray | None = None,
) -> PairedAucTest:
    """One-sided paired test that ``p_a`` ranks ``y`` better than ``p_b`` on the same rows."""
    from scipy.stats import t as student_t

    y = np.asarray(y, dtype=bool)
    f = _folds_or_one(folds, y.size)
    a, psi_a, k = _stratified(y, np.asarray(p_a, dtype=float), f)
    b, psi_b, _ = _stratified(y, np.asarray(p_b, dtype=float), f)
    var, c, df = _clustered_variance(psi_a - psi_b, np.asarray(clusters), k)
    diff = a - b
    if not (math.isfinite(diff) and math.isfinite(var)):
        return PairedAucTest(a, b, diff, math.nan, math.nan, math.nan, int(y.size), c, df)
    se = math.sqrt(var)
    if se == 0.0:
        # Identical rankings (e.g. no news columns: the model is the market-only model).
        stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p_value = 0.5 if diff == 0 else (0.0 if diff > 0 else 1.0)
        return PairedAucTest(a, b, diff, 0.0, stat, p_value, int(y.size), c, df)
    stat = diff / se
    return PairedAucTest(a, b, diff, se, stat, float(student_t.sf(stat, df)), int(y.size), c, df)


def unpaired_auc_test(first: AucEstimate, second: AucEstimate) -> PairedAucTest:
    """One-sided test that ``first`` > ``second`` when they were measured on different rows."""
    from scipy.stats import t as student_t

    method = "DeLong, session-clustered, independent samples"
    diff = first.auc - second.auc
    var = first.standard_error**2 + second.standard_error**2
    c = min(first.n_clusters, second.n_clusters)
    df = min(first.df, second.df)
    n = first.n_rows + second.n_rows
    if not (math.isfinite(diff) and math.isfinite(var)) or var == 0 or df < 1:
        return PairedAucTest(first.auc, second.auc, diff, math.nan, math.nan, math.nan, n, c, df, method)
    se = math.sqrt(var)
    stat = diff / se
    # Degrees of freedom of the smaller sample: conservative where Welch-Satterthwaite would need both.
    return PairedAucTest(first.auc, second.auc, diff, se, stat, float(student_t.sf(stat, df)), n, c, df, method)
