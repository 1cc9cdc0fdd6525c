"""The 30-minute log-return regressor, trained beside the direction model on the same folds.

The replaced system fitted return regressors and reported a test R² below zero; finsig reports
its out-of-sample figures honestly whatever they are, and promotes a regressor only on
evidence. ``train_return_model(frame, features, settings)`` is pure (no I/O) and follows
:func:`finsig_assets.ml.direction_training.train_direction_model` step for step, so both
models of a partition see the same window, the same folds (same purging and embargo) and the
same nested choice of tree counts -- only the target (``fwd_return_30m``, a log return) and the
objective (squared error) differ:

1. On every fold, XGBoost on all features and a market-only XGBoost, early stopping on the
   fold's validation RMSE; each fold is scored with the median of the *other* folds' best
   tree counts.
2. Scores on the validation rows (out of sample for every forecast compared):

   - ``r2``: out-of-sample R² against the **zero forecast**, ``1 - sum (r - f)^2 / sum r^2``
     pooled over the folds -- the natural benchmark for a return (a fitted mean would use
     the future); below 0 means worse than predicting no move;
   - ``rank_ic``: Spearman correlation of forecast and realised return (row-weighted mean of
     the folds');
   - ``rmse``.

3. ``test``: the paired squared-error test of the model against the market-only regressor
   (:mod:`finsig_assets.ml.loss_differential`) -- the news features must reduce the error by
   more than chance, as news must lift the direction model's AUC.
4. Final fits on the whole window with the median tree counts; the market-only regressor is
   kept too.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from finsig_assets.ml import baselines
from finsig_assets.ml.direction_training import TrainingDataError, TrainingSettings, feature_matrix, fit_on_folds, tree_gain, window_folds
from finsig_assets.ml.loss_differential import LossDifferentialTest, paired_loss_test
from finsig_assets.ml.training_table import RETURN_COLUMN, FeatureSet

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    import pandas as pd
    import xgboost as xgb


MODEL, MARKET_ONLY, ZERO = "model", "market_only", "zero"
FORECASTS = (MODEL, MARKET_ONLY, ZERO)


@dataclass(frozen=True)
class ReturnScores:
    n: int
    r2: float
    rank_ic: float
    rmse: float


@dataclass
class ReturnOutcome:
    booster: xgb.Booster
    market_only_booster: xgb.Booster | None
    features: list[str]
    n_trees: int
    scores: dict[str, ReturnScores]
    test: LossDifferentialTest
    oos: pl.DataFrame
    importance: dict[str, float]
    input_example: pd.DataFrame
    sessions: list[dt.date]
    n_rows: int


def params(settings: TrainingSettings) -> dict:
    return settings.xgb_params() | {"objective": "reg:squarederror", "eval_metric": "rmse"}


def _rank_ic(f: np.ndarray, r: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if f.size < 3 or np.ptp(f) == 0 or np.ptp(r) == 0:
        return math.nan
    return float(spearmanr(f, r).statistic)


def score_forecasts(oos: pl.DataFrame) -> dict[str, ReturnScores]:
    """R² against the zero forecast (pooled), rank IC (fold-weighted), RMSE, per forecast."""
    r = oos[RETURN_COLUMN].to_numpy()
    folds = oos["fold"].to_numpy()
    sst = float(np.sum(r * r))
    out = {}
    for name in FORECASTS:
        f = oos[f"f_{name}"].to_numpy()
        sse = float(np.sum((r - f) ** 2))
        ics, weights = [], []
        for k in np.unique(folds):
            m = folds == k
            ic = _rank_ic(f[m], r[m])
            if math.isfinite(ic):
                ics.append(ic)
                weights.append(m.sum())
        out[name] = ReturnScores(
            n=int(r.size),
            r2=1.0 - sse / sst if sst > 0 else math.nan,
            rank_ic=float(np.average(ics, weights=weights)) if ics else math.nan,
            rmse=math.sqrt(sse / r.size) if r.size else math.nan,
        )
    return out


def train_return_model(frame: pl.DataFrame, features: FeatureSet, settings: TrainingSettings) -> ReturnOutcome:
    """See the module docstring. ``frame``: labelled rows of one window (as for the direction model)."""
    import pandas as pd
    import xgboost as xgb

    if frame.is_empty():
        raise TrainingDataError("no labelled rows in the window")
    frame = frame.sort("ts", "instrument")
    names = features.all
    market_names = baselines.market_only_features(features)
    r = frame[RETURN_COLUMN].cast(pl.Float64).to_numpy()
    x = feature_matrix(frame, names)
    folds = window_folds(frame, settings)
    p = params(settings)
    best, f_model, _ = fit_on_folds(x, r, folds, names, settings, p)
    market_idx = [names.index(c) for c in market_names]
    if market_names and features.news:
        best_market, f_market, _ = fit_on_folds(x[:, market_idx], r, folds, market_names, settings, p)
    elif not features.news:
        best_market, f_market = best, f_model
    else:
        best_market, f_market = [0] * len(folds), [np.zeros(f.n_val) for f in folds]
    parts = []
    for k, fold in enumerate(folds):
        parts.append(
            frame[fold.val_idx].select("instrument", "ts", "trade_date", RETURN_COLUMN).with_columns(
                pl.lit(k).alias("fold"),
                pl.Series(f"f_{MODEL}", f_model[k].astype(float)),
                pl.Series(f"f_{MARKET_ONLY}", f_market[k].astype(float)),
                pl.lit(0.0).alias(f"f_{ZERO}"),
            )
        )
    oos = pl.concat(parts).with_columns(pl.col(RETURN_COLUMN).cast(pl.Float64))
    test = paired_loss_test(
        oos[RETURN_COLUMN].to_numpy(),
        oos[f"f_{MODEL}"].to_numpy(),
        oos[f"f_{MARKET_ONLY}"].to_numpy(),
        oos["trade_date"].to_physical().to_numpy(),
    )
    n_trees = max(1, int(round(float(np.median(best)))))
    booster = xgb.train(p, xgb.QuantileDMatrix(x, r, feature_names=names, max_bin=settings.max_bin), num_boost_round=n_trees)
    if market_names and features.news:
        trees = max(1, int(round(float(np.median(best_market)))))
        dm = xgb.QuantileDMatrix(x[:, market_idx], r, feature_names=market_names, max_bin=settings.max_bin)
        market_booster = xgb.train(p, dm, num_boost_round=trees)
    elif not features.news:
        market_booster = booster
    else:
        market_booster = None
    gain = booster.get_score(importance_type="gain")
    missing = np.isnan(x).sum(axis=1)
    example_rows = np.sort(np.argsort(missing, kind="stable")[:5])
    return ReturnOutcome(
        booster=booster,
        market_only_booster=market_booster,
        features=names,
        n_trees=n_trees,
        scores=score_forecasts(oos),
        test=test,
        oos=oos,
        importance={c: tree_gain(gain, c) for c in names},
        input_example=pd.DataFrame(x[example_rows].astype(np.float64), columns=names),
        sessions=sorted(set(frame["trade_date"].to_list())),
        n_rows=frame.height,
    )
