"""The rows a model partition trains on: one cut for ``ml/model_fits`` and ``ml/direction_model``.

Partition D's model trains on the trailing ``window_sessions`` sessions that end with the
session before D (P = D - 1): labelled rows whose label horizon ends by 17:00 New York on P.
The fits step and the registering step must cut exactly the same rows -- a fit is found again
by the hash of those rows -- so the cut, and the reasons a window cannot be trained on, are
written here once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import dagster as dg
import polars as pl

from finsig_assets import settings
from finsig_assets.ml.training_table import HORIZON, sentiment_models, window_sessions
from finsig_assets.partitions import lookback_mapping
from finsig_assets.trading_calendar import cutoff_utc, previous_session

TRAINING_EXAMPLES_KEY = dg.AssetKey(["gold", "training_examples"])

STATUS_NO_DATA = "no data"
STATUS_INSUFFICIENT = "insufficient history"
STATUS_REFUSED = "refused: mixed sentiment models"


def training_window_dep() -> dg.AssetDep:
    """Partition D's window as a dependency: the sessions before D (never D itself) in
    ``gold/training_examples``, so a change to any of them marks D stale and the automation
    follows. Sized by ``FINSIG_MODEL_WINDOW_SESSIONS``, the setting that gives the config's default."""
    return dg.AssetDep(TRAINING_EXAMPLES_KEY, partition_mapping=lookback_mapping(settings.model_window_sessions(), end_offset=-1))


@dataclass(frozen=True)
class TrainingWindow:
    day: dt.date  # the partition: the session the model serves
    first: dt.date
    through: dt.date  # the session before `day`, the window's last
    rows: pl.DataFrame
    n_sessions: int  # sessions with labelled rows
    status: str | None = None  # None: the window can be trained on
    reason: str | None = None
    sentiment_model: str | None = None


def training_window(examples: pl.DataFrame, day: dt.date, n_sessions: int, min_sessions: int, min_labelled_rows: int) -> TrainingWindow:
    """Partition ``day``'s window cut from ``examples`` (labelled rows read for a range of
    partitions), and whether it has enough history and one sentiment model."""
    through = previous_session(day)
    first = window_sessions(through, n_sessions)[0]
    rows = examples.filter(pl.col("trade_date").is_between(first, through), (pl.col("ts") + HORIZON) <= cutoff_utc(through))
    used = rows["trade_date"].n_unique()
    window = TrainingWindow(day, first, through, rows, used)
    if used < min_sessions or rows.height < min_labelled_rows:
        reason = (
            f"{used} sessions / {rows.height:,} labelled rows in {first}..{through} (window {n_sessions}); "
            f"need min_sessions={min_sessions} and min_labelled_rows={min_labelled_rows}"
        )
        return replace(window, status=STATUS_INSUFFICIENT, reason=reason)
    try:
        model = check_single_sentiment_model(rows, first, through)
    except MixedSentimentModelsError as exc:
        return replace(window, status=STATUS_REFUSED, reason=str(exc))
    return replace(window, sentiment_model=model)


def no_data_reason(day: dt.date, data_ends: dt.date | None, rth_only: bool) -> str:
    """Why partition ``day`` has nothing to train on: no labelled row in the session before it."""
    hours = "regular-hours " if rth_only else ""
    through = previous_session(day)
    if data_ends is None:
        where = "gold.training_examples has no labelled row"
    elif through > data_ends:
        where = f"the data ends with {data_ends}"
    else:
        where = f"the session has no labelled data (labelled data runs to {data_ends})"
    return (
        f"no labelled {hours}rows in {through}, the last session of the window, and {where}: "
        f"nothing new to train on, so no model for {day} is trained or registered"
    )


def window_label(row: dict) -> str:
    """The training window of a ``ml.model_runs`` / ``ml.model_fits`` row, as the UI shows it."""
    if not row.get("window_first"):
        return "none (no labelled rows to train on)"
    return f"{row['window_first']}..{row['window_last']} ({int(row['n_sessions'] or 0)} session(s) with labelled rows)"


class MixedSentimentModelsError(ValueError):
    """A training window holds news scored by more than one sentiment model."""


def check_single_sentiment_model(rows: pl.DataFrame, first: dt.date, last: dt.date) -> str | None:
    """The one sentiment model of the window (None when no news was scored); raises when mixed.

    A value naming several models ("a + b", gold.news_signals' way of saying a row's news
    window mixes them) counts as all of them.
    """
    used = (
        rows.filter(pl.col("sentiment_model").is_not_null())
        .group_by("sentiment_model")
        .agg(pl.len().alias("rows"), pl.col("trade_date").min().alias("first"), pl.col("trade_date").max().alias("last"))
        .sort("sentiment_model")
    )
    models = sentiment_models(used["sentiment_model"].to_list())
    if len(models) <= 1:
        return next(iter(models)) if models else None
    parts = [f"{r['sentiment_model']!r} ({r['rows']:,} rows, {r['first']}..{r['last']})" for r in used.iter_rows(named=True)]
    raise MixedSentimentModelsError(
        f"refusing to train on {first}..{last}: the window mixes sentiment models {', '.join(parts)}. "
        "Scores of different models are not comparable; re-materialize gold/training_examples "
        "(and the news signals under it) for these sessions with one sentiment model."
    )
