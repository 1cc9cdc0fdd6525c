"""``silver/market_bars``: typed, deduplicated, sorted real M1 bars with session context.

One row per ``(instrument, ts)`` for every bar that landed in ``bronze.market_candles`` inside
the partition range's ownership window, and nothing else: bars are **never forward-filled**,
so a closure or a data gap stays a gap (visible in ``gap_minutes``), and the row count equals
the number of distinct bronze bars.

Columns added to the bronze prices (all computed vectorised in polars):

- ``trade_date``: the session whose ownership window ``[17:00 NY prev session, 17:00 NY)``
  holds ``ts`` (looked up in :func:`finsig_assets.trading_calendar.session_frame`).
- ``is_rth``: the bar opens in ``[rth_open, rth_close)`` of that session: 09:30-16:00 New York,
  13:00 on early closes (exchange_calendars knows them). Overnight and pre-market bars in the
  same window are not RTH.
- ``minutes_to_close``: ``rth_close(trade_date) - ts`` in minutes; negative after the close
  (a 16:30 bar belongs to D because D's window ends at 17:00).
- ``gap_minutes``: minutes since the previous bar of the instrument over its *continuous*
  sequence (no reset per session or partition). The first bar of a run's window is measured
  from the last bronze bar before the window, fetched with a small aggregate query (bounded to
  a few weeks first, the whole table only for an instrument with nothing in that span), so a
  day-by-day materialization gives the same rows as one range. NULL only for the very first
  bar of the instrument ever.

Defensive dedupe: bronze already keeps one row per ``(instrument, ts)``; if it ever holds
more, the copy ingested last wins (ties: the larger ``source_file``, then ``source_line``).

Check (blocking, ERROR): ``unique_non_null_keys`` on ``(instrument, ts)`` over the run's range,
right after the write (:mod:`finsig_assets.table_checks`). Metadata: each partition its own
row count, RTH rows, gaps and first/last bar; the run's totals as ``run_*``.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import time
from typing import Any

import dagster as dg
import polars as pl

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.materialization_metadata import partition_metadata, materialize_result
from finsig_assets.partition_scope import PartitionScope, scope_of
from finsig_assets.partitions import lookback_mapping
from finsig_assets.table_checks import UniqueKeys, check_specs, run_checks
from finsig_assets.trading_calendar import session_frame
from finsig_assets.warehouse import Warehouse, fetch_frame, table_columns

TABLE = "silver.market_bars"
ASSET_KEY = dg.AssetKey(["silver", "market_bars"])
CHECKS = (UniqueKeys(TABLE, ("instrument", "ts")),)
BRONZE_KEY = dg.AssetKey(["bronze", "market_candles"])
LARGE_GAP_MINUTES = 5.0
# How far back the cheap "last bar before the window" query looks before falling back to a
# scan of everything earlier (only needed after a gap longer than this, or for the first bar).
PREVIOUS_BAR_LOOKBACK = dt.timedelta(days=21)

OUTPUT_COLUMNS = table_columns("silver.market_bars")  # the DDL in dbt_like_sql/tables is the contract

_READ_WINDOW_SQL = """
SELECT instrument, ts, open, high, low, close, volume, ingested_at, source_file, source_line
FROM bronze.market_candles
WHERE ts >= $start AND ts < $end
ORDER BY instrument, ts
"""

_READ_PREVIOUS_SQL = """
SELECT instrument, max(ts) AS previous_ts
FROM bronze.market_candles
WHERE ts < $start AND ts >= $floor
GROUP BY instrument
"""

_READ_PREVIOUS_UNBOUNDED_SQL = """
SELECT instrument, max(ts) AS previous_ts
FROM bronze.market_candles
WHERE ts < $start AND list_contains($instruments, instrument)
GROUP BY instrument
"""


def read_bronze(warehouse: Warehouse, scope: PartitionScope) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The bronze bars in the scope's window, and each instrument's last bar before it.

    One short connection, closed before any computing.
    """
    start, end = scope.window.start, scope.window.end
    with warehouse.connection() as conn:
        bars = fetch_frame(conn, _READ_WINDOW_SQL, {"start": start, "end": end})
        previous = fetch_frame(conn, _READ_PREVIOUS_SQL, {"start": start, "floor": start - PREVIOUS_BAR_LOOKBACK})
        missing = sorted(set(bars["instrument"].unique().to_list()) - set(previous["instrument"].to_list()))
        if missing:
            older = fetch_frame(conn, _READ_PREVIOUS_UNBOUNDED_SQL, {"start": start, "instruments": missing})
            previous = pl.concat([previous, older], how="vertical_relaxed")
    return bars, previous


def dedupe_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """One row per (instrument, ts), sorted by it; the last-ingested copy wins.

    The read query already sorts, so the common case is one vectorised pass that finds the
    frame strictly increasing; only a frame that is not (duplicates, or unsorted input) pays
    for a sort and a unique.
    """
    same_instrument = pl.col("instrument") == pl.col("instrument").shift(1)
    out_of_order = (pl.col("instrument") < pl.col("instrument").shift(1)) | (
        same_instrument & (pl.col("ts") <= pl.col("ts").shift(1))
    )
    if bars.height < 2 or not bars.select(out_of_order.any()).item():
        return bars
    return bars.sort(
        ["instrument", "ts", "ingested_at", "source_file", "source_line"],
        descending=[False, False, True, True, True],
        nulls_last=True,
    ).unique(subset=["instrument", "ts"], keep="first", maintain_order=True)


