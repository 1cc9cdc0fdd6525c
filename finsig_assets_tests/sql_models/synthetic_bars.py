"""Synthetic silver.market_bars for tests and the benchmark: 23-hour CFD days with real gaps.

The SPX500 CFD trades Sunday 18:00 to Friday 17:00 New York with a daily break 17:00-18:00;
on top of that a fraction of minutes is missing at random. Prices follow a geometric random
walk with small bar-open gaps; OHLC are consistent (low <= open, close <= high).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from finsig_assets.trading_calendar import assign_trade_dates, ownership_window, session_frame
from finsig_assets.warehouse import DuckDBWarehouse

SILVER_COLUMNS = (
    "instrument", "ts", "trade_date", "open", "high", "low", "close", "volume",
    "is_rth", "minutes_to_close", "gap_minutes",
)


def cfd_minutes(first: str | dt.date, last: str | dt.date) -> pl.Series:
    """Whole-minute bar open times (UTC) in the ownership window of ``first..last`` when the CFD trades."""
    window = ownership_window(first, last)
    ts = pl.datetime_range(window.start, window.end, "1m", closed="left", time_zone="UTC", eager=True)
    local = ts.dt.convert_time_zone("America/New_York")
    hour, weekday = local.dt.hour(), local.dt.weekday()  # Monday = 1 ... Sunday = 7
    trading = (
        (hour != 17)
        & (weekday != 6)
        & ~((weekday == 5) & (hour >= 17))
        & ~((weekday == 7) & (hour < 18))
    )
    return ts.filter(trading).alias("ts")


def synthetic_bars(
    first: str | dt.date,
    last: str | dt.date,
    instrument: str = "SPX500_USD",
    seed: int = 0,
    missing_fraction: float = 0.02,
    price: float = 5000.0,
    minute_vol: float = 2e-4,
) -> pl.DataFrame:
    """Silver-shaped bars for the sessions ``first..last`` (every column of silver.market_bars)."""
    rng = np.random.default_rng(seed)
    ts = cfd_minutes(first, last)
    ts = ts.filter(pl.Series(rng.random(ts.len()) >= missing_fraction))
    n = ts.len()
    close = price * np.exp(np.cumsum(rng.normal(0.0, minute_vol, n)))
    prev_close = np.concatenate([[price], close[:-1]])
    open_ = prev_close * np.exp(rng.normal(0.0, minute_vol / 4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, minute_vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, minute_vol / 2, n)))
    volume = rng.integers(1, 5000, n)
    frame = pl.DataFrame(
        {"instrument": [instrument] * n, "ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume},
        schema_overrides={"volume": pl.Int64},
    )
    return finish_silver(frame)


def finish_silver(frame: pl.DataFrame) -> pl.DataFrame:
    """Add trade_date, is_rth, minutes_to_close and gap_minutes as silver defines them."""
    sessions = session_frame().select("trade_date", "rth_open", "rth_close")
    out = assign_trade_dates(frame.sort("instrument", "ts"), "ts").join(sessions, on="trade_date", how="left")
    return out.with_columns(
        is_rth=(pl.col("ts") >= pl.col("rth_open")) & (pl.col("ts") < pl.col("rth_close")),
        minutes_to_close=(pl.col("rth_close") - pl.col("ts")).dt.total_seconds() / 60.0,
        gap_minutes=(pl.col("ts").diff().dt.total_seconds() / 60.0).over("instrument"),
    ).select(SILVER_COLUMNS)


def insert_bars(warehouse: DuckDBWarehouse, bars: pl.DataFrame) -> None:
    with warehouse.transaction() as tx:
        tx.execute("DELETE FROM silver.market_bars")
        tx.insert("silver.market_bars", bars)


def warehouse_with_bars(path, bars: pl.DataFrame) -> DuckDBWarehouse:
    """A fresh warehouse file at ``path`` holding ``bars`` in silver.market_bars."""
    warehouse = DuckDBWarehouse(database=str(path), lock_timeout_seconds=60, threads=2)
    insert_bars(warehouse, bars)
    return warehouse


def read_table(warehouse: DuckDBWarehouse, table: str) -> pl.DataFrame:
    return warehouse.query(f"SELECT * FROM {table} ORDER BY instrument, ts")
