"""Candles on disk: both shapes, OHLC invariants, CFD hours, holiday behaviour, realism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl

from finsig_assets.demo_data.calendar_grid import build_grid
from finsig_assets_tests.demo_data.landing_reader import bars


def test_both_oanda_shapes_are_present_exactly_as_the_reference_writes_them(default_demo):
    shapes = default_demo.market.candles["shape"].unique().to_list()
    assert sorted(shapes) == ["flat", "v20"]
    v20 = next(p for p in (default_demo.root / "market").rglob("*_v20.ndjson"))
    raw = json.loads(v20.read_text().splitlines()[0])
    assert list(raw) == ["complete", "volume", "time", "mid"] and list(raw["mid"]) == ["o", "h", "l", "c"]
    assert all(isinstance(v, str) for v in raw["mid"].values())
    assert raw["time"].endswith(".000000000Z") and len(raw["time"]) == 30
    flat = next(p for p in (default_demo.root / "market").rglob("*_flat.ndjson"))
    raw = json.loads(flat.read_text().splitlines()[0])
    assert list(raw) == ["time", "instrument", "granularity", "open", "high", "low", "close", "volume", "collected_at"]
    assert raw["instrument"] == "SPX500_USD" and raw["granularity"] == "M1"
    assert all(isinstance(raw[k], float) for k in ("open", "high", "low", "close"))
    assert raw["time"].endswith("Z") and raw["collected_at"].endswith("Z")
    # Files are named by day and shape, in year/month folders.
    assert str(v20.relative_to(default_demo.root)).startswith("market/2024/0")


def test_every_well_formed_candle_satisfies_ohlc_and_tick_rounding(default_demo):
    c = default_demo.market.candles
    assert c.height > 20 * 1300
    assert c.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
    assert c.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()
    assert (c["low"] > 0).all()
    for col in ("open", "high", "low", "close"):
        ticks = c[col] * 10
        assert ((ticks - ticks.round(0)).abs() < 1e-6).all(), col
    assert 5000 < c["close"].head(1).item() < 5800  # starts near 5400


def test_complete_candles_fall_in_cfd_hours_only(default_demo):
    b = bars(default_demo.market)
    minute_of_day = b["ny"].dt.hour().cast(pl.Int32) * 60 + b["ny"].dt.minute().cast(pl.Int32)
    weekday = b["ny"].dt.weekday()  # Monday = 1 ... Sunday = 7
    assert not ((minute_of_day >= 17 * 60) & (minute_of_day < 18 * 60)).any()
    assert not (weekday == 6).any()
    assert not ((weekday == 5) & (minute_of_day >= 17 * 60)).any()
    assert not ((weekday == 7) & (minute_of_day < 18 * 60)).any()
    grid = build_grid("2024-06-24", 20)
    on_grid = np.isin(b["ts"].dt.epoch("s").to_numpy() // 60, grid.minute)
    assert on_grid.all()
    # Real bars only: some grid minutes have no bar (gaps), never forward-filled.
    assert 0 < grid.minute.shape[0] - b.height < 0.02 * grid.minute.shape[0]


def test_holiday_and_early_close_on_disk(default_demo):
    b = bars(default_demo.market)
    ny = b["ny"]

    def count(start: str, end: str) -> int:
        lo, hi = pd.Timestamp(start, tz="America/New_York"), pd.Timestamp(end, tz="America/New_York")
        return int(((ny >= lo) & (ny < hi)).sum())

    assert count("2024-07-03 13:15", "2024-07-03 18:00") == 0
    assert count("2024-07-03 12:00", "2024-07-03 13:15") > 60
    assert count("2024-07-04 13:00", "2024-07-04 18:00") == 0
    assert count("2024-07-04 08:00", "2024-07-04 13:00") > 250
    # The holiday is quiet: no opening burst at 09:30.
    day = b.with_columns((pl.col("close") / pl.col("open")).log().abs().alias("ar"))

    def mean_abs(start: str, end: str) -> float:
        lo, hi = pd.Timestamp(start, tz="America/New_York"), pd.Timestamp(end, tz="America/New_York")
        return day.filter((pl.col("ny") >= lo) & (pl.col("ny") < hi))["ar"].mean()

    assert mean_abs("2024-07-04 09:30", "2024-07-04 10:00") < 0.5 * mean_abs("2024-07-05 09:30", "2024-07-05 10:00")


def test_intraday_volatility_is_u_shaped_and_volume_follows_it(default_demo):
    b = bars(default_demo.market).with_columns(
        (pl.col("close") / pl.col("open")).log().abs().alias("ar"),
        (pl.col("ny").dt.hour().cast(pl.Int32) * 60 + pl.col("ny").dt.minute().cast(pl.Int32)).alias("mod"),
    )

    def window(lo: int, hi: int) -> pl.DataFrame:
        return b.filter((pl.col("mod") >= lo) & (pl.col("mod") < hi))

    open_, close_ = window(9 * 60 + 30, 10 * 60), window(15 * 60 + 30, 16 * 60)
    midday, night = window(12 * 60, 13 * 60), window(2 * 60, 4 * 60)
    assert open_["ar"].mean() > 3 * night["ar"].mean()
    assert close_["ar"].mean() > 2 * night["ar"].mean()
    assert open_["ar"].mean() > midday["ar"].mean() and close_["ar"].mean() > midday["ar"].mean()
    assert open_["volume"].mean() > 3 * night["volume"].mean()
    assert np.corrcoef(b["ar"].to_numpy(), b["volume"].to_numpy())[0, 1] > 0.3


def test_in_progress_candles_refetches_and_conflicts(default_demo):
    c = default_demo.market.candles
    incomplete = c.filter(~pl.col("complete"))
    assert incomplete.height >= 1 and (incomplete["shape"] == "v20").all()
    refetch = c.filter(pl.col("file").str.ends_with(".refetch.ndjson"))
    assert refetch.height > 0
    originals = c.filter(~pl.col("file").str.ends_with(".refetch.ndjson") & pl.col("complete"))
    assert originals["ts"].is_unique().all(), "an original file repeats a minute"
    joined = refetch.join(originals, on="ts", suffix="_orig")
    assert joined.height == refetch.height, "every refetched candle repeats one from an original file"
    differs = joined.filter(
        (pl.col("open") != pl.col("open_orig"))
        | (pl.col("high") != pl.col("high_orig"))
        | (pl.col("low") != pl.col("low_orig"))
        | (pl.col("close") != pl.col("close_orig"))
    )
    assert differs.height == 2, "exactly two conflicting candles"
    assert (differs["file"] > differs["file_orig"]).all(), "the revision sorts after the original"
    # Incomplete candles repeat a minute whose complete version is elsewhere, except the last one.
    last_ts = c["ts"].max()
    for ts in incomplete["ts"].to_list():
        assert ts == last_ts or originals.filter(pl.col("ts") == ts).height == 1


def test_malformed_lines_of_every_kind_are_rejected_and_counted(default_demo):
    rejected = default_demo.market.rejected
    assert len(rejected) == default_demo.summary.n_malformed_market_lines >= 7
    reasons = " | ".join(r for _, _, r in rejected)
    for fragment in ("invalid JSON", "missing", "high < low", "non-positive", "bad time", "bad price", "OHLC inconsistent"):
        assert fragment in reasons, fragment
    # They never shadow a good candle: their minutes (where readable) have no complete bar.
    good = set(bars(default_demo.market)["ts"].to_list())
    for file, number, _ in rejected:
        line = (default_demo.root / file).read_text().splitlines()[number - 1]
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        stamp = raw.get("time", "")
        if isinstance(stamp, str) and len(stamp) >= 19 and stamp[11:13] < "24":
            ts = pd.Timestamp(stamp[:19], tz="UTC").to_pydatetime()
            assert ts not in good


def test_no_malformed_and_no_overlaps_when_switched_off(tmp_path):
    from finsig_assets.demo_data import write_demo_landing
    from finsig_assets_tests.demo_data.landing_reader import read_market

    summary = write_demo_landing(tmp_path, n_sessions=3, malformed=False, overlapping_files=False, articles_per_session=5)
    read = read_market(tmp_path)
    assert read.rejected == [] and summary.n_malformed_market_lines == 0
    assert not any("refetch" in f for f in read.candles["file"].unique().to_list())
    assert read.candles.filter(pl.col("complete"))["ts"].is_unique().all()
    assert summary.n_candles == read.candles.filter(pl.col("complete")).height
