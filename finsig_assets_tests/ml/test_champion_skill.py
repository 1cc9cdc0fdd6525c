"""champion_skill: the served record against the baselines served with it, on the same rows."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from finsig_assets.ml.champion_skill import champion_skill_result
from finsig_assets.ml.predictions import PREDICTION_SCHEMA
from finsig_assets.trading_calendar import sessions_between

DAYS = sessions_between("2024-07-01", "2024-07-31")


def served(warehouse, rng, strength: float, market_strength: float = 0.0, majority: float | None = 0.5, days=DAYS):
    frames = []
    for day in days:
        n = 300
        label = rng.random(n) < 0.5
        signal = np.where(label, 1.0, -1.0)
        p = 1 / (1 + np.exp(-(strength * signal + rng.normal(0, 1, n))))
        q = 1 / (1 + np.exp(-(market_strength * signal + rng.normal(0, 1, n))))
        ts = [dt.datetime.combine(day, dt.time(14, 0), tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i) for i in range(n)]
        frames.append(
            pl.DataFrame(
                {
                    "instrument": ["SPX500_USD"] * n, "ts": ts, "trade_date": [day] * n, "model_name": ["m"] * n,
                    "model_version": [1] * n, "trained_through": [day - dt.timedelta(days=1)] * n,
                    "champion_as_of": [day - dt.timedelta(days=1)] * n, "p_up": p, "fwd_return_30m": signal * 1e-3,
                    "label_up": label, "predicted_at": [ts[0]] * n, "p_up_market_only": q,
                    "p_up_majority": [majority] * n,
                    "return_model_version": [None] * n, "fwd_return_30m_forecast": [None] * n,
                },
                schema=PREDICTION_SCHEMA,
            )
        )
    with warehouse.transaction() as tx:
        tx.insert("ml.predictions", pl.concat(frames))


def test_no_champion_warns_that_nothing_is_served(warehouse):
    result = champion_skill_result(warehouse, DAYS[-1], 20)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description.startswith("no champion")


def test_served_predictions_without_labels_yet_pass_and_say_so(warehouse):
    served(warehouse, np.random.default_rng(0), strength=1.0, days=DAYS[:1])
    with warehouse.transaction() as tx:
        tx.execute("UPDATE ml.predictions SET label_up = NULL, fwd_return_30m = NULL")
    result = champion_skill_result(warehouse, DAYS[-1], 20)
    assert result.passed and "no out-of-sample record yet" in result.description


def test_a_champion_with_skill_passes(warehouse):
    served(warehouse, np.random.default_rng(1), strength=1.0)
    result = champion_skill_result(warehouse, DAYS[-1], 20)
    assert result.passed, result.description
    assert result.metadata["sessions"].value == 20 and result.metadata["labelled_rows"].value == 20 * 300
    assert result.metadata["champion_auc"].value > result.metadata["market_only_auc"].value


def test_a_champion_without_skill_warns(warehouse):
    served(warehouse, np.random.default_rng(2), strength=0.0)
    result = champion_skill_result(warehouse, DAYS[-1], 20)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description.startswith("NO SKILL")
    assert "log loss" in result.description


def test_a_champion_no_better_than_the_market_only_model_warns(warehouse):
    # Skill, but all of it from the market: the news adds nothing.
    served(warehouse, np.random.default_rng(3), strength=0.5, market_strength=1.0)
    result = champion_skill_result(warehouse, DAYS[-1], 20)
    assert not result.passed and "the news adds nothing" in result.description


def test_only_the_last_sessions_count(warehouse):
    served(warehouse, np.random.default_rng(4), strength=0.0, days=DAYS[:10])
    served(warehouse, np.random.default_rng(5), strength=1.0, days=DAYS[10:])
    assert champion_skill_result(warehouse, DAYS[-1], 5).passed
    assert not champion_skill_result(warehouse, DAYS[9], 5).passed
