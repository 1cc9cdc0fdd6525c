"""Train one direction model on a window: folds -> early stopping picks n_trees -> final fit.

``train_direction_model(frame, features, settings)`` is pure (no I/O): ``frame`` holds the
window's labelled rows of ``gold.training_examples`` sorted by ``ts`` (see
:mod:`finsig_assets.ml.training_table`), and everything returned is measured on rows the
scoring model never saw:

1. Folds by session with purging and embargo (:mod:`finsig_assets.ml.walk_forward`).
2. On every fold, XGBoost with the features (market + news) and, on the same fold, the
   market-only XGBoost; each stops early on its fold's validation log loss
   (``early_stopping_rounds``), which gives the fold's best number of trees.
3. ``n_trees`` = the median of the folds' best numbers of trees. The fold *metrics* do not
   use a tree count picked on the same fold: fold k is scored with the median of the *other*
   folds' best counts (nested), so no reported number has seen its own validation labels.
4. The baselines (majority class, sign of ``ret_30m``) are fitted on each fold's training rows
   and scored on its validation rows (:mod:`finsig_assets.ml.baselines`).
5. Metrics over the folds are the folds' values weighted by their validation rows
   (:func:`finsig_assets.ml.evaluation_metrics.combine`: log loss, Brier and accuracy equal the
   pooled values, AUC and rank IC are within-fold); the value of news is the model's AUC minus
   the market-only AUC on the same rows, and ``news_test`` is the paired test of that
   difference (session-clustered DeLong, :mod:`finsig_assets.ml.auc_inference`) that the
   promotion rules read.
6. The final model is fit on every row of the window with ``n_trees`` trees, and so is the
   market-only baseline (with its own median tree count): it is served next to the model so
   that the model's live out-of-sample record is compared with it on the same rows.

Fill and scaling statistics: nothing is filled or scaled. XGBoost splits on raw values and
routes missing values (NULL features, e.g. a rolling window not yet full, or no news yet) by a
default direction learned from the training rows of each fit; the baselines' rates come from
the fold's training rows. So no statistic of a validation row (or of the future) enters a fit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from finsig_assets.ml import baselines
from finsig_assets.ml.auc_inference import PairedAucTest, paired_auc_test
from finsig_assets.ml.evaluation_metrics import Scores, combine, score
from finsig_assets.ml.training_table import HORIZON, LABEL_COLUMN, RETURN_COLUMN, SIGN_BASELINE_FEATURE, FeatureSet
from finsig_assets.ml.walk_forward import Fold, session_folds

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    import pandas as pd
    import xgboost as xgb


@dataclass(frozen=True)
class TrainingSettings:
    n_folds: int = 4
    fold_scheme: str = "walk_forward"
    validation_fraction: float = 0.5
    embargo_minutes: float = 60.0
    horizon_minutes: float = HORIZON.total_seconds() / 60
    max_trees: int = 300
    early_stopping_rounds: int = 25
    learning_rate: float = 0.1
    max_depth: int = 4
    min_child_weight: float = 20.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    max_bin: int = 128
    nthread: int = 2
    seed: int = 0

    def xgb_params(self) -> dict:
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "nthread": self.nthread,
            "seed": self.seed,
        }

    def as_params(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class FoldResult:
    index: int
    validation_sessions: tuple[dt.date, ...]
    n_train: int
    n_val: int
    n_purged: int
    n_embargoed: int
    best_trees: dict[str, int]
    scored_trees: dict[str, int]
    scores: dict[str, Scores]


@dataclass
class TrainingOutcome:
    booster: xgb.Booster
    features: list[str]
    news_features: list[str]
    n_trees: int
    market_only_n_trees: int | None
    folds: list[FoldResult]
    scores: dict[str, Scores]
    oos: pl.DataFrame
    data_sha256: str
    n_rows: int
    sessions: list[dt.date]
    importance: dict[str, float]
    input_example: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    # The baselines as served next to the model, so its live record can be judged on the same
    # rows: the market-only XGBoost fit on the whole window (None: no market feature; the
    # up-rate stands in), and the window's up-rate (the majority baseline's probability).
    market_only_booster: xgb.Booster | None = None
    train_up_rate: float = math.nan
    news_test: PairedAucTest | None = None

    @property
    def value_of_news_auc(self) -> float:
        return self.scores[baselines.MODEL].auc - self.scores[baselines.MARKET_ONLY].auc


class TrainingDataError(ValueError):
    """The window cannot be trained on (too few folds, one class only, ...)."""


def data_sha256(frame: pl.DataFrame, features: list[str]) -> str:
    """A hash of exactly what the model sees: keys, labels and features, in row order."""
    h = hashlib.sha256()
    h.update(("|".join(["instrument", "ts", LABEL_COLUMN, RETURN_COLUMN, *features])).encode())
    h.update("\n".join(frame["instrument"].to_list()).encode())
    h.update(frame["ts"].dt.epoch("us").to_numpy().tobytes())
    h.update(frame[LABEL_COLUMN].cast(pl.Int8).to_numpy().tobytes())
    for c in [RETURN_COLUMN, *features]:
        h.update(frame[c].cast(pl.Float64).fill_null(float("nan")).to_numpy().tobytes())
    return h.hexdigest()


def window_folds(frame: pl.DataFrame, settings: TrainingSettings) -> list[Fold]:
    """The walk-forward folds of a window sorted by ts: the same for every model of a partition."""
    folds = session_folds(
        frame["trade_date"].to_numpy(),
        frame["ts"].dt.replace_time_zone(None).to_numpy(),
        horizon=dt.timedelta(minutes=settings.horizon_minutes),
        n_folds=settings.n_folds,
        scheme=settings.fold_scheme,
        embargo=dt.timedelta(minutes=settings.embargo_minutes),
        validation_fraction=settings.validation_fraction,
    )
    if not folds:
        raise TrainingDataError("no validation fold has training rows before it")
    return folds


def feature_matrix(frame: pl.DataFrame, features: list[str]) -> np.ndarray:
    if not features:
        return np.empty((frame.height, 0), dtype=np.float32)
    x = frame.select(pl.col(features).cast(pl.Float64).fill_nan(None)).to_numpy().astype(np.float32)
    x[~np.isfinite(x)] = np.nan
    return x


def fit_on_folds(
    x: np.ndarray,
    y: np.ndarray,
    folds: list[Fold],
    names: list[str],
    settings: TrainingSettings,
    params: dict | None = None,
) -> tuple[list[int], list[np.ndarray], list[int]]:
    """Per fold: best tree count, validation predictions (nested tree count), trees used."""
    import xgboost as xgb

    params = params or settings.xgb_params()
    boosters, dvals, best = [], [], []
    for fold in folds:
        dtrain = xgb.QuantileDMatrix(x[fold.train_idx], y[fold.train_idx], feature_names=names, max_bin=settings.max_bin)
        dval = xgb.QuantileDMatrix(
            x[fold.val_idx], y[fold.val_idx], feature_names=names, ref=dtrain, max_bin=settings.max_bin
        )
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=settings.max_trees,
            evals=[(dval, "validation")],
            early_stopping_rounds=settings.early_stopping_rounds,
            verbose_eval=False,
        )
        boosters.append(booster)
        dvals.append(dval)
        best.append(int(booster.best_iteration) + 1)
    probs, used = [], []
    for k, (booster, dval) in enumerate(zip(boosters, dvals)):
        others = [b for j, b in enumerate(best) if j != k] or [best[k]]
        n = max(1, min(int(round(float(np.median(others)))), booster.num_boosted_rounds()))
        probs.append(booster.predict(dval, iteration_range=(0, n)))
        used.append(n)
    return best, probs, used


def tree_gain(gain: Mapping[str, float | list[float]], name: str) -> float:
    """A tree booster's gain for feature ``name`` (0 when no split uses it). ``Booster.get_score``
    is typed for every booster; lists are gblinear's weights, never a tree booster's gain."""
    value = gain.get(name, 0.0)
    if isinstance(value, list):
        raise TypeError(f"gain of {name} is a list ({value!r}): not a tree booster's")
    return float(value)


def train_direction_model(frame: pl.DataFrame, features: FeatureSet, settings: TrainingSettings) -> TrainingOutcome:
    """See the module docstring. ``frame``: labelled rows of one window, sorted by ts."""
    import xgboost as xgb

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if frame.is_empty():
        raise TrainingDataError("no labelled rows in the window")
    frame = frame.sort("ts", "instrument")
    names = features.all
    market_names = baselines.market_only_features(features)
    y = frame[LABEL_COLUMN].cast(pl.Float32).to_numpy()
    if y.min() == y.max():
        raise TrainingDataError(f"every labelled row of the window is {'up' if y[0] else 'down'}")
    fwd = frame[RETURN_COLUMN].cast(pl.Float64).to_numpy()
    x = feature_matrix(frame, names)
    market_idx = [names.index(c) for c in market_names]
    folds = window_folds(frame, settings)
    timings["prepare"] = time.perf_counter() - t0

    t = time.perf_counter()
    best_model, p_model, used_model = fit_on_folds(x, y, folds, names, settings)
    timings["folds_model"] = time.perf_counter() - t
    t = time.perf_counter()
    if features.news and market_names:
        best_market, p_market, used_market = fit_on_folds(x[:, market_idx], y, folds, market_names, settings)
    elif not features.news:
        # No news columns: the model *is* the market-only model (value of news = 0 exactly).
        best_market, p_market, used_market = best_model, p_model, used_model
    else:
        # No market columns at all: market-only has nothing to learn from -> training up-rate.
        best_market = used_market = [0] * len(folds)
        p_market = [baselines.majority_probability(y[f.train_idx], f.n_val) for f in folds]
    timings["folds_market_only"] = time.perf_counter() - t

    ret30 = x[:, names.index(SIGN_BASELINE_FEATURE)].astype(float) if SIGN_BASELINE_FEATURE in names else None
    fold_results, parts = [], []
    for k, fold in enumerate(folds):
        yv, rv = y[fold.val_idx], fwd[fold.val_idx]
        p = {
            baselines.MODEL: p_model[k],
            baselines.MARKET_ONLY: p_market[k],
            baselines.MAJORITY: baselines.majority_probability(y[fold.train_idx], fold.n_val),
            baselines.SIGN_RET_30M: (
                baselines.sign_probability(ret30[fold.train_idx], y[fold.train_idx], ret30[fold.val_idx])
                if ret30 is not None
                else np.full(fold.n_val, np.nan)
            ),
        }
        fold_results.append(
            FoldResult(
                index=k,
                validation_sessions=fold.validation_sessions,
                n_train=fold.n_train,
                n_val=fold.n_val,
                n_purged=fold.n_purged,
                n_embargoed=fold.n_embargoed,
                best_trees={baselines.MODEL: best_model[k], baselines.MARKET_ONLY: best_market[k]},
                scored_trees={baselines.MODEL: used_model[k], baselines.MARKET_ONLY: used_market[k]},
                scores={name: _score_or_nan(yv, q, rv) for name, q in p.items()},
            )
        )
        parts.append(
            frame[fold.val_idx].select("instrument", "ts", "trade_date", LABEL_COLUMN, RETURN_COLUMN).with_columns(
                pl.lit(k).alias("fold"), *[pl.Series(f"p_{name}", q.astype(float)) for name, q in p.items()]
            )
        )
    oos = pl.concat(parts)
    news_test = paired_auc_test(
        oos[LABEL_COLUMN].to_numpy().astype(bool),
        oos[f"p_{baselines.MODEL}"].to_numpy(),
        oos[f"p_{baselines.MARKET_ONLY}"].to_numpy(),
        clusters=oos["trade_date"].to_physical().to_numpy(),
        folds=oos["fold"].to_numpy(),
    )
    pooled = {name: combine([f.scores[name] for f in fold_results]) for name in baselines.ALL_MODELS}

    t = time.perf_counter()
    n_trees = max(1, int(round(float(np.median(best_model)))))
    dall = xgb.QuantileDMatrix(x, y, feature_names=names, max_bin=settings.max_bin)
    booster = xgb.train(settings.xgb_params(), dall, num_boost_round=n_trees)
    if features.news and market_names:
        market_trees = max(1, int(round(float(np.median(best_market)))))
        dmarket = xgb.QuantileDMatrix(x[:, market_idx], y, feature_names=market_names, max_bin=settings.max_bin)
        market_booster = xgb.train(settings.xgb_params(), dmarket, num_boost_round=market_trees)
    elif not features.news:
        market_booster = booster  # no news columns: the model is the market-only model
    else:
        market_booster = None
    timings["final_fit"] = time.perf_counter() - t
    gain = booster.get_score(importance_type="gain")
    importance = {c: tree_gain(gain, c) for c in names}
    timings["total"] = time.perf_counter() - t0
    return TrainingOutcome(
        booster=booster,
        features=names,
        news_features=list(features.news),
        n_trees=n_trees,
        market_only_n_trees=int(round(float(np.median(best_market)))) if features.news and market_names else None,
        folds=fold_results,
        scores=pooled,
        oos=oos,
        data_sha256=data_sha256(frame, names),
        n_rows=frame.height,
        sessions=sorted(set(frame["trade_date"].to_list())),
        importance=importance,
        input_example=_input_example(x, names),
        seconds=timings,
        market_only_booster=market_booster,
        train_up_rate=float(y.mean()),
        news_test=news_test,
    )


def _score_or_nan(y: np.ndarray, p: np.ndarray, r: np.ndarray) -> Scores:
    if np.isnan(p).all():
        return Scores(int(len(y)), float(np.mean(y)) if len(y) else math.nan, *(math.nan,) * 5)
    return score(y, p, r)


def _input_example(x: np.ndarray, names: list[str], n: int = 5) -> pd.DataFrame:
    """A few real training rows (the most complete ones) for the MLflow signature and example."""
    import pandas as pd

    missing = np.isnan(x).sum(axis=1)
    rows = np.argsort(missing, kind="stable")[:n]
    return pd.DataFrame(x[np.sort(rows)].astype(np.float64), columns=names)
