"""The report's numbers against independent computations: sklearn's AUC and calibration curve, numpy's histogram."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from finsig_assets.ml import performance_numbers as numbers
from finsig_assets.ml.champion_history import RegisteredVersion
from finsig_assets_tests.ml.synthetic_examples import sessions_from
from finsig_assets.trading_calendar import next_session

DAYS = sessions_from("2024-03-04", 9)


def fake_predictions(seed: int = 3, rows: int = 120) -> pl.DataFrame:
    """Nine sessions; the last 30 rows of each unlabelled, the last session not labelled at all,
    no market-only probability in the first two sessions (a version from before it was kept)."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, day in enumerate(DAYS):
        signal = rng.normal(size=rows)
        label = (0.6 * signal + rng.normal(size=rows)) > 0
        p_up = 1 / (1 + np.exp(-(0.2 * signal + 0.05 * rng.normal(size=rows))))
        p_market = 1 / (1 + np.exp(-0.3 * rng.normal(size=rows)))
        labels = pl.Series("label_up", label, dtype=pl.Boolean)
        labels = labels.scatter(range(rows - 30, rows), None)
        if i == len(DAYS) - 1:
            labels = pl.Series("label_up", [None] * rows, dtype=pl.Boolean)
        parts.append(
            pl.DataFrame(
                {
                    "trade_date": [day] * rows,
                    "model_version": [1 if i < 4 else 2] * rows,
                    "trained_through": [DAYS[0] - dt.timedelta(days=3) if i < 4 else DAYS[3]] * rows,
                    "p_up": p_up,
                    "label_up": labels,
                    "p_up_market_only": pl.Series(p_market).scatter(range(rows), None) if i < 2 else pl.Series(p_market),
                },
                schema_overrides={"trade_date": pl.Date, "trained_through": pl.Date, "model_version": pl.Int32},
            )
        )
    return pl.concat(parts)


def reference_window(preds: pl.DataFrame, day: dt.date, k: int) -> pl.DataFrame:
    labelled = preds.filter(pl.col("label_up").is_not_null())
    days = sorted({d for d in labelled["trade_date"].to_list() if d <= day})[-k:]
    return labelled.filter(pl.col("trade_date").is_in(days))


def test_rolling_auc_of_a_session_is_sklearns_auc_on_its_window_rows():
    preds = fake_predictions()
    points = numbers.rolling_auc(preds, window_sessions=3)
    assert points["trade_date"].to_list() == DAYS[:-1]  # the unlabelled session has no point
    for row in points.iter_rows(named=True):
        rows = reference_window(preds, row["trade_date"], 3)
        y = rows["label_up"].to_numpy()
        assert row["labelled_rows"] == rows.height
        assert row["window_first"] == rows["trade_date"].min()
        assert row["window_sessions"] == rows["trade_date"].n_unique()
        assert row["auc"] == pytest.approx(roc_auc_score(y, rows["p_up"].to_numpy()), abs=1e-12)
        if row["window_sessions"] >= 2:
            assert row["ci_low"] < row["auc"] < row["ci_high"]
        else:
            assert row["ci_low"] is None and row["ci_high"] is None  # one cluster: no band
        with_market = rows.filter(pl.col("p_up_market_only").is_not_null())
        assert row["market_only_rows"] == with_market.height
        if with_market.height:
            expected = roc_auc_score(with_market["label_up"].to_numpy(), with_market["p_up_market_only"].to_numpy())
            assert row["market_only_auc"] == pytest.approx(expected, abs=1e-12)
        else:
            assert row["market_only_auc"] is None
        assert row["majority_auc"] == 0.5
    assert points["served_version"].to_list() == [1, 1, 1, 1, 2, 2, 2, 2]
    # The planted signal: the champion ranks better than the noise baseline once there is one.
    assert points.filter(pl.col("market_only_rows") > 0)["auc_minus_market_only"].min() > 0


