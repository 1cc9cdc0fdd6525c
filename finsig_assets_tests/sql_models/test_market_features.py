"""gold/market_features: partitions alone equal the whole range, no look-ahead, time-based returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import dagster as dg
import numpy as np
import polars as pl
import pytest

from finsig_assets.partition_scope import PartitionScope
from finsig_assets.settings import sql_dir
from finsig_assets.sql_models import compute_sql_model, load_sql_model, market_features
from finsig_assets.sql_models.recursive_indicators import MIN_WARMUP_BARS
from finsig_assets.trading_calendar import NEW_YORK, sessions_between
from finsig_assets_tests.sql_models.synthetic_bars import (
    finish_silver,
    read_table,
    synthetic_bars,
    warehouse_with_bars,
)

# Six sessions around Memorial Day 2024 (Monday 27 May is a holiday: the CFD trades, and those
# bars belong to Tuesday's partition), with a weekend and the nightly 17:00-18:00 break.
FIRST, LAST = "2024-05-22", "2024-05-30"
SESSIONS = [d.isoformat() for d in sessions_between(FIRST, LAST)]
KEYS = ["instrument", "ts", "trade_date"]
TOL = 1e-9


def _model():
    return load_sql_model(sql_dir() / "gold.market_features.sql")


def _materialize(warehouse, partition_key=None, first=None, last=None, run_config=None):
    tags = {}
    if first is not None:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize(
        [market_features],
        partition_key=partition_key,
        tags=tags,
        run_config=run_config,
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return result


def assert_features_equal(left: pl.DataFrame, right: pl.DataFrame, tol: float = TOL) -> None:
    """Same keys in the same order; every feature equal within ``tol`` (relative above 1); NULLs equal."""
    assert left.columns == right.columns
    assert left.select(KEYS).equals(right.select(KEYS))
    for column in left.columns:
        if column in KEYS:
            continue
        a, b = left[column], right[column]
        assert (a.is_null() == b.is_null()).all(), f"{column}: NULLs differ"
        x, y = a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy()
        worst = np.max(np.abs(x - y) / np.maximum(1.0, np.abs(y))) if x.size else 0.0
        assert worst <= tol, f"{column}: differs by {worst:.3g}"


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return synthetic_bars(FIRST, LAST, seed=5)


def test_partitions_alone_equal_the_whole_range(bars, tmp_path):
    whole_wh = warehouse_with_bars(tmp_path / "whole.duckdb", bars)
    result = _materialize(whole_wh, first=FIRST, last=LAST)
    whole = read_table(whole_wh, "gold.market_features")
    assert whole.height == bars.height  # one row per silver bar
    assert whole.select(KEYS).equals(bars.select(KEYS))
    assert len(result.asset_materializations_for_node(market_features.op.name)) == len(SESSIONS)

    alone_wh = warehouse_with_bars(tmp_path / "alone.duckdb", bars)
    for key in reversed(SESSIONS):  # order must not matter
        _materialize(alone_wh, partition_key=key)
    assert_features_equal(read_table(alone_wh, "gold.market_features"), whole)

    # Still true at the smallest warm-up the step accepts (computed directly, no Dagster).
    model = _model()
    for key in SESSIONS:
        part = compute_sql_model(model, alone_wh, PartitionScope.of(key), {"warmup_bars": MIN_WARMUP_BARS}).frame
        assert_features_equal(part, whole.filter(pl.col("trade_date") == dt.date.fromisoformat(key)))


def test_rematerializing_replaces_the_partition(bars, tmp_path):
    warehouse = warehouse_with_bars(tmp_path / "w.duckdb", bars)
    key = SESSIONS[3]
    _materialize(warehouse, partition_key=key)
    _materialize(warehouse, partition_key=key, run_config={"ops": {market_features.op.name: {"config": {"warmup_bars": 800}}}})
    table = read_table(warehouse, "gold.market_features")
    assert table.height == bars.filter(pl.col("trade_date") == dt.date.fromisoformat(key)).height
    assert table["trade_date"].unique().to_list() == [dt.date.fromisoformat(key)]


def test_chunked_range_equals_one_select(bars, tmp_path):
    warehouse = warehouse_with_bars(tmp_path / "w.duckdb", bars)
    model = _model()
    scope = PartitionScope.of(FIRST, LAST)
    one = compute_sql_model(dataclasses.replace(model, chunk_sessions=None), warehouse, scope)
    chunked = compute_sql_model(dataclasses.replace(model, chunk_sessions=2), warehouse, scope)
    assert len(one.chunks) == 1 and len(chunked.chunks) == 3
    assert_features_equal(chunked.frame, one.frame)


def test_changing_every_bar_after_t_changes_nothing_at_or_before_t(bars, tmp_path):
    model = _model()
    scope = PartitionScope.of(FIRST, LAST)
    before = compute_sql_model(model, warehouse_with_bars(tmp_path / "a.duckdb", bars), scope).frame

    t = bars.filter(pl.col("trade_date") == dt.date.fromisoformat(SESSIONS[2]))["ts"][700]
    rng = np.random.default_rng(99)
    later = pl.col("ts") > t
    n_later = bars.filter(later).height
    shock = pl.Series(np.exp(rng.normal(0, 0.01, n_later)))
    future = bars.filter(later).with_columns(
        *[(pl.col(c) * shock) for c in ("open", "high", "low", "close")],
        volume=pl.col("volume") * 3 + 7,
    )
    # ...and a different set of future bars: drop a tenth of them.
    future = future.filter(pl.Series(rng.random(n_later) > 0.1))
    perturbed = finish_silver(pl.concat([bars.filter(~later), future]).select("instrument", "ts", "open", "high", "low", "close", "volume"))
    after = compute_sql_model(model, warehouse_with_bars(tmp_path / "b.duckdb", perturbed), scope).frame

    assert_features_equal(after.filter(pl.col("ts") <= t), before.filter(pl.col("ts") <= t), tol=0.0)
    # The perturbation is real: later rows did change.
    later_after = after.filter(pl.col("ts") > t).join(before, on=KEYS, suffix="_b")
    assert (later_after["ret_1m"] - later_after["ret_1m_b"]).abs().max() > 1e-4


def test_returns_look_back_by_time_to_the_last_bar_at_or_before(tmp_path):
    # Sparse bars: 40% of minutes missing, so t - h often has no bar and the one before is used.
    last = SESSIONS[3]  # through the weekend and the holiday
    bars = synthetic_bars(FIRST, last, seed=3, missing_fraction=0.4)
    out = compute_sql_model(_model(), warehouse_with_bars(tmp_path / "w.duckdb", bars), PartitionScope.of(FIRST, last)).frame
    ts = bars["ts"].dt.epoch("us").to_numpy()
    close = bars["close"].to_numpy()
    for h in (1, 5, 15, 30, 60, 120, 240, 360):
        ref = np.searchsorted(ts, ts - h * 60_000_000, side="right") - 1  # last bar with ts' <= t - h
        expected = np.where(ref >= 0, np.log(close / close[np.maximum(ref, 0)]), np.nan)
        got = out[f"ret_{h}m"].to_numpy()
        assert np.array_equal(np.isnan(expected), np.isnan(got)), h
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-12, atol=1e-15)
        assert ((ts - ts[np.maximum(ref, 0)])[ref >= 0] >= h * 60_000_000).all()  # never a bar after t - h
    # After the weekend the returns reach back to Friday's last bar (not NULL, not a later bar).
    after_weekend = np.flatnonzero(bars["gap_minutes"].fill_null(0).to_numpy() > 24 * 60)
    assert after_weekend.size == 1
    i = int(after_weekend[0])
    assert out["ret_1m"][i] == pytest.approx(math.log(close[i] / close[i - 1]), rel=1e-12)
    assert out["ret_60m"][i] == pytest.approx(math.log(close[i] / close[i - 1]), rel=1e-12)
    assert out["ret_360m"][i] == pytest.approx(math.log(close[i] / close[i - 1]), rel=1e-12)


def test_session_clock_and_columns(bars, tmp_path):
    out = compute_sql_model(_model(), warehouse_with_bars(tmp_path / "w.duckdb", bars), PartitionScope.of(SESSIONS[1])).frame
    local = out.with_columns(local=pl.col("ts").dt.convert_time_zone(str(NEW_YORK)))
    at_open = local.filter(pl.col("local").dt.time() == dt.time(9, 30))
    assert at_open["minute_of_session"].to_list() == [0.0] * at_open.height
    evening = local.filter(pl.col("local").dt.time() == dt.time(18, 0))
    assert evening["minute_of_session"].to_list() == [-930.0] * evening.height
    assert (out["minutes_to_close"] == bars.filter(pl.col("trade_date") == dt.date.fromisoformat(SESSIONS[1]))["minutes_to_close"]).all()
    assert out.columns == [c for c, _ in _model().columns]
    for column, dtype in out.schema.items():
        if dtype == pl.Float64:
            values = out[column].drop_nulls().to_numpy()
            assert np.isfinite(values).all(), f"{column} has NaN/inf"
    for column in ("rsi_14", "rsi_20", "adx_14"):
        assert 0 <= out[column].min() and out[column].max() <= 100, column
    assert math.isclose(out["bb_position_20"].median(), 0.5, abs_tol=0.15)


def test_flat_prices_give_nulls_not_nan(tmp_path):
    bars = synthetic_bars(FIRST, FIRST, seed=1).with_columns(
        open=pl.lit(100.0), high=pl.lit(100.0), low=pl.lit(100.0), close=pl.lit(100.0), volume=pl.lit(10, pl.Int64)
    )
    out = compute_sql_model(_model(), warehouse_with_bars(tmp_path / "w.duckdb", bars), PartitionScope.of(FIRST)).frame
    tail = out.tail(100)
    for column in ("bb_position_20", "volume_z_60", "rsi_14", "rsi_20", "adx_14"):
        assert tail[column].is_null().all(), column
    assert (tail["ret_60m"] == 0).all() and (tail["parkinson_vol_30"] == 0).all() and (tail["atr_14"] == 0).all()
    for column in ("ret_360m", "momentum_10", "roc_10", "hl_range", "amihud_30", "vol_of_vol_30"):
        assert (tail[column] == 0).all(), column
    for column in ("volume_ratio_20", "volume_ratio_60"):
        assert (tail[column] == 1).all(), column
    for column in ("sma_50", "ema_50", "vwap_30"):
        assert (tail[column] - 100.0).abs().max() < 1e-9, column


def test_sql_never_looks_forward_by_construction():
    """No frame reaches past the current row, nothing leads, every lookback lags to an earlier minute."""
    import re

    body = "\n".join(line.split("--")[0] for line in _model().sql.splitlines()).lower()
    assert "following" not in body and "lead(" not in body and "asof" not in body
    # The one unbounded frame is the running "last close so far" over the minutes.
    assert body.count("unbounded") == 1
    assert re.search(r"last_value\(c\.close ignore nulls\) over \(\s*partition by m\.instrument order by m\.minute_no "
                     r"rows between unbounded preceding and current row", body)
    # Lookbacks: lags (backwards) over the gap-free minute grid, named for their horizon, read
    # back on the bar's own minute.
    lookbacks = re.findall(r"lag\(close, (\d+)\)\s+over w as close_(\d+)m_ago", body)
    assert sorted(int(h) for h, _ in lookbacks) == [1, 5, 15, 30, 60, 120, 240, 360]
    assert all(h == name for h, name in lookbacks)
    assert re.search(r"window w as \(partition by instrument order by minute_no\)\s*\)", body)
    assert re.search(r"join lookbacks as l on l\.instrument = k\.instrument and l\.minute_no = k\.minute_no and l\.has_bar", body)
    frames = re.findall(r"rows between (\d+) preceding and current row", body)
    assert frames and all(int(n) < 60 for n in frames)
    assert "$window_end" in body and "ts < $window_end" in body  # nothing after the window is read
