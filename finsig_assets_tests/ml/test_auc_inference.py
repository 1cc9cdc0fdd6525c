"""The clustered DeLong test against independent references: sklearn's AUC, DeLong's O(mn)
kernel formula, a session block bootstrap, and its rejection rate on simulated sessions of
overlapping 30-minute labels where nothing predicts anything."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from finsig_assets.ml.auc_inference import auc_estimate, auc_influence, paired_auc_test, unpaired_auc_test

BARS, HORIZON = 390, 30


def _delong_kernel(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) by its definition: the O(mn) comparison matrix, sample covariances."""
    pos, neg = y.astype(bool), ~y.astype(bool)

    def placements(p):
        d = p[pos][:, None] - p[neg][None, :]
        k = (d > 0) + 0.5 * (d == 0)
        return k.mean(axis=1), k.mean(axis=0)

    v10a, v01a = placements(a)
    v10b, v01b = placements(b)
    m, n = pos.sum(), neg.sum()
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    var_a = s10[0, 0] / m + s01[0, 0] / n
    var_diff = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    return float(var_a), float(var_diff)


def _sessions(rng, n_sessions: int, signal: float = 0.0):
    """One-minute returns, labels = sign of the next 30 (overlapping), persistent scores."""
    y, s_news, s_market, day = [], [], [], []
    for d in range(n_sessions):
        drift_source = np.convolve(rng.normal(size=BARS + HORIZON), np.ones(20) / 20, mode="same")  # a persistent feature
        r = rng.normal(size=BARS + HORIZON) + signal * drift_source
        fwd = np.array([r[t + 1 : t + 1 + HORIZON].sum() for t in range(BARS)])
        y.append(fwd > 0)
        s_news.append(drift_source[:BARS] + np.convolve(rng.normal(size=BARS), np.ones(30) / 30, mode="same"))
        s_market.append(np.convolve(rng.normal(size=BARS), np.ones(30) / 30, mode="same"))
        day.append(np.full(BARS, d))
    return np.concatenate(y), np.concatenate(s_news), np.concatenate(s_market), np.concatenate(day)


def test_auc_and_influences_match_sklearn_and_delongs_formula():
    rng = np.random.default_rng(1)
    y = rng.random(600) > 0.4
    a = np.round(rng.normal(size=600) + 0.5 * y, 1)  # ties on purpose
    b = np.round(rng.normal(size=600) + 0.3 * y + 0.5 * a, 1)
    auc, psi = auc_influence(y, a)
    assert auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert abs(psi.sum()) < 1e-12
    var_a, var_diff = _delong_kernel(y, a, b)
    rows = np.arange(y.size)  # one row per cluster: plain DeLong
    assert auc_estimate(y, a, rows).standard_error ** 2 == pytest.approx(var_a, rel=0.01)
    test = paired_auc_test(y, a, b, rows)
    assert test.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert test.standard_error**2 == pytest.approx(var_diff, rel=0.01)


def test_fold_stratified_auc_is_the_row_weighted_mean_of_fold_aucs():
    rng = np.random.default_rng(2)
    y = rng.random(900) > 0.5
    p = rng.normal(size=900) + 0.4 * y
    folds = np.repeat([0, 1, 2], [200, 300, 400])
    y[:200] = rng.random(200) > 0.8  # folds with different base rates
    expected = sum(roc_auc_score(y[folds == k], p[folds == k]) * (folds == k).sum() for k in range(3)) / 900
    assert auc_estimate(y, p, np.arange(900) // 30, folds).auc == pytest.approx(expected, abs=1e-12)


def test_clustered_standard_error_agrees_with_a_session_block_bootstrap():
    rng = np.random.default_rng(3)
    y, news, market, day = _sessions(rng, 30, signal=0.15)
    test = paired_auc_test(y, news, market, day)
    boot = []
    for _ in range(300):
        pick = rng.integers(0, 30, 30)
        idx = np.concatenate([np.flatnonzero(day == d) for d in pick])
        boot.append(roc_auc_score(y[idx], news[idx]) - roc_auc_score(y[idx], market[idx]))
    assert test.standard_error == pytest.approx(np.std(boot, ddof=1), rel=0.25)
    naive = paired_auc_test(y, news, market, np.arange(y.size))
    assert naive.standard_error < 0.6 * test.standard_error  # rows are not independent evidence


def test_one_sided_five_percent_test_rejects_about_five_percent_of_null_data():
    """Overlapping labels, persistent scores, no signal: the clustered test keeps its level,
    the row-independent DeLong test does not (that is what promoted noise before)."""
    rng = np.random.default_rng(4)
    clustered, naive, n = 0, 0, 300
    for _ in range(n):
        y, news, market, day = _sessions(rng, 15)
        clustered += paired_auc_test(y, news, market, day).p_value <= 0.05
        naive += paired_auc_test(y, news, market, np.arange(y.size)).p_value <= 0.05
    # Binomial(300, 0.05): mean 15, sd 3.8.
    assert 4 <= clustered <= 27, clustered
    assert naive >= 40, naive


def test_a_real_difference_is_detected():
    rng = np.random.default_rng(5)
    y, news, market, day = _sessions(rng, 20, signal=2.0)
    test = paired_auc_test(y, news, market, day)
    assert test.difference > 0 and test.p_value < 0.01 and test.n_clusters == 20
    lo, hi = auc_estimate(y, news, day).interval(0.95)
    assert lo < roc_auc_score(y, news) < hi


def test_identical_models_and_single_sessions_give_no_evidence():
    rng = np.random.default_rng(6)
    y, news, _, day = _sessions(rng, 5)
    same = paired_auc_test(y, news, news, day)
    assert same.difference == 0 and same.p_value == 0.5
    one_session = paired_auc_test(y[day == 0], news[day == 0], -news[day == 0], day[day == 0])
    assert not one_session.defined
    a, b = auc_estimate(y, news, day), auc_estimate(y, -news, day)
    assert unpaired_auc_test(a, b).p_value == pytest.approx(1 - unpaired_auc_test(b, a).p_value, abs=1e-12)


def test_few_sessions_in_folds_keep_the_level():
    """Three folds of two sessions (a short window): the influences sum to zero within each fold,
    so the six session sums carry three degrees of freedom, not five."""
    rng = np.random.default_rng(7)
    rejections, n = 0, 400
    for _ in range(n):
        y, news, market, day = _sessions(rng, 6)
        rejections += paired_auc_test(y, news, market, day, folds=day // 2).p_value <= 0.05
    # Binomial(400, 0.05): mean 20, sd 4.4.
    assert 6 <= rejections <= 36, rejections