def test_rolling_points_can_be_asked_for_some_sessions_only():
    preds = fake_predictions()
    everything = numbers.rolling_auc(preds, window_sessions=4)
    some = numbers.rolling_auc(preds, window_sessions=4, at=[DAYS[5], DAYS[8]])
    assert some["trade_date"].to_list() == [DAYS[5]]  # DAYS[8] has no labels
    assert some.row(0) == everything.filter(pl.col("trade_date") == DAYS[5]).row(0)


def test_window_rows_and_calibration_on_them():
    preds = fake_predictions()
    rows = numbers.window_rows(preds, DAYS[8], 3)
    assert sorted(rows["trade_date"].unique().to_list()) == DAYS[5:8]
    assert rows["label_up"].null_count() == 0
    table = numbers.calibration_table(rows, bins=5)
    assert table["rows"].sum() == rows.height
    assert table["mean_p_up"].to_list() == sorted(table["mean_p_up"].to_list())


def test_calibration_bins_match_sklearn_and_a_histogram():
    rng = np.random.default_rng(7)
    n = 1002  # (n - 1) coprime with 10: no quantile edge falls on a data point
    p = rng.uniform(0.3, 0.7, size=n)
    y = rng.uniform(size=n) < p
    frame = pl.DataFrame({"p_up": p, "label_up": y, "trade_date": [DAYS[0]] * n})
    table = numbers.calibration_table(frame, bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(table["mean_p_up"].to_numpy(), prob_pred, rtol=1e-12)
    np.testing.assert_allclose(table["up_rate"].to_numpy(), prob_true, rtol=1e-12)
    counts, _ = np.histogram(p, bins=np.quantile(p, np.linspace(0, 1, 11)))
    assert table["rows"].to_list() == counts.tolist()
    assert table["bin"].to_list() == list(range(1, 11))


def test_calibration_of_no_labelled_rows_is_empty():
    preds = fake_predictions().filter(pl.col("trade_date") == DAYS[8])
    assert numbers.calibration_table(preds).is_empty()
    assert numbers.rolling_auc(preds, 3).is_empty()


def test_served_history_and_version_marks():
    preds = fake_predictions()
    history = numbers.served_history(preds)
    assert history["trade_date"].to_list() == DAYS
    assert history["model_version"].to_list() == [1] * 4 + [2] * 5
    assert history["rows"].to_list() == [120] * 9
    assert history["labelled_rows"].to_list() == [90] * 8 + [0]
    versions = [
        RegisteredVersion(1, "r1", DAYS[0] - dt.timedelta(days=3), True, {}),
        RegisteredVersion(2, "r2", DAYS[3], True, {}),
        RegisteredVersion(3, "r3", DAYS[5], False, {}),
        RegisteredVersion(4, None, None, False, {}),
    ]
    marks = numbers.version_marks(versions, DAYS[1], DAYS[8])
    assert marks["model_version"].to_list() == [2, 3]
    assert marks["first_session"].to_list() == [next_session(DAYS[3]), next_session(DAYS[5])]
    assert marks["promoted"].to_list() == [True, False]


def test_earliest_needed_covers_history_and_windows():
    days = pl.DataFrame({"trade_date": DAYS, "labelled": [True] * 3 + [False] + [True] * 5})
    # 2 history points with 3-session windows: the last 4 labelled sessions (DAYS[5..8]).
    assert numbers.earliest_needed(days, window_sessions=3, history_sessions=2) == DAYS[5]
    # The history chart needs the last 8 predicted sessions, labelled or not.
    early_unlabelled = days.with_columns(labelled=pl.Series([False] * 3 + [True] * 6))
    assert numbers.earliest_needed(early_unlabelled, window_sessions=2, history_sessions=8) == DAYS[1]
    assert numbers.earliest_needed(days, window_sessions=20, history_sessions=60) == DAYS[0]
    assert numbers.earliest_needed(days.head(0), 3, 2) is None
