"""Metrics agree with scikit-learn / scipy, and undefined values are nan, not 0."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from finsig_assets.ml import evaluation_metrics as em


@pytest.fixture
def sample():
    rng = np.random.default_rng(3)
    r = rng.standard_normal(500)
    y = r > 0
    p = 1 / (1 + np.exp(-(0.8 * r + rng.standard_normal(500))))
    return y, p, r


def test_metrics_match_sklearn_and_scipy(sample):
    y, p, r = sample
    s = em.score(y, p, r)
    assert s.n == 500
    assert s.up_rate == pytest.approx(y.mean())
    assert s.auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert s.log_loss == pytest.approx(log_loss(y, p), abs=1e-12)
    assert s.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert s.accuracy == pytest.approx(accuracy_score(y, p >= 0.5), abs=1e-12)
    assert s.rank_ic == pytest.approx(spearmanr(p, r).statistic, abs=1e-12)


def test_extreme_probabilities_are_clipped_like_sklearn():
    y = np.array([True, False, True])
    p = np.array([0.0, 1.0, 1.0])
    assert em.log_loss(y, p) == pytest.approx(log_loss(y, p, labels=[False, True]), rel=1e-6)


def test_undefined_values_are_nan():
    y = np.ones(10, dtype=bool)
    p = np.linspace(0.1, 0.9, 10)
    s = em.score(y, p, np.linspace(-1, 1, 10))
    assert math.isnan(s.auc)  # one class
    assert not math.isnan(s.log_loss)
    assert math.isnan(em.rank_ic(np.full(10, 0.5), np.linspace(-1, 1, 10)))  # constant forecast
    assert em.score(np.array([], bool), np.array([]), np.array([])) == em.NAN_SCORES
    assert em.fmt(float("nan")) == "n/a" and em.finite_or_none(float("inf")) is None


def test_combine_weights_folds_by_rows_and_equals_pooled_for_averages(sample):
    y, p, r = sample
    a, b = em.score(y[:100], p[:100], r[:100]), em.score(y[100:], p[100:], r[100:])
    c = em.combine([a, b])
    assert c.n == 500
    assert c.log_loss == pytest.approx(log_loss(y, p), abs=1e-12)
    assert c.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert c.accuracy == pytest.approx(accuracy_score(y, p >= 0.5), abs=1e-12)
    assert c.auc == pytest.approx(0.2 * a.auc + 0.8 * b.auc)
    constant = em.combine([em.score(y[:100], np.full(100, 0.3), r[:100]), em.score(y[100:], np.full(400, 0.6), r[100:])])
    assert constant.auc == 0.5  # a constant forecast per fold never ranks, pooled or not
    assert math.isnan(constant.rank_ic)


def test_auc_standard_error_shrinks_with_rows():
    small = em.auc_standard_error(0.7, 180, 180)
    large = em.auc_standard_error(0.7, 3600, 3600)
    assert 0.025 < small < 0.03  # Hanley-McNeil for 360 rows
    assert large < small / 4
    assert math.isnan(em.auc_standard_error(0.7, 0, 10))
