"""Baselines: majority class and the momentum rule, fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pytest

from finsig_assets.ml import baselines
from finsig_assets.ml.training_table import FeatureSet


def test_market_only_means_without_news_columns():
    fs = FeatureSet(market=("ret_30m", "rsi_14"), news=("news_count_60m",))
    assert baselines.market_only_features(fs) == ["ret_30m", "rsi_14"]


def test_majority_predicts_the_training_up_rate():
    p = baselines.majority_probability(np.array([1, 1, 1, 0]), 3)
    assert p.tolist() == [0.75, 0.75, 0.75]


def test_sign_rule_keeps_its_direction_and_learns_its_confidence_from_training_rows():
    ret_train = np.array([0.1, 0.2, -0.1, -0.3, 0.4, np.nan])
    y_train = np.array([True, True, False, False, False, True])  # 4 hits of 5 known
    ret_val = np.array([0.5, -0.5, np.nan, 0.0])
    p = baselines.sign_probability(ret_train, y_train, ret_val)
    c = (4 + 1) / (5 + 2)
    assert p[0] == pytest.approx(c)
    assert p[1] == pytest.approx(1 - c)
    assert p[2] == pytest.approx(y_train.mean())  # no ret_30m -> training up-rate
    assert p[3] == pytest.approx(1 - c)  # zero return is "not up"
    # A rule that was always wrong in training still predicts momentum, at confidence ~0.5.
    anti = baselines.sign_probability(np.array([1.0, -1.0] * 10), np.array([False, True] * 10), np.array([1.0, -1.0]))
    assert anti[0] > 0.5 > anti[1]
    assert anti[0] == pytest.approx(0.5, abs=1e-5)
