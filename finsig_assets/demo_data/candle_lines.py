"""NDJSON lines for candles in the two OANDA shapes the reference downloader wrote.

* ``v20`` — the raw v20 ``InstrumentsCandles`` candle: ``{"complete": true, "volume": 12,
  "time": "2024-10-13T22:00:00.000000000Z", "mid": {"o": "5816.2", "h": "5816.8", "l":
  "5816.2", "c": "5816.8"}}`` (prices as strings, RFC 3339 time with nanoseconds);
* ``flat`` — the flattened record: ``{"time": "2024-10-13T22:00:00Z", "instrument":
  "SPX500_USD", "granularity": "M1", "open": 5816.2, "high": 5816.8, "low": 5816.2, "close":
  5816.8, "volume": 4, "collected_at": "2024-10-14T00:05:13.482913Z"}`` (prices as numbers).

Whole files are formatted column-wise in polars (no Python loop per line); single lines
(incomplete candles, the raw material of malformed lines) go through :func:`candle_record`.
Prices are integer ticks (tenths of a point) and print with exactly one decimal.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl

INSTRUMENT = "SPX500_USD"
GRANULARITY = "M1"
SHAPES = ("v20", "flat")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _price(col: str) -> pl.Expr:
    return pl.format("{}.{}", pl.col(col) // 10, pl.col(col) % 10)


def format_lines(
    shape: str,
    minute: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    collected_at: str = "",
) -> list[str]:
    """One line (without newline) per complete candle, in ``shape``."""
    frame = pl.DataFrame(
        {"t": minute * 60_000_000, "o": open_, "h": high, "l": low, "c": close, "v": volume},
        schema={"t": pl.Int64, "o": pl.Int64, "h": pl.Int64, "l": pl.Int64, "c": pl.Int64, "v": pl.Int64},
    )
    time = pl.col("t").cast(pl.Datetime("us", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    if shape == "v20":
        parts = [
            pl.lit('{"complete": true, "volume": '),
            pl.col("v").cast(pl.String),
            pl.lit(', "time": "'),
            time,
            pl.lit('.000000000Z", "mid": {"o": "'),
            _price("o"),
            pl.lit('", "h": "'),
            _price("h"),
            pl.lit('", "l": "'),
            _price("l"),
            pl.lit('", "c": "'),
            _price("c"),
            pl.lit('"}}'),
        ]
    elif shape == "flat":
        parts = [
            pl.lit('{"time": "'),
            time,
            pl.lit(f'Z", "instrument": "{INSTRUMENT}", "granularity": "{GRANULARITY}", "open": '),
            _price("o"),
            pl.lit(', "high": '),
            _price("h"),
            pl.lit(', "low": '),
            _price("l"),
            pl.lit(', "close": '),
            _price("c"),
            pl.lit(', "volume": '),
            pl.col("v").cast(pl.String),
            pl.lit(f', "collected_at": "{collected_at}"}}'),
        ]
    else:
        raise ValueError(f"unknown candle shape {shape!r}; expected one of {SHAPES}")
    return frame.select(pl.concat_str(parts).alias("line")).to_series().to_list()


def price_text(ticks: int) -> str:
    sign = "-" if ticks < 0 else ""
    ticks = abs(int(ticks))
    return f"{sign}{ticks // 10}.{ticks % 10}"


def time_text(minute: int, shape: str) -> str:
    stamp = (_EPOCH + dt.timedelta(minutes=int(minute))).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.000000000Z" if shape == "v20" else f"{stamp}Z"


def candle_record(
    shape: str,
    minute: int,
    o: int,
    h: int,
    l: int,
    c: int,
    v: int,
    *,
    complete: bool = True,
    collected_at: str = "",
    instrument: str = INSTRUMENT,
) -> dict:
    """The candle as a dict in ``shape`` (same key order and text as :func:`format_lines`); prices
    in ticks, ``minute`` since the epoch (UTC). The one single-candle formatter: the tests' own
    generators build their lines (and their malformed variants) from it."""
    if shape == "v20":
        return {
            "complete": complete,
            "volume": int(v),
            "time": time_text(minute, shape),
            "mid": {"o": price_text(o), "h": price_text(h), "l": price_text(l), "c": price_text(c)},
        }
    return {
        "time": time_text(minute, shape),
        "instrument": instrument,
        "granularity": GRANULARITY,
        "open": int(o) / 10,
        "high": int(h) / 10,
        "low": int(l) / 10,
        "close": int(c) / 10,
        "volume": int(v),
        "collected_at": collected_at,
    }


def dumps_line(record: dict) -> str:
    """Serialise like the collector did: ``json.dumps`` with its default separators."""
    return json.dumps(record, ensure_ascii=False)
