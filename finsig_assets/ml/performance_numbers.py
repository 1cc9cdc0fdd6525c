"""The numbers behind ``ml/performance_report``'s charts, as pure functions of ``ml.predictions`` rows.

Kept apart from Dagster, MLflow and matplotlib so that each number can be checked against an
independent computation, and so that the report shows exactly what these functions return.

- **Rolling AUC.** One point per *labelled* session S: the champion's ``p_up`` pooled over the
  labelled rows of the last ``window_sessions`` labelled sessions up to S. A single session's
  AUC swings by several points from noise alone; a window of sessions is what a reader can
  judge. The band is the session-clustered DeLong interval of
  :func:`finsig_assets.ml.auc_inference.auc_estimate` with sessions as clusters: the rows of a
  session share overlapping 30-minute labels and one volatility regime, so treating them as
  independent would draw a band several times too narrow. Labelled sessions are counted, not
  calendar sessions: a session without a champion (or without labels yet) carries no evidence.
- **Baselines on the same rows.** The market-only model's ``p_up_market_only`` was served next to
  the champion, so its AUC is taken on the same window; rows of versions trained before that
  baseline was kept have none and are left out of it (``market_only_rows`` says how many were
  used). The paired test (champion minus market-only) is the clustered one of
  :func:`~finsig_assets.ml.auc_inference.paired_auc_test`. The majority baseline is a constant
  within a version and ranks nothing: its AUC is 0.5 by definition, drawn as a line.
- **Calibration.** Quantile bins of ``p_up`` over the last window's labelled rows -- the same rows
  as the latest rolling point -- with :func:`finsig_assets.ml.plots.calibration_bins`, the
  binning the training run's calibration plot uses.
- **Champion history.** Which version served each predicted session, and where promoted (and
  rejected) versions first became eligible to serve: the session after their ``trained_through``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from finsig_assets.ml.auc_inference import auc_estimate, paired_auc_test
from finsig_assets.ml.champion_history import RegisteredVersion
from finsig_assets.trading_calendar import next_session

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    pass


# What the report reads of ml.predictions.
COLUMNS = ("trade_date", "model_version", "trained_through", "p_up", "label_up", "p_up_market_only")
MAJORITY_AUC = 0.5

ROLLING_SCHEMA = {
    "trade_date": pl.Date,
    "window_first": pl.Date,
    "window_sessions": pl.Int64,
    "labelled_rows": pl.Int64,
    "up_rate": pl.Float64,
    "auc": pl.Float64,
    "auc_se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "market_only_auc": pl.Float64,
    "market_only_rows": pl.Int64,
    "auc_minus_market_only": pl.Float64,
    "p_value_vs_market_only": pl.Float64,
    "majority_auc": pl.Float64,
    "served_version": pl.Int64,
}
CALIBRATION_SCHEMA = {"bin": pl.Int64, "mean_p_up": pl.Float64, "up_rate": pl.Float64, "rows": pl.Int64}
HISTORY_SCHEMA = {
    "trade_date": pl.Date,
    "model_version": pl.Int64,
    "trained_through": pl.Date,
    "rows": pl.Int64,
    "labelled_rows": pl.Int64,
}
MARKS_SCHEMA = {"model_version": pl.Int64, "trained_through": pl.Date, "first_session": pl.Date, "promoted": pl.Boolean}


def _labelled(preds: pl.DataFrame) -> pl.DataFrame:
    return preds.filter(pl.col("label_up").is_not_null()).sort("trade_date", maintain_order=True)


def labelled_sessions(preds: pl.DataFrame, through: dt.date | None = None) -> list[dt.date]:
    """The sessions with at least one labelled row (up to ``through``), oldest first."""
    rows = _labelled(preds)
    if through is not None:
        rows = rows.filter(pl.col("trade_date") <= through)
    return rows["trade_date"].unique().sort().to_list()


def predicted_sessions(preds: pl.DataFrame, through: dt.date | None = None) -> list[dt.date]:
    rows = preds if through is None else preds.filter(pl.col("trade_date") <= through)
    return rows["trade_date"].unique().sort().to_list()


def _earliest(dates: pl.Series) -> dt.date:
    """The earliest of ``dates`` (trade dates: never null)."""
    first = dates.min()
    if not isinstance(first, dt.date):
        raise TypeError(f"{dates.name}: the earliest value is {first!r}, not a date")
    return first


def earliest_needed(days: pl.DataFrame, window_sessions: int, history_sessions: int) -> dt.date | None:
    """The first session to read so a report up to the last of ``days`` has full charts.

    ``days`` has one row per predicted session (``trade_date``, ``labelled``). The rolling
    chart needs the last ``history_sessions`` labelled sessions, each with a window of
    ``window_sessions`` labelled sessions behind it; the history chart the last
    ``history_sessions`` predicted sessions. None: there is nothing before to read.
    """
    if days.is_empty():
        return None
    ordered = days.sort("trade_date", descending=True)
    labelled = ordered.filter(pl.col("labelled"))["trade_date"].head(history_sessions + window_sessions - 1)
    predicted = ordered["trade_date"].head(history_sessions)
    candidates = [_earliest(s) for s in (labelled, predicted) if s.len()]
    return min(candidates) if candidates else None


def window_rows(preds: pl.DataFrame, through: dt.date, window_sessions: int) -> pl.DataFrame:
    """The labelled rows of the last ``window_sessions`` labelled sessions up to ``through``."""
    days = labelled_sessions(preds, through)[-window_sessions:]
    return _labelled(preds).filter(pl.col("trade_date").is_in(days))


def rolling_auc(
    preds: pl.DataFrame,
    window_sessions: int,
    at: Iterable[dt.date] | None = None,
    level: float = 0.95,
) -> pl.DataFrame:
    """One row per labelled session (or per labelled session in ``at``): see the module docstring."""
    labelled = _labelled(preds)
    if labelled.is_empty():
        return pl.DataFrame(schema=ROLLING_SCHEMA)
    days = labelled["trade_date"].unique().sort().to_list()
    wanted = set(days) if at is None else set(at) & set(days)
    codes = labelled["trade_date"].to_physical().to_numpy()
    day_codes = np.array(sorted(set(codes.tolist())))
    y = labelled["label_up"].to_numpy().astype(bool)
    p = labelled["p_up"].cast(pl.Float64).to_numpy()
    p_market = labelled["p_up_market_only"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    versions = labelled["model_version"].cast(pl.Int64).to_numpy()
    rows = []
    for i, day in enumerate(days):
        if day not in wanted:
            continue
        first = max(0, i - window_sessions + 1)
        lo = int(np.searchsorted(codes, day_codes[first], side="left"))
        hi = int(np.searchsorted(codes, day_codes[i], side="right"))
        yw, pw, cw, mw = y[lo:hi], p[lo:hi], codes[lo:hi], p_market[lo:hi]
        est = auc_estimate(yw, pw, cw)
        ci_low, ci_high = est.interval(level)
        has_market = np.isfinite(mw)
        if has_market.any():
            test = paired_auc_test(yw[has_market], pw[has_market], mw[has_market], cw[has_market])
            market_auc, diff, p_value = test.auc_b, test.difference, test.p_value
        else:
            market_auc = diff = p_value = np.nan
        rows.append(
            {
                "trade_date": day,
                "window_first": days[first],
                "window_sessions": i - first + 1,
                "labelled_rows": hi - lo,
                "up_rate": float(yw.mean()),
                "auc": est.auc,
                "auc_se": est.standard_error,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "market_only_auc": market_auc,
                "market_only_rows": int(has_market.sum()),
                "auc_minus_market_only": diff,
                "p_value_vs_market_only": p_value,
                "majority_auc": MAJORITY_AUC,
                "served_version": int(versions[hi - 1]),
            }
        )
    # NaN (undefined: one class, one session) becomes null: "n/a" in tables, a gap in charts.
    frame = pl.DataFrame(rows, schema=ROLLING_SCHEMA)
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def calibration_table(rows: pl.DataFrame, bins: int = 10) -> pl.DataFrame:
    """Mean ``p_up``, realised up-rate and row count per quantile bin of the labelled ``rows``."""
    from finsig_assets.ml.plots import calibration_bins

    labelled = _labelled(rows)
    if labelled.is_empty():
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    mean_p, rate, count = calibration_bins(labelled["label_up"].to_numpy().astype(float), labelled["p_up"].to_numpy(), bins)
    return pl.DataFrame(
        {"bin": np.arange(1, mean_p.size + 1), "mean_p_up": mean_p, "up_rate": rate, "rows": count}, schema=CALIBRATION_SCHEMA
    )


def served_history(preds: pl.DataFrame) -> pl.DataFrame:
    """The version that served each predicted session (the latest version if a session had two)."""
    if preds.is_empty():
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    return (
        preds.group_by("trade_date")
        .agg(
            pl.col("model_version").cast(pl.Int64).max(),
            pl.col("trained_through").max(),
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("label_up").is_not_null().sum().cast(pl.Int64).alias("labelled_rows"),
        )
        .sort("trade_date")
        .select(list(HISTORY_SCHEMA))
    )


def version_marks(versions: Sequence[RegisteredVersion], first: dt.date, last: dt.date) -> pl.DataFrame:
    """Registered versions whose first eligible session (after ``trained_through``) is in ``first..last``."""
    rows = []
    for v in versions:
        if v.trained_through is None:
            continue
        eligible = next_session(v.trained_through)
        if first <= eligible <= last:
            rows.append(
                {"model_version": v.version, "trained_through": v.trained_through, "first_session": eligible, "promoted": v.promoted}
            )
    return pl.DataFrame(rows, schema=MARKS_SCHEMA)