def build_market_bars(bars: pl.DataFrame, previous: pl.DataFrame, scope: PartitionScope) -> pl.DataFrame:
    """The silver rows for ``scope`` from its bronze bars and each instrument's previous bar."""
    bars = dedupe_bars(bars)
    sessions = session_frame().filter(
        pl.col("trade_date").is_between(scope.first, scope.last)
    )
    # Windows tile time, so the session holding ts is the last one starting at or before it.
    idx = (sessions["window_start"].search_sorted(bars["ts"], side="right").cast(pl.Int64) - 1).clip(lower_bound=0)
    in_session = sessions.select(pl.col("trade_date", "rth_open", "rth_close", "window_end").gather(idx))
    last_before = dict(zip(previous["instrument"], previous["previous_ts"]))

    out = (
        pl.concat([bars, in_session], how="horizontal")
        .with_columns(
            prev_ts=pl.when(pl.col("instrument") == pl.col("instrument").shift(1))
            .then(pl.col("ts").shift(1))
            .otherwise(
                pl.col("instrument").replace_strict(
                    last_before, default=None, return_dtype=pl.Datetime("us", "UTC")
                )
            )
        )
        .select(
            pl.col("instrument"),
            pl.col("ts").cast(pl.Datetime("us", "UTC")),
            pl.col("trade_date"),
            pl.col("open", "high", "low", "close").cast(pl.Float64),
            pl.col("volume").cast(pl.Int64),
            ((pl.col("ts") >= pl.col("rth_open")) & (pl.col("ts") < pl.col("rth_close"))).alias("is_rth"),
            ((pl.col("rth_close") - pl.col("ts")).dt.total_microseconds() / 60e6).alias("minutes_to_close"),
            ((pl.col("ts") - pl.col("prev_ts")).dt.total_microseconds() / 60e6).alias("gap_minutes"),
            pl.col("window_end"),
        )
    )
    stray = out.filter(pl.col("ts") >= pl.col("window_end"))
    if stray.height:  # cannot happen for rows read from the window; guards the lookup above
        raise ValueError(f"{stray.height} bars fall outside the sessions {scope.label}: {stray.head(3)}")
    return out.select(OUTPUT_COLUMNS)


EMPTY_SUMMARY: dict[str, object] = {
    "rth_rows": 0,
    "instruments": 0,
    "max_gap_minutes": "n/a",
    "gaps_over_5_min": 0,
    "first_ts": "n/a",
    "last_ts": "n/a",
}


def _stats() -> list[pl.Expr]:
    return [
        pl.col("is_rth").sum().alias("rth_rows"),
        pl.col("instrument").n_unique().alias("instruments"),
        pl.col("gap_minutes").max().alias("max_gap_minutes"),
        (pl.col("gap_minutes") > LARGE_GAP_MINUTES).sum().alias("gaps_over_5_min"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
    ]


def _readable(stats: dict[str, Any]) -> dict[str, object]:
    """A day's summary row (polars values: ints, floats, datetimes) as metadata values."""
    out: dict[str, object] = {k: stats[k] for k in EMPTY_SUMMARY}
    for key in ("rth_rows", "instruments", "gaps_over_5_min"):
        out[key] = int(stats[key])
    out["max_gap_minutes"] = float(stats["max_gap_minutes"]) if stats["max_gap_minutes"] is not None else "n/a"
    out["first_ts"], out["last_ts"] = stats["first_ts"].isoformat(), stats["last_ts"].isoformat()
    return out


def run_summary(frame: pl.DataFrame, seconds: float) -> dict[str, object]:
    """The run's numbers (all partitions together), reported as ``run_*``."""
    return {
        "sessions_covered": frame["trade_date"].n_unique(),
        "instruments": frame["instrument"].n_unique(),
        "seconds": round(seconds, 3),
    }


def summarize_by_session(frame: pl.DataFrame, sessions: list[dt.date]) -> dict[dt.date, dict[str, object]]:
    """Each session's own numbers (one grouped pass; sessions without bars get zeros)."""
    per_day = {
        row["trade_date"]: _readable(row)
        for row in frame.group_by("trade_date").agg(_stats()).iter_rows(named=True)
    }
    return {day: per_day.get(day, dict(EMPTY_SUMMARY)) for day in sessions}


@trading_day_asset(
    key=ASSET_KEY,
    deps=[
        dg.AssetDep(
            BRONZE_KEY,
            # The previous partition's last bar anchors gap_minutes of this one's first bar
            # (the first partition has none: nothing to read, not an error).
            partition_mapping=lookback_mapping(1),
        )
    ],
    check_specs=check_specs(ASSET_KEY, CHECKS),
    description="Typed, deduplicated, sorted real M1 bars (never forward-filled) with is_rth, "
    "minutes_to_close and gap_minutes over the continuous bar sequence.",
)
def market_bars(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    scope = scope_of(context)
    started = time.perf_counter()
    bars, previous = read_bronze(warehouse, scope)
    context.log.info(f"read {bars.height:,} bronze bars for {scope.label} in {time.perf_counter() - started:.2f}s")
    frame = build_market_bars(bars, previous, scope)
    context.log.info(f"built {frame.height:,} silver bars in {time.perf_counter() - started:.2f}s")
    with warehouse.transaction() as tx:
        tx.replace(TABLE, frame, scope.first, scope.last)
    written = time.perf_counter() - started
    context.log.info(f"wrote {TABLE} {scope.label} in {written:.2f}s")
    checks = run_checks(warehouse, ASSET_KEY, CHECKS, scope, log=context.log)
    metadata = partition_metadata(
        context, frame, scope.sessions, scope.label, run_summary(frame, written),
        summarize_by_session(frame, scope.sessions),
    )
    return materialize_result(context, scope.sessions, metadata, checks)
