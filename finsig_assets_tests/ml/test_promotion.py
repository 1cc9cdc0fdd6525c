"""Promotion rules (pure), the champion comparison, and the champion's point-in-time history."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from finsig_assets.ml import baselines
from finsig_assets.ml.champion_history import RegisteredVersion, champion_as_of
from finsig_assets.ml.evaluation_metrics import Scores
from finsig_assets.ml.promotion import ChampionComparison, PromotionRules, compare_with_champion, decide_promotion

RULES = PromotionRules(margin_auc=0.02, champion_tolerance_auc=0.01, min_record_rows=50)


def scores(model_auc, market_auc, model_ll=0.68, majority_ll=0.693) -> dict[str, Scores]:
    def s(a, ll):
        return Scores(1000, 0.5, a, ll, 0.25, 0.5, math.nan)

    return {
        baselines.MODEL: s(model_auc, model_ll),
        baselines.MARKET_ONLY: s(market_auc, 0.692),
        baselines.MAJORITY: s(0.5, majority_ll),
        baselines.SIGN_RET_30M: s(0.5, 0.693),
    }


def test_promoted_only_when_every_rule_passes():
    d = decide_promotion(scores(0.60, 0.55), RULES, None)
    assert d.promote and d.label == "champion"
    assert all(d.checks.values())
    assert any("no champion yet" in r for r in d.reasons)


def test_news_must_beat_market_only_by_the_margin():
    d = decide_promotion(scores(0.565, 0.55), RULES, None)
    assert not d.promote
    assert d.checks["beats_market_only"] is False and d.checks["beats_majority"] is True
    assert any(r.startswith("FAIL") and "market-only" in r for r in d.reasons)


def test_noise_fails_majority_and_log_loss():
    d = decide_promotion(scores(0.505, 0.48, model_ll=0.70), RULES, None)
    assert not d.promote
    assert d.checks["beats_majority"] is False
    assert d.checks["log_loss_beats_majority"] is False


def test_undefined_auc_is_not_promoted():
    d = decide_promotion(scores(math.nan, 0.5), RULES, None)
    assert not d.promote and d.checks["model_auc_defined"] is False


def test_champion_record_blocks_a_worse_challenger_and_allows_within_tolerance():
    worse = ChampionComparison(3, dt.date(2024, 3, 1), "same rows", 500, (dt.date(2024, 3, 4),), 0.66, 0.62)
    assert decide_promotion(scores(0.62, 0.55), RULES, worse).checks["champion_record"] is False
    close = ChampionComparison(3, dt.date(2024, 3, 1), "same rows", 500, (dt.date(2024, 3, 4),), 0.625, 0.62)
    assert decide_promotion(scores(0.62, 0.55), RULES, close).promote
    # A short, noisy record: 4 points worse is within 2 standard errors of the difference.
    noisy = ChampionComparison(3, dt.date(2024, 3, 1), "same rows", 360, (dt.date(2024, 3, 4),), 0.66, 0.62, se_diff=0.03)
    d = decide_promotion(scores(0.62, 0.55), RULES, noisy)
    assert d.promote and "2 x se 0.0300" in d.reasons[-1]
    none = ChampionComparison(3, dt.date(2024, 3, 1), "no usable record", 10, (), None, None)
    d = decide_promotion(scores(0.62, 0.55), RULES, none)
    assert d.promote and any("no usable out-of-sample record" in r for r in d.reasons)


def _preds(n, p, y, day=dt.date(2024, 3, 12)):
    ts = [dt.datetime(2024, 3, 12, 14, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i) for i in range(n)]
    return pl.DataFrame({"instrument": ["X"] * n, "ts": ts, "trade_date": [day] * n, "p_up": p, "label_up": y})


def test_comparison_uses_the_same_rows_when_the_folds_cover_them():
    rng = np.random.default_rng(0)
    y = rng.random(200) > 0.5
    champion_p = np.where(y, 0.6, 0.4) + rng.normal(0, 0.3, 200)  # decent
    champ = _preds(200, champion_p, y)
    candidate = _preds(200, rng.random(200), y).rename({"p_up": "p_model"})  # noise on the same rows
    version = RegisteredVersion(1, "run", dt.date(2024, 3, 11), True, {})
    c = compare_with_champion(version, champ, candidate, candidate_auc=0.9, rules=RULES)
    assert c.basis == "same rows" and c.n_rows == 200
    assert c.champion_auc > 0.6 and abs(c.candidate_auc - 0.5) < 0.1  # not the 0.9 fold AUC
    assert 0.04 < c.se_diff < 0.09  # 200 rows
    elsewhere = candidate.with_columns(pl.col("ts") + dt.timedelta(days=30))
    pooled = compare_with_champion(version, champ, elsewhere, candidate_auc=0.9, rules=RULES)
    assert pooled.basis == "pooled" and pooled.candidate_auc == 0.9
    tiny = compare_with_champion(version, champ.head(10), candidate, candidate_auc=0.9, rules=RULES)
    assert tiny.basis == "no usable record"


def test_champion_as_of_is_the_latest_promoted_version_trained_by_that_session():
    def v(n, through, promoted):
        return RegisteredVersion(n, f"run{n}", dt.date.fromisoformat(through), promoted, {})

    versions = [
        v(1, "2024-03-05", True),
        v(2, "2024-03-06", False),
        v(3, "2024-03-07", True),
        v(4, "2024-03-05", True),  # a later retrain of 03-05
    ]
    assert champion_as_of(versions, dt.date(2024, 3, 4)) is None
    assert champion_as_of(versions, dt.date(2024, 3, 5)).version == 4
    assert champion_as_of(versions, dt.date(2024, 3, 6)).version == 4  # v2 was not promoted
    assert champion_as_of(versions, dt.date(2024, 3, 8)).version == 3
