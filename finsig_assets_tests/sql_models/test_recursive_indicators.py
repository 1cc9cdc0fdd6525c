"""gold.market_features indicators against independent references: TA-Lib and numpy formulas.

The series starts at the first bar of the warehouse, so the model sees the whole history; its
seeds (first value) differ from TA-Lib's (a simple average of the first n), and the difference
decays like (1 - a)^n -- slowest for EMA50, (49/51)^n -- so rows from bar 1,000 on must agree to
1e-9 relative ((49/51)^1000 ~ 4e-18; (13/14)^1000 ~ 7e-33).
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from finsig_assets.partition_scope import PartitionScope
from finsig_assets.sql_models import compute_sql_model, load_sql_model, market_features
from finsig_assets.sql_models.recursive_indicators import MIN_WARMUP_BARS, add_recursive_indicators
from finsig_assets.settings import sql_dir
from finsig_assets_tests.sql_models.synthetic_bars import synthetic_bars, warehouse_with_bars

FIRST, LAST = "2024-03-04", "2024-03-06"
SETTLED = 1000  # bars after which seed differences are far below 1e-9


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    bars = synthetic_bars(FIRST, LAST, seed=11)
    warehouse = warehouse_with_bars(tmp_path_factory.mktemp("ri") / "w.duckdb", bars)
    model = load_sql_model(sql_dir() / "gold.market_features.sql")
    features = compute_sql_model(model, warehouse, PartitionScope.of(FIRST, LAST)).frame
    assert features["ts"].to_list() == bars["ts"].to_list()  # one row per bar, same order
    return bars, features


def _close_to(mine, ref, start, atol=1e-9, rtol=0.0):
    mine = np.asarray(mine, dtype=float)[start:]
    ref = np.asarray(ref, dtype=float)[start:]
    assert not np.isnan(ref).any() and not np.isnan(mine).any()
    np.testing.assert_allclose(mine, ref, atol=atol, rtol=rtol)


def test_rsi_macd_atr_match_talib(computed):
    bars, f = computed
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    assert bars.height > 3 * SETTLED
    _close_to(f["rsi_14"], talib.RSI(close, timeperiod=14), SETTLED)
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    _close_to(f["macd"], macd, SETTLED)
    _close_to(f["macd_signal"], signal, SETTLED)
    _close_to(f["macd_hist"], hist, SETTLED)
    _close_to(f["atr_14"], talib.ATR(high, low, close, timeperiod=14), SETTLED)


def test_rsi_20_ema_adx_match_talib(computed):
    bars, f = computed
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    _close_to(f["rsi_20"], talib.RSI(close, timeperiod=20), SETTLED)
    for period in (7, 14, 21, 50):
        _close_to(f[f"ema_{period}"], talib.EMA(close, timeperiod=period), SETTLED, atol=0, rtol=1e-9)
    _close_to(f["adx_14"], talib.ADX(high, low, close, timeperiod=14), SETTLED)


def test_sma_momentum_roc_match_talib_from_the_first_value(computed):
    # Rolling windows and lags have no seed: equal from TA-Lib's first value on.
    bars, f = computed
    close = bars["close"].to_numpy()
    for period in (7, 14, 21, 50):
        _close_to(f[f"sma_{period}"], talib.SMA(close, timeperiod=period), period - 1, atol=0, rtol=1e-12)
    _close_to(f["momentum_10"], talib.MOM(close, timeperiod=10), 10, atol=1e-9)
    _close_to(f["roc_10"], talib.ROC(close, timeperiod=10), 10, atol=1e-9)


def test_warm_up_nulls_where_talib_has_none(computed):
    bars, f = computed
    close, high, low = (bars[c].to_numpy() for c in ("close", "high", "low"))
    first_valid = {c: f[c].is_not_null().arg_max() for c in ("rsi_14", "atr_14", "macd", "macd_signal", "macd_hist")}
    # TA-Lib lookbacks: RSI 14, ATR 14, MACD 25 (signal 33).
    assert first_valid == {"rsi_14": 14, "atr_14": 14, "macd": 25, "macd_signal": 33, "macd_hist": 33}
    talib_outputs = {
        "rsi_20": talib.RSI(close, timeperiod=20),
        "adx_14": talib.ADX(high, low, close, timeperiod=14),
        "momentum_10": talib.MOM(close, timeperiod=10),
        "roc_10": talib.ROC(close, timeperiod=10),
        **{f"ema_{p}": talib.EMA(close, timeperiod=p) for p in (7, 14, 21, 50)},
        **{f"sma_{p}": talib.SMA(close, timeperiod=p) for p in (7, 14, 21, 50)},
    }
    for column, reference in talib_outputs.items():
        assert f[column].is_not_null().arg_max() == int(np.argmax(~np.isnan(reference))), column
        assert f[column][int(np.argmax(~np.isnan(reference))) :].is_not_null().all(), column


def test_bollinger_matches_talib_population_std(computed):
    bars, f = computed
    close = bars["close"].to_numpy()
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    assert f["bb_position_20"][:19].is_null().all()
    _close_to(f["bb_position_20"], (close - lower) / (upper - lower), 19, atol=1e-9)
    _close_to(f["bb_width_20"], (upper - lower) / middle, 19, atol=0, rtol=1e-9)


def _rolling(values: np.ndarray, n: int, fn) -> np.ndarray:
    out = np.full(values.shape[0], np.nan)
    out[n - 1 :] = fn(sliding_window_view(values, n), axis=-1)
    return out


def test_range_estimators_match_textbook_formulas(computed):
    bars, f = computed
    o, h, l, c = (bars[x].to_numpy() for x in ("open", "high", "low", "close"))
    n = 30
    hl, co = np.log(h / l), np.log(c / o)
    rs = np.log(h / c) * np.log(h / o) + np.log(l / c) * np.log(l / o)
    parkinson = np.sqrt(_rolling(hl**2, n, np.mean) / (4 * np.log(2)))
    garman_klass = np.sqrt(_rolling(0.5 * hl**2 - (2 * np.log(2) - 1) * co**2, n, np.mean))
    rogers_satchell = np.sqrt(_rolling(rs, n, np.mean))
    overnight = np.concatenate([[np.nan], np.log(o[1:] / c[:-1])])
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    var = lambda x, axis: np.var(x, axis=axis, ddof=1)  # noqa: E731
    yang_zhang = np.sqrt(_rolling(overnight, n, var) + k * _rolling(co, n, var) + (1 - k) * _rolling(rs, n, np.mean))

    _close_to(f["parkinson_vol_30"], parkinson, n - 1, atol=0, rtol=1e-9)
    _close_to(f["garman_klass_vol_30"], garman_klass, n - 1, atol=0, rtol=1e-9)
    _close_to(f["rogers_satchell_vol_30"], rogers_satchell, n - 1, atol=0, rtol=1e-9)
    _close_to(f["yang_zhang_vol_30"], yang_zhang, n, atol=0, rtol=1e-9)
    assert f["yang_zhang_vol_30"][:n].is_null().all() and f["parkinson_vol_30"][: n - 1].is_null().all()


def test_realized_vol_and_volume_z_match_numpy(computed):
    bars, f = computed
    c, v = bars["close"].to_numpy(), bars["volume"].to_numpy().astype(float)
    r = np.concatenate([[np.nan], np.log(c[1:] / c[:-1])])  # whole-minute bars: 1-min return = bar-to-bar
    std = lambda x, axis: np.std(x, axis=axis, ddof=1)  # noqa: E731
    _close_to(f["realized_vol_30"], _rolling(r, 30, std), 30, atol=0, rtol=1e-9)
    _close_to(f["realized_vol_60"], _rolling(r, 60, std), 60, atol=0, rtol=1e-9)
    z = (v - _rolling(v, 60, np.mean)) / _rolling(v, 60, std)
    _close_to(f["volume_z_60"], z, 59, atol=1e-9)
    assert f["realized_vol_30"][:30].is_null().all() and f["volume_z_60"][:59].is_null().all()


def test_microstructure_features_match_numpy(computed):
    bars, f = computed
    h, l, c = (bars[x].to_numpy() for x in ("high", "low", "close"))
    v = bars["volume"].to_numpy().astype(float)
    r = np.concatenate([[np.nan], np.log(c[1:] / c[:-1])])
    _close_to(f["hl_range"], (h - l) / c, 0, atol=0, rtol=1e-12)
    _close_to(f["volume_ratio_20"], v / _rolling(v, 20, np.mean), 19, atol=0, rtol=1e-12)
    _close_to(f["volume_ratio_60"], v / _rolling(v, 60, np.mean), 59, atol=0, rtol=1e-12)
    _close_to(f["amihud_30"], _rolling(np.abs(r) / v, 30, np.mean), 30, atol=0, rtol=1e-9)
    typical = (h + l + c) / 3
    _close_to(f["vwap_30"], _rolling(typical * v, 30, np.sum) / _rolling(v, 30, np.sum), 29, atol=0, rtol=1e-12)
    std = lambda x, axis: np.std(x, axis=axis, ddof=1)  # noqa: E731
    realized = _rolling(r, 30, std)
    _close_to(f["vol_of_vol_30"], _rolling(realized, 30, std), 59, atol=0, rtol=1e-9)
    for column, first in {"amihud_30": 30, "vwap_30": 29, "vol_of_vol_30": 59, "volume_ratio_60": 59}.items():
        assert f[column][:first].is_null().all() and f[column][first:].is_not_null().all(), column


def test_amihud_leaves_out_bars_without_volume(tmp_path):
    bars = synthetic_bars(FIRST, FIRST, seed=4)
    v = bars["volume"].to_numpy().copy()
    v[100:400:3] = 0  # a third of these bars traded nothing
    v[600:640] = 0  # and a stretch longer than the window
    bars = bars.with_columns(volume=pl.Series(v, dtype=pl.Int64))
    model = load_sql_model(sql_dir() / "gold.market_features.sql")
    f = compute_sql_model(model, warehouse_with_bars(tmp_path / "w.duckdb", bars), PartitionScope.of(FIRST)).frame
    c = bars["close"].to_numpy()
    r = np.concatenate([[np.nan], np.log(c[1:] / c[:-1])])
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": the NaN expected below
        terms = np.where(v > 0, np.abs(r) / v, np.nan)
        expected = _rolling(terms, 30, np.nanmean)  # NaN where the whole window had no volume
    got = f["amihud_30"].to_numpy().astype(float)
    assert np.array_equal(np.isnan(got[30:]), np.isnan(expected[30:]))
    # Windows ending at bars 629..639 hold only the stretch without volume.
    assert np.isnan(expected[629:640]).all() and not np.isnan(expected[[628, 640]]).any()
    np.testing.assert_allclose(got[30:][~np.isnan(got[30:])], expected[30:][~np.isnan(expected[30:])], rtol=1e-9)
    # VWAP is NULL, never NaN or inf, over the 30 bars without volume.
    assert f["vwap_30"][629:640].is_null().all() and f["vwap_30"][640] is not None


def test_instruments_do_not_mix(tmp_path):
    a = synthetic_bars(FIRST, FIRST, instrument="AAA", seed=1, price=100.0)
    b = synthetic_bars(FIRST, FIRST, instrument="BBB", seed=2, price=9000.0)
    model = load_sql_model(sql_dir() / "gold.market_features.sql")
    scope = PartitionScope.of(FIRST)
    both = compute_sql_model(model, warehouse_with_bars(tmp_path / "ab.duckdb", pl.concat([a, b])), scope).frame
    only_b = compute_sql_model(model, warehouse_with_bars(tmp_path / "b.duckdb", b), scope).frame
    assert both.filter(pl.col("instrument") == "BBB").equals(only_b)


def test_step_refuses_too_short_warm_up():
    frame = pl.DataFrame({c: [] for c in ("instrument", "ts", "_close", "_high", "_low", "_prev_close")})
    with pytest.raises(ValueError, match=f"warmup_bars={MIN_WARMUP_BARS - 1}"):
        add_recursive_indicators(frame, {"warmup_bars": MIN_WARMUP_BARS - 1})


def test_market_features_asset_uses_this_step():
    assert market_features.metadata_by_key[market_features.key]["python_post"] == "recursive_indicators"
