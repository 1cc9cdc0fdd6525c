"""The return regressor: scored against the zero forecast and market-only, registered beside the
direction model from the same window, promoted only on evidence."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import mean_squared_error

from finsig_assets.ml.loss_differential import paired_loss_test
from finsig_assets.ml.return_training import score_forecasts
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic, metadata_of, model_runs, train

D = SESSIONS[11]


def test_scores_against_independent_formulas():
    rng = np.random.default_rng(0)
    r = rng.normal(0, 1e-3, 600)
    f_model = 0.3 * r + rng.normal(0, 1e-3, 600)
    folds = np.repeat([0, 1], 300)
    oos = pl.DataFrame({"fwd_return_30m": r, "fold": folds, "f_model": f_model, "f_market_only": np.zeros(600) + 1e-5, "f_zero": 0.0})
    s = score_forecasts(oos)
    assert s["model"].r2 == pytest.approx(1 - mean_squared_error(r, f_model) / mean_squared_error(r, np.zeros(600)))
    assert s["zero"].r2 == 0.0
    ics = [spearmanr(f_model[folds == k], r[folds == k]).statistic for k in (0, 1)]
    assert s["model"].rank_ic == pytest.approx(np.mean(ics))


def test_loss_differential_test_keeps_its_level_on_clustered_null_data():
    rng = np.random.default_rng(1)
    rejections = naive = 0
    for _ in range(300):
        day = np.repeat(np.arange(15), 100)
        shared = np.repeat(rng.normal(0, 1, 15), 100)  # a session-wide shock: rows are not independent
        r = rng.normal(0, 1, 1500) + shared
        # Two equally useless forecasts, each with its own session-wide offset.
        a = rng.normal(0, 0.5, 1500) + np.repeat(rng.normal(0, 0.7, 15), 100)
        b = rng.normal(0, 0.5, 1500) + np.repeat(rng.normal(0, 0.7, 15), 100)
        rejections += paired_loss_test(r, a, b, day).p_value <= 0.05
        naive += paired_loss_test(r, a, b, np.arange(1500)).p_value <= 0.05
    assert 4 <= rejections <= 27, rejections
    assert naive >= 40, naive  # rows taken as independent: far above 5 %
    r = rng.normal(0, 1, 2000)
    day = np.repeat(np.arange(20), 100)
    assert paired_loss_test(r, 0.5 * r, np.zeros(2000), day).p_value < 1e-3  # a real improvement


def test_the_regressor_is_registered_beside_the_direction_model(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=1)
    result = train(warehouse, tracking, D)
    run = model_runs(warehouse).row(0, named=True)
    assert run["return_model_version"] == 1
    client = tracking.client()
    version = client.get_model_version(tracking.return_model_name, "1")
    assert version.tags["finsig.trained_through"] == D.isoformat()
    # Same window, same data: the two models carry the same training-data hash.
    assert version.tags["finsig.training_data_sha256"] == run["training_data_sha256"]
    assert float(version.tags["finsig.oos_r2"]) == pytest.approx(run["return_r2"], rel=1e-5)
    assert str(client.get_model_version_by_alias(tracking.return_model_name, "challenger").version) == "1"
    promoted = version.tags["finsig.promoted"] == "true"
    assert promoted == run["return_promoted"]
    assert promoted == (run["return_test_p_value"] <= 0.05 and run["return_r2"] > 0 and run["return_rank_ic"] > 0)
    meta = metadata_of(result)
    assert meta["return_model_version"] == 1 and "R²" in meta["return_outcome"]
    assert meta["mlflow_return_model_version"].endswith(f"models/{tracking.return_model_name}/versions/1")
    assert meta["return_oos_r2"] == pytest.approx(run["return_r2"])
    # Re-materializing reuses both versions, and the row reads the same as when it was trained.
    train(warehouse, tracking, D)
    assert len(client.search_model_versions(f"name='{tracking.return_model_name}'")) == 1
    again = model_runs(warehouse).row(0, named=True)
    assert again["reason"].startswith("reused v1")
    for column in ("return_model_version", "return_promoted", "return_r2", "return_rank_ic", "return_market_only_r2",
                   "return_market_only_rank_ic", "return_test_p_value"):
        if run[column] is None:  # e.g. a market-only forecast constant within each fold: no rank IC
            assert again[column] is None, column
        else:
            assert again[column] == pytest.approx(run[column], rel=1e-5), column
    # Every figure the row holds is kept on the version, so a reuse can read it back.
    tags = client.get_model_version(tracking.return_model_name, "1").tags
    assert {"finsig.oos_r2", "finsig.oos_rank_ic", "finsig.market_only_oos_r2", "finsig.market_only_oos_rank_ic",
            "finsig.return_test_p_value"} <= set(tags)
