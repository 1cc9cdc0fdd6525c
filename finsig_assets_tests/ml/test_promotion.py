"""Promotion rules (pure), the champion comparison, and the champion's point-in-time history."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from finsig_assets.ml import baselines
from finsig_assets.ml.auc_inference import PairedAucTest
from finsig_assets.ml.champion_history import RegisteredVersion, champion_as_of
from finsig_assets.ml.evaluation_metrics import Scores
from finsig_assets.ml.promotion import ChampionComparison, PromotionRules, compare_with_champion, decide_promotion

RULES = PromotionRules(level=0.05, champion_level=0.05, min_record_rows=50)


def scores(model_auc, market_auc, model_ll=0.68, majority_ll=0.693) -> dict[str, Scores]:
    def s(a, ll):
        return Scores(1000, 0.5, a, ll, 0.25, 0.5, math.nan)

    return {
        baselines.MODEL: s(model_auc, model_ll),
        baselines.MARKET_ONLY: s(market_auc, 0.692),
        baselines.MAJORITY: s(0.5, majority_ll),
        baselines.SIGN_RET_30M: s(0.5, 0.693),
    }


def news(p_value: float, a: float = 0.6, b: float = 0.55) -> PairedAucTest:
    return PairedAucTest(a, b, a - b, 0.02, (a - b) / 0.02, p_value, 5000, 20)


def test_promoted_only_when_every_rule_passes():
    d = decide_promotion(scores(0.60, 0.55), news(0.01), RULES, None)
    assert d.promote and d.label == "champion"
    assert all(d.checks.values())
    assert any("no champion yet" in r for r in d.reasons)
    assert any("p = 0.0100" in r for r in d.reasons)


def test_news_must_be_significant_not_just_larger():
    """A difference the paired test cannot tell from noise is not evidence, however large it looks."""
    d = decide_promotion(scores(0.60, 0.55), news(0.2), RULES, None)
    assert not d.promote
    assert d.checks["news_adds_to_market_only"] is False and d.checks["log_loss_beats_majority"] is True
    assert any(r.startswith("FAIL") and "market-only" in r and "p <= 0.05" in r for r in d.reasons)
    few_sessions = PairedAucTest(0.6, 0.55, 0.05, 0.01, 5.0, 0.001, 2000, 5)  # 5 < min_test_sessions
    d = decide_promotion(scores(0.60, 0.55), few_sessions, RULES, None)
    assert not d.promote and "at least 8 validation sessions" in d.reasons[0]
    undefined = PairedAucTest(0.6, 0.55, 0.05, math.nan, math.nan, math.nan, 100, 1)
    assert decide_promotion(scores(0.60, 0.55), undefined, RULES, None).checks["news_adds_to_market_only"] is False


def test_probabilities_worse_than_the_up_rate_are_not_promoted():
    d = decide_promotion(scores(0.56, 0.50, model_ll=0.70), news(0.01), RULES, None)
    assert not d.promote
    assert d.checks["news_adds_to_market_only"] is True and d.checks["log_loss_beats_majority"] is False
    assert decide_promotion(scores(0.56, 0.50, model_ll=0.70), news(0.01), PromotionRules(require_log_loss_beats_majority=False), None).promote


def test_undefined_auc_is_not_promoted():
    d = decide_promotion(scores(math.nan, 0.5), news(0.01), RULES, None)
    assert not d.promote and d.checks["model_auc_defined"] is False


def _comparison(p_value: float, basis: str = "same rows") -> ChampionComparison:
    test = PairedAucTest(0.66, 0.62, 0.04, 0.02, 2.0, p_value, 500, 10) if basis != "no usable record" else None
    return ChampionComparison(3, dt.date(2024, 3, 1), basis, 500, (dt.date(2024, 3, 4),), 0.66, 0.62, test)


def test_champion_record_blocks_only_a_measurably_worse_challenger():
    assert decide_promotion(scores(0.62, 0.55), news(0.01), RULES, _comparison(0.01)).checks["champion_record"] is False
    # Four points worse but within the noise of a short record: not measurably worse.
    d = decide_promotion(scores(0.62, 0.55), news(0.01), RULES, _comparison(0.2))
    assert d.promote and "p = 0.2000" in d.reasons[-1]
    d = decide_promotion(scores(0.62, 0.55), news(0.01), RULES, _comparison(1.0, "no usable record"))
    assert d.promote and any("no usable out-of-sample record" in r for r in d.reasons)
    never_blocks = PromotionRules(champion_level=0.0)
    assert decide_promotion(scores(0.62, 0.55), news(0.01), never_blocks, _comparison(0.001)).promote


def _preds(n, p, y, day=dt.date(2024, 3, 12)):
    ts = [dt.datetime(2024, 3, 12, 14, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i) for i in range(n)]
    return pl.DataFrame({"instrument": ["X"] * n, "ts": ts, "trade_date": [day] * n, "p_up": p, "label_up": y})


def test_comparison_uses_the_same_rows_when_the_folds_cover_them():
    rng = np.random.default_rng(0)
    y = rng.random(2000) > 0.5
    champion_p = np.where(y, 0.6, 0.4) + rng.normal(0, 0.3, 2000)  # decent
    champ = _preds(2000, champion_p, y)
    candidate = (
        _preds(2000, rng.random(2000), y).rename({"p_up": "p_model"}).with_columns(pl.lit(0).alias("fold"))
    )  # noise on the same rows
    version = RegisteredVersion(1, "run", dt.date(2024, 3, 11), True, {})
    c = compare_with_champion(version, champ, candidate, rules=RULES)
    assert c.basis == "same rows" and c.n_rows == 2000
    assert c.champion_auc > 0.6 and abs(c.candidate_auc - 0.5) < 0.1
    assert c.test.auc_a == c.champion_auc and c.test.auc_b == c.candidate_auc
    # One session is one cluster: no variance can be estimated from it, so no verdict.
    assert not c.test.defined
    spread = champ.with_columns((pl.col("trade_date") + pl.duration(days=pl.int_range(2000) % 10)).alias("trade_date"))
    c = compare_with_champion(version, spread, candidate, rules=RULES)
    assert c.test.defined and c.test.n_clusters == 10 and c.test.p_value < 0.01  # the champion is clearly better
    elsewhere = candidate.with_columns(pl.col("ts") + dt.timedelta(days=30), pl.col("trade_date") + dt.timedelta(days=30))
    pooled = compare_with_champion(version, spread, elsewhere, rules=RULES)
    assert pooled.basis == "pooled" and pooled.test.method.endswith("independent samples")
    tiny = compare_with_champion(version, champ.head(10), candidate, rules=RULES)
    assert tiny.basis == "no usable record" and tiny.test is None


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
