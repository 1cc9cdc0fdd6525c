"""The two canonical candle lines, matched by regular expression over a whole chunk at once.

Nearly every line a collector writes is one of two exact shapes: OANDA's raw v20 candle and the
flattener's record, keys in their usual order. polars matches both patterns over a chunk in Rust
(~2M lines/s, against ~250k lines/s for the per-line ``orjson`` loop), and only the lines neither
pattern vouches for -- other key orders, extra keys, BOMs, blank, malformed -- take the exact
per-line walk in ``candle_records``.

Why a match gives exactly what that walk gives for the same line:

* the patterns accept a strict subset of JSON: fixed keys (so no duplicates), JSON whitespace
  only (``[ \\t\\r\\n]``, not ``\\s``), no escapes inside strings, numbers in JSON's own grammar
  (no leading zeros, no ``+``, an exponent of at most two digits, so nothing overflows), and
  ``true`` for ``complete``;
* captured numbers are converted by polars' string-to-float cast, which rounds correctly like
  Python's ``float()`` and ``orjson`` (``test_candle_line_patterns`` checks them against
  ``float`` on random decimals); a volume is at most 18 digits, inside int64;
* a flattened line's instrument is captured and checked against the accepted set by the caller;
  a line naming another instrument takes the per-line walk, which names the problem.

The value checks (finite, positive, OHLC order, minute boundary, trade date) are not made here:
both kinds of line meet them in the same vectorised stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes

_WS = r"[ \t\r\n]*"
_NUMBER = r"(-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,20})?(?:[eE][-+]?[0-9]{1,2})?)"
_INTEGER = r"(-?(?:0|[1-9][0-9]{0,17}))"
_INSTANT = r'"([0-9TZ:.+-]{1,40})"'
_NAME = r'"([A-Za-z0-9_.-]{1,40})"'


def _key(name: str) -> str:
    return f'"{name}"{_WS}:{_WS}'


def _object(*members: str) -> str:
    return r"\{" + _WS + f"{_WS},{_WS}".join(members) + _WS + r"\}"


# {"complete": true, "volume": 41, "time": "...Z", "mid": {"o": "5383.1", "h": ..., "l": ..., "c": ...}}
RAW_V20 = (
    "^"
    + _WS
    + _object(
        _key("complete") + "true",
        _key("volume") + _INTEGER,
        _key("time") + _INSTANT,
        _key("mid") + _object(*(_key(k) + f'"{_NUMBER}"' for k in ("o", "h", "l", "c"))),
    )
    + _WS
    + "$"
)
RAW_V20_GROUPS = ("volume", "time_str", "open", "high", "low", "close")

# {"time": "...", "instrument": "SPX500_USD", "granularity": "M1", "open": 5361.4, ..., "volume": 21,
#  "collected_at": "..."}
FLATTENED = (
    "^"
    + _WS
    + _object(
        _key("time") + _INSTANT,
        _key("instrument") + _NAME,
        _key("granularity") + '"M1"',
        *(_key(k) + _NUMBER for k in ("open", "high", "low", "close")),
        _key("volume") + _INTEGER,
        _key("collected_at") + _INSTANT,
    )
    + _WS
    + "$"
)
FLATTENED_GROUPS = ("time_str", "instrument", "open", "high", "low", "close", "volume", "collected_str")

MATCHED_SCHEMA: ColumnTypes = {
    "row": pl.Int64,
    "time_str": pl.String,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Int64,
    "instrument": pl.String,
    "collected_str": pl.String,
}


def line_texts(lines: list[bytes]) -> pl.Series:
    """The lines as text; a line that is not UTF-8 becomes null (the per-line walk reports it)."""
    binary = pl.Series(lines, dtype=pl.Binary)
    try:
        return binary.cast(pl.String)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        return pl.Series([_utf8_or_none(line) for line in lines], dtype=pl.String)


def _utf8_or_none(line: bytes) -> str | None:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return None


def match_canonical(lines: list[bytes], default_instrument: str, accepted: frozenset[str]) -> pl.DataFrame:
    """The lines that are one of the two canonical shapes, as ``MATCHED_SCHEMA`` rows (``row``:
    the line's index in ``lines``). Every other line is left to the per-line walk."""
    texts = pl.DataFrame({"row": pl.Series(range(len(lines)), dtype=pl.Int64), "text": line_texts(lines)})
    # One lazy select, so polars matches the two patterns on two threads.
    both = (
        texts.lazy()
        .select(
            "row",
            pl.col("text").str.extract_groups(RAW_V20).struct.rename_fields(list(RAW_V20_GROUPS)).alias("raw"),
            pl.col("text").str.extract_groups(FLATTENED).struct.rename_fields(list(FLATTENED_GROUPS)).alias("flat"),
        )
        .collect()
    )
    raw = (
        both.select("row", "raw")
        .unnest("raw")
        .filter(pl.col("time_str").is_not_null())
        .with_columns(pl.lit(default_instrument).alias("instrument"), pl.lit(None, pl.String).alias("collected_str"))
    )
    flattened = (
        both.select("row", "flat")
        .unnest("flat")
        .filter(pl.col("time_str").is_not_null() & pl.col("instrument").is_in(list(accepted)))
    )
    numbers = [pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")] + [pl.col("volume").cast(pl.Int64)]
    return pl.concat(
        [frame.with_columns(numbers).select(list(MATCHED_SCHEMA)) for frame in (raw, flattened)], how="vertical"
    ).sort("row")
