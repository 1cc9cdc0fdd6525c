"""silver/market_bars: real bars only, RTH flags, minutes to close, gaps over the whole sequence."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finsig_assets.silver import market_bars
from finsig_assets.trading_calendar import UTC
from finsig_assets_tests.silver.bronze_rows import candle_rows, insert_candles, materialize, metadata_of, ny

D = "2024-03-12"  # a Tuesday, New York on EDT


def silver(warehouse) -> pl.DataFrame:
    return warehouse.query("SELECT * FROM silver.market_bars ORDER BY instrument, ts")


def by_ts(frame: pl.DataFrame) -> dict[dt.datetime, dict]:
    return {row["ts"]: row for row in frame.iter_rows(named=True)}


def test_real_bars_only_no_forward_fill_and_defensive_dedupe(warehouse):
    times = [ny(D, "10:00"), ny(D, "10:01"), ny(D, "10:10"), ny(D, "10:11")]
    rows = candle_rows(times)
    # A second copy of 10:01, ingested later: it wins; bronze normally never holds this.
    late = candle_rows([ny(D, "10:01")], ingested_at=dt.datetime(2025, 6, 1, tzinfo=UTC), open=1.0, high=2.0, low=0.5, close=1.5)
    insert_candles(warehouse, rows + late)

    result = materialize(market_bars, warehouse, D)
    out = silver(warehouse)

    assert out.height == 4  # distinct bronze bars; nothing synthetic between 10:01 and 10:10
    assert out["ts"].to_list() == times
    assert out["gap_minutes"].to_list() == [None, 1.0, 9.0, 1.0]
    assert by_ts(out)[ny(D, "10:01")]["open"] == 1.0
    assert out["trade_date"].unique().to_list() == [dt.date(2024, 3, 12)]
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 4
    assert meta["max_gap_minutes"] == 9.0
    assert meta["gaps_over_5_min"] == 1
    assert meta["run_sessions_covered"] == 1
    assert meta["rth_rows"] == 4
    assert meta["first_ts"] == ny(D, "10:00").isoformat()
    assert meta["last_ts"] == ny(D, "10:11").isoformat()


def test_is_rth_and_minutes_to_close_on_a_normal_day(warehouse):
    evening_before = ny("2024-03-11", "18:00")  # in D's window (after 17:00 NY on the previous session)
    times = [evening_before, ny(D, "04:00"), ny(D, "09:29"), ny(D, "09:30"), ny(D, "15:59"), ny(D, "16:00"), ny(D, "16:30"), ny(D, "16:59")]
    insert_candles(warehouse, candle_rows(times))
    materialize(market_bars, warehouse, D)
    rows = by_ts(silver(warehouse))

    assert {ts: r["trade_date"] for ts, r in rows.items()} == {ts: dt.date(2024, 3, 12) for ts in times}
    assert [rows[t]["is_rth"] for t in times] == [False, False, False, True, True, False, False, False]
    assert [rows[t]["minutes_to_close"] for t in times] == [1320.0, 720.0, 391.0, 390.0, 1.0, 0.0, -30.0, -59.0]


def test_bar_at_the_cutoff_belongs_to_the_next_session(warehouse):
    insert_candles(warehouse, candle_rows([ny(D, "16:59"), ny(D, "17:00")]))
    materialize(market_bars, warehouse, D)
    assert silver(warehouse)["ts"].to_list() == [ny(D, "16:59")]
    materialize(market_bars, warehouse, "2024-03-13")
    out = silver(warehouse)
    assert out["trade_date"].to_list() == [dt.date(2024, 3, 12), dt.date(2024, 3, 13)]
    assert out["gap_minutes"].to_list() == [None, 1.0]


def test_early_close_ends_rth_at_13_00(warehouse):
    day = "2024-07-03"
    times = [ny(day, "09:30"), ny(day, "12:00"), ny(day, "12:59"), ny(day, "13:00"), ny(day, "14:00"), ny(day, "15:30")]
    insert_candles(warehouse, candle_rows(times))
    materialize(market_bars, warehouse, day)
    rows = by_ts(silver(warehouse))
    assert [rows[t]["is_rth"] for t in times] == [True, True, True, False, False, False]
    assert [rows[t]["minutes_to_close"] for t in times] == [210.0, 60.0, 1.0, 0.0, -60.0, -150.0]


def test_gap_across_a_partition_boundary_reads_the_previous_partition(warehouse):
    previous = [ny("2024-03-11", "16:50"), ny("2024-03-11", "16:55")]  # partition 2024-03-11
    current = [ny("2024-03-11", "18:00"), ny("2024-03-11", "18:01")]  # partition 2024-03-12
    insert_candles(warehouse, candle_rows(previous + current))

    # D alone, D-1 never materialized: the first bar's gap still comes from D-1's last bar.
    materialize(market_bars, warehouse, D)
    out = silver(warehouse)
    assert out["ts"].to_list() == current
    assert out["gap_minutes"].to_list() == [65.0, 1.0]

    materialize(market_bars, warehouse, "2024-03-11")
    out = silver(warehouse)
    assert out["gap_minutes"].to_list() == [None, 5.0, 65.0, 1.0]  # NULL only for the first bar ever


def test_gap_across_a_weekend_and_a_dst_change(warehouse):
    friday_close = ny("2024-03-08", "16:58")  # 21:58 UTC (EST)
    sunday_open = ny("2024-03-10", "18:00")  # 22:00 UTC (EDT): belongs to Monday 2024-03-11
    insert_candles(warehouse, candle_rows([friday_close, sunday_open, sunday_open + dt.timedelta(minutes=1)]))
    materialize(market_bars, warehouse, "2024-03-11")
    out = silver(warehouse)
    assert out["trade_date"].to_list() == [dt.date(2024, 3, 11)] * 2
    assert out["gap_minutes"].to_list() == [48 * 60 + 2.0, 1.0]
    assert out["is_rth"].to_list() == [False, False]


def test_gap_after_a_long_outage_falls_back_to_the_full_history(warehouse):
    old = ny("2024-01-05", "12:00")
    insert_candles(warehouse, candle_rows([old, ny(D, "10:00")]))
    materialize(market_bars, warehouse, D)
    (gap,) = silver(warehouse)["gap_minutes"].to_list()
    assert gap == (ny(D, "10:00") - old).total_seconds() / 60


def _two_instruments_over_a_week() -> list[dict]:
    rows = []
    for instrument, step in (("SPX500_USD", 7), ("NAS100_USD", 11)):
        start = ny("2024-03-07", "18:00")
        times = [start + dt.timedelta(minutes=step * i) for i in range(0, 6 * 24 * 60 // step)]
        rows += candle_rows(times, instrument=instrument)
    return rows


def test_range_equals_day_by_day_and_rematerializing_is_idempotent(warehouse, tmp_path):
    from finsig_assets.warehouse import DuckDBWarehouse

    rows = _two_instruments_over_a_week()
    other = DuckDBWarehouse(database=str(tmp_path / "other.duckdb"), lock_timeout_seconds=60)
    insert_candles(warehouse, rows)
    insert_candles(other, rows)
    days = ["2024-03-08", "2024-03-11", "2024-03-12", "2024-03-13"]

    result = materialize(market_bars, warehouse, days[0], days[-1])
    for day in days:
        materialize(market_bars, other, day)
    ranged, daily = silver(warehouse), silver(other)
    assert ranged.height > 0
    assert ranged.equals(daily)
    assert metadata_of(result)["run_sessions_covered"] == 4
    assert metadata_of(result)["instruments"] == 2

    materialize(market_bars, warehouse, days[0], days[-1])
    materialize(market_bars, warehouse, days[1])
    assert silver(warehouse).equals(ranged)
    # Sorted, unique per (instrument, ts).
    assert ranged.select(pl.struct("instrument", "ts").is_unique().all()).item()


@pytest.mark.parametrize("day", ["2024-03-12"])
def test_empty_partition_writes_nothing_and_reports_zero(warehouse, day):
    result = materialize(market_bars, warehouse, day)
    assert silver(warehouse).height == 0
    assert metadata_of(result)["dagster/row_count"] == 0
