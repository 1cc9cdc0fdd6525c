"""One row per (instrument, ts): the duplicate rule for bronze candles.

The same candle often lands more than once (overlapping downloads, a re-run of the
collector, raw and flattened copies of the same bar, a ``.refetch`` that corrects a download).

* Identical copies — same instrument, ts, open, high, low, close and volume — collapse to one
  row. They are counted (``identical_duplicates``), not quarantined.
* Conflicting copies — same instrument and ts, different prices or volume — keep ONE copy, by
  this order (the first that differs decides):
    1. the latest ``collected_at`` (a copy that has one beats a copy that has none);
    2. the copy that *landed later*: its file's ``first_seen_at`` in the landing index (when a
       run first saw the path) is later. A refetch corrects an earlier download, so it wins.
       Not the file's mtime: appending lines to an old file, or touching it, moves its mtime and
       would silently revert a corrected candle; ``first_seen_at`` does not move;
    3. the later ``(source_file, source_line)`` (files first seen by the same run tie on 2).
  Every other conflicting copy goes to ``bronze.quarantine`` with a reason naming the copy that
  superseded it and the values that differ, e.g. ``conflicting duplicate of SPX500_USD
  2024-06-25T14:31Z: superseded by market/b.ndjson:17 (later collected_at; close 5450.2 vs kept
  5450.4)`` — or ``(landed later; …)``, ``(later file/line; …)`` — and is counted
  (``conflicting_duplicates``). Superseded copies are not rejected records.

The kept row of an identical group is chosen by the same order, so its lineage is
deterministic. Input must hold only valid candles of the run's range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finsig_assets.bronze.quarantine import reread_raw

KEY = ("instrument", "ts")
VALUES = ("open", "high", "low", "close", "volume")


@dataclass
class DedupResult:
    kept: pl.DataFrame
    losers: pl.DataFrame  # conflicting copies: source_file, source_line, trade_date, reason, raw
    identical_duplicates: int
    conflicting_duplicates: int


def rank_copies(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort so that, within each (instrument, ts), the copy to keep comes first."""
    return frame.sort(
        ["instrument", "ts", "collected_at", "file_first_seen_at", "source_file", "source_line"],
        descending=[False, False, True, True, True, True],
        nulls_last=True,
    )


def dedup_candles(frame: pl.DataFrame, landing_root: Path | None = None) -> DedupResult:
    """Collapse duplicates in ``frame`` (instrument, ts, trade_date, OHLCV, collected_at,
    source_file, source_line, file_first_seen_at, and byte_start/byte_end to re-read raw lines)."""
    ranked = rank_copies(frame)
    first = (
        (pl.col("instrument") != pl.col("instrument").shift(1)) | (pl.col("ts") != pl.col("ts").shift(1))
    ).fill_null(True)
    ranked = ranked.with_columns(first.alias("__first"))
    if ranked["__first"].all():
        empty = pl.DataFrame(
            schema={"source_file": pl.String, "source_line": pl.Int64, "trade_date": pl.Date, "reason": pl.String, "raw": pl.String}
        )
        return DedupResult(ranked.drop("__first"), empty, 0, 0)

    kept = ranked.filter(pl.col("__first")).drop("__first")
    extra = ranked.filter(~pl.col("__first")).drop("__first")
    winners = kept.select(
        *KEY,
        *[pl.col(c).alias(f"kept_{c}") for c in (*VALUES, "collected_at", "file_first_seen_at", "source_file", "source_line")],
    )
    extra = extra.join(winners, on=list(KEY), how="left")
    same = pl.all_horizontal([pl.col(c) == pl.col(f"kept_{c}") for c in VALUES])
    identical = extra.filter(same)
    conflicting = extra.filter(~same)

    diffs = pl.concat_str(
        [
            pl.when(pl.col(c) != pl.col(f"kept_{c}")).then(pl.format(f"{c} {{}} vs kept {{}}", pl.col(c), pl.col(f"kept_{c}")))
            for c in VALUES
        ],
        separator=", ",
        ignore_nulls=True,
    )
    why = (
        pl.when(
            pl.col("kept_collected_at").is_not_null()
            & (pl.col("collected_at").is_null() | (pl.col("kept_collected_at") > pl.col("collected_at")))
        )
        .then(pl.lit("later collected_at"))
        .when(pl.col("kept_file_first_seen_at") > pl.col("file_first_seen_at"))
        .then(pl.lit("landed later"))
        .otherwise(pl.lit("later file/line"))
    )
    losers = conflicting.with_columns(
        pl.format(
            "conflicting duplicate of {} {}: superseded by {}:{} ({}; {})",
            pl.col("instrument"),
            pl.col("ts").dt.to_string("%Y-%m-%dT%H:%MZ"),
            pl.col("kept_source_file"),
            pl.col("kept_source_line"),
            why,
            diffs,
        ).alias("reason")
    )
    losers = losers.with_columns(pl.Series("raw", reread_raw(losers, landing_root, _values_json), dtype=pl.String)).select(
        "source_file", "source_line", "trade_date", "reason", "raw"
    )
    return DedupResult(kept, losers, identical.height, conflicting.height)


def _values_json(losers: pl.DataFrame) -> list[str]:
    cols = ["instrument", "ts", *VALUES, "collected_at"]
    present = [c for c in cols if c in losers.columns]
    return (
        losers.select(present)
        .with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
        .select(pl.struct(present).struct.json_encode())
        .to_series()
        .to_list()
    )
