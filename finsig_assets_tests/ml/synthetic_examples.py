"""Synthetic ``gold.training_examples`` rows with a known answer (tests and bench/training.py).

Every feature column the table has (discovered, like the model does) gets independent noise,
except ``news_decayed_sentiment``, which drives the 30-minute return with strength
``news_effect``:

    fwd_return_30m = 1e-4 * (news_effect * news_decayed_sentiment + N(0, 1))

so with ``news_effect = 0`` nothing is predictable (AUC 0.5 is the truth) and with a positive
effect only a model that reads the news column can beat the market-only baseline. Labels are
NULL when the 30-minute horizon crosses the regular-hours close (RTH bars) or the session's
window end (all-hours bars), as the contract says.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from finsig_assets.ml.training_table import HORIZON, FeatureSet
from finsig_assets.trading_calendar import session_frame, sessions_between

SIGNAL_COLUMN = "news_decayed_sentiment"
ALL_HOURS_BARS = 23 * 60  # the CFD trades ~23 hours a day: 18:00 to 17:00 New York


def sessions_from(first: str | dt.date, n: int) -> list[dt.date]:
    first_d = dt.date.fromisoformat(first) if isinstance(first, str) else first
    days = sessions_between(first_d, first_d + dt.timedelta(days=2 * n + 10))
    return days[:n]


def synthetic_examples(
    sessions: list[dt.date],
    features: FeatureSet,
    *,
    news_effect: float = 0.0,
    seed: int = 0,
    all_hours: bool = False,
    sentiment_model: str | None = "lexicon",
    instrument: str = "SPX500_USD",
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frame = session_frame().filter(pl.col("trade_date").is_in(sessions)).sort("trade_date")
    parts = []
    for row in frame.iter_rows(named=True):
        if all_hours:
            start = row["window_end"] - dt.timedelta(minutes=ALL_HOURS_BARS)
            n = ALL_HOURS_BARS
        else:
            start = row["rth_open"]
            n = int((row["rth_close"] - row["rth_open"]).total_seconds() // 60)
        ts = np.datetime64(start.replace(tzinfo=None), "us") + np.arange(n).astype("timedelta64[m]")
        rth_open = np.datetime64(row["rth_open"].replace(tzinfo=None), "us")
        rth_close = np.datetime64(row["rth_close"].replace(tzinfo=None), "us")
        window_end = np.datetime64(row["window_end"].replace(tzinfo=None), "us")
        is_rth = (ts >= rth_open) & (ts < rth_close)
        h = np.timedelta64(int(HORIZON.total_seconds()), "s")
        label_ok = np.where(is_rth, ts + h < rth_close, ts + h < window_end)
        parts.append(
            pl.DataFrame(
                {
                    "ts": ts,
                    "trade_date": [row["trade_date"]] * n,
                    "is_rth": is_rth,
                    "label_ok": label_ok,
                    "minutes_to_close": (rth_close - ts) / np.timedelta64(1, "m"),
                    "minute_of_session": (ts - rth_open) / np.timedelta64(1, "m"),
                }
            )
        )
    base = pl.concat(parts).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    n = base.height
    cols = {}
    for name in features.all:
        if name in ("minutes_to_close", "minute_of_session"):
            continue
        if name.startswith("news_count"):
            cols[name] = rng.poisson(1.0, n).astype(np.int32)
        else:
            cols[name] = rng.standard_normal(n)
    signal = cols.get(SIGNAL_COLUMN, np.zeros(n))
    fwd = 1e-4 * (news_effect * signal + rng.standard_normal(n))
    ok = base["label_ok"].to_numpy()
    out = base.drop("label_ok").with_columns(
        pl.lit(instrument).alias("instrument"),
        pl.lit(sentiment_model, dtype=pl.String).alias("sentiment_model"),
        pl.Series("fwd_return_30m", np.where(ok, fwd, np.nan)).fill_nan(None),
        pl.Series("label_up", np.where(ok, fwd > 0, False)),
        *[pl.Series(k, v) for k, v in cols.items()],
    )
    out = out.with_columns(pl.when(pl.Series(ok)).then(pl.col("label_up")).otherwise(None).alias("label_up"))
    return out


def insert_examples(warehouse, frame: pl.DataFrame) -> None:
    """Replace the frame's sessions in ``gold.training_examples`` (one transaction)."""
    first, last = frame["trade_date"].min(), frame["trade_date"].max()
    with warehouse.transaction() as tx:
        tx.replace("gold.training_examples", frame, first, last)
