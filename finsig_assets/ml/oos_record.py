"""The out-of-sample record: how each registered version did on sessions it predicted.

``ml/predictions`` scores session D with a model trained through an earlier session, copies
D's labels next to each prediction (``ml.predictions``) and writes one row per session and
version to ``ml.oos_record``. This module computes those rows, the running record per version
(pooled over every labelled prediction up to a date), and the champion's recent record that
the promotion rules compare a challenger against.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from finsig_assets.ml.evaluation_metrics import finite_or_none, rank_ic, score
from finsig_assets.warehouse import Warehouse, fetch_frame

RECORD_TABLE = "ml.oos_record"
PREDICTIONS_TABLE = "ml.predictions"

_RECENT_SQL = """
WITH recent AS (
    SELECT DISTINCT trade_date FROM ml.predictions
    WHERE model_name = $name AND model_version = $version AND trade_date <= $through
      AND label_up IS NOT NULL
    ORDER BY trade_date DESC
    LIMIT $sessions
)
SELECT p.instrument, p.ts, p.trade_date, p.p_up, p.label_up, p.fwd_return_30m
FROM ml.predictions AS p JOIN recent USING (trade_date)
WHERE p.model_name = $name AND p.model_version = $version AND p.label_up IS NOT NULL
ORDER BY p.ts, p.instrument
"""

_LABELLED_SQL = """
SELECT model_name, model_version, trained_through, trade_date, p_up, label_up, fwd_return_30m
FROM ml.predictions
WHERE trade_date <= $through AND label_up IS NOT NULL
"""

_SESSIONS_SQL = """
SELECT model_name, model_version, count(*) AS sessions_predicted, sum(n_rows) AS rows_predicted,
       min(trade_date) AS first_session, max(trade_date) AS last_session, avg(auc) AS mean_daily_auc
FROM ml.oos_record
WHERE trade_date <= $through
GROUP BY ALL
"""


def session_scores(preds: pl.DataFrame) -> dict[str, float | int | None]:
    """Metrics of one session's predictions on its labelled rows (None where undefined)."""
    labelled = preds.filter(pl.col("label_up").is_not_null())
    out: dict[str, float | int | None] = {"n_rows": preds.height, "n_labelled": labelled.height}
    if labelled.is_empty():
        return out | {"up_rate": None, "auc": None, "log_loss": None, "brier": None, "accuracy": None, "rank_ic": None}
    s = score(
        labelled["label_up"].to_numpy().astype(bool),
        labelled["p_up"].to_numpy(),
        labelled["fwd_return_30m"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
    )
    return out | {
        "up_rate": finite_or_none(s.up_rate),
        "auc": finite_or_none(s.auc),
        "log_loss": finite_or_none(s.log_loss),
        "brier": finite_or_none(s.brier),
        "accuracy": finite_or_none(s.accuracy),
        "rank_ic": finite_or_none(s.rank_ic),
    }


def session_return_scores(preds: pl.DataFrame) -> dict[str, float | int | None]:
    """Out-of-sample R² against the zero forecast and rank IC of one session's return forecasts."""
    rows = preds.filter(pl.col("fwd_return_30m").is_not_null() & pl.col("fwd_return_30m_forecast").is_not_null())
    if rows.is_empty():
        return {"return_rows": 0, "return_r2": None, "return_rank_ic": None}
    r = rows["fwd_return_30m"].to_numpy()
    f = rows["fwd_return_30m_forecast"].to_numpy()
    sst = float(np.sum(r * r))
    return {
        "return_rows": rows.height,
        "return_r2": finite_or_none(1.0 - float(np.sum((r - f) ** 2)) / sst) if sst > 0 else None,
        "return_rank_ic": finite_or_none(rank_ic(f, r)),
    }


def champion_recent_predictions(
    warehouse: Warehouse, model_name: str, version: int, through: dt.date, sessions: int
) -> pl.DataFrame:
    """The champion's labelled predictions on its last ``sessions`` predicted sessions <= ``through``."""
    return warehouse.query(
        _RECENT_SQL, {"name": model_name, "version": version, "through": through, "sessions": sessions}
    )


def recomputed_record(
    booster, examples: pl.DataFrame, trained_through: dt.date, through: dt.date, sessions: int
) -> pl.DataFrame:
    """The champion's record as ``ml/predictions`` would have written it, from labelled window rows.

    A single-run backfill trains every model partition before ``ml/predictions`` runs, so
    ``ml.predictions`` holds no record yet when a challenger is judged. The champion's live
    predictions are a pure function of its booster and the rows of the sessions it served
    (after its ``trained_through``, up to ``through``): recomputing them gives the same
    out-of-sample record (same columns as :func:`champion_recent_predictions`).
    """
    import xgboost as xgb

    names = list(booster.feature_names or [])
    served = examples.filter(pl.col("trade_date").is_between(trained_through, through, closed="right"))
    if served.is_empty() or not set(names) <= set(examples.columns):
        return pl.DataFrame(schema={"instrument": pl.String, "ts": pl.Datetime("us", "UTC"), "trade_date": pl.Date,
                                    "p_up": pl.Float64, "label_up": pl.Boolean, "fwd_return_30m": pl.Float64})
    keep = sorted(served["trade_date"].unique().to_list())[-sessions:]
    served = served.filter(pl.col("trade_date").is_in(keep)).sort("ts", "instrument")
    x = served.select(pl.col(names).cast(pl.Float64).fill_nan(None)).to_numpy().astype(np.float32)
    p_up = booster.predict(xgb.DMatrix(x, feature_names=names)).astype(np.float64)
    return served.select(
        "instrument", "ts", "trade_date", pl.Series("p_up", p_up), "label_up", pl.col("fwd_return_30m").cast(pl.Float64)
    )


def running_record(warehouse: Warehouse, through: dt.date) -> pl.DataFrame:
    """Per version: sessions predicted and pooled out-of-sample metrics up to ``through``."""
    with warehouse.connection() as conn:
        labelled = fetch_frame(conn, _LABELLED_SQL, {"through": through})
        sessions = fetch_frame(conn, _SESSIONS_SQL, {"through": through})
    rows = []
    for (name, version), group in labelled.group_by(["model_name", "model_version"], maintain_order=True):
        s = score(
            group["label_up"].to_numpy().astype(bool),
            group["p_up"].to_numpy(),
            group["fwd_return_30m"].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        )
        rows.append(
            {
                "model_name": name,
                "model_version": int(version),
                "trained_through": group["trained_through"].min(),
                "labelled_rows": group.height,
                "pooled_auc": finite_or_none(s.auc),
                "pooled_log_loss": finite_or_none(s.log_loss),
                "pooled_accuracy": finite_or_none(s.accuracy),
                "pooled_rank_ic": finite_or_none(s.rank_ic),
            }
        )
    pooled = pl.DataFrame(
        rows,
        schema={
            "model_name": pl.String,
            "model_version": pl.Int64,
            "trained_through": pl.Date,
            "labelled_rows": pl.Int64,
            "pooled_auc": pl.Float64,
            "pooled_log_loss": pl.Float64,
            "pooled_accuracy": pl.Float64,
            "pooled_rank_ic": pl.Float64,
        },
    )
    if sessions.is_empty():
        return pooled.head(0)
    sessions = sessions.with_columns(pl.col("model_version").cast(pl.Int64))
    return sessions.join(pooled, on=["model_name", "model_version"], how="left").sort("model_name", "model_version")


def pooled_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return finite_or_none(score(np.asarray(y, dtype=bool), p, np.full(len(y), np.nan)).auc)
