"""The ``recursive_indicators`` python_post step of ``gold.market_features``: RSI, MACD, EMA, ATR,
ADX, and the volatility of volatility.

These are infinite-memory recursions ``y_t = (1 - a) y_{t-1} + a x_t``: every output depends on
every earlier bar, which SQL can only express with a recursive CTE (one row per iteration, far
too slow for millions of bars). Polars' ``ewm_mean(alpha=a, adjust=False)`` is that recursion,
seeded with the first input. They run per instrument over the continuous, ordered bar sequence
(warm-up rows included, no reset per session):

- Wilder RSI-14 and RSI-20: average gain / loss of bar-to-bar close changes with ``a = 1/n``;
  ``rsi = 100 * gain / (gain + loss)`` (NULL when both are zero).
- MACD 12/26/9: ``macd = EMA12(close) - EMA26(close)``, ``macd_signal = EMA9(macd)``,
  ``macd_hist = macd - macd_signal``, EMA ``a = 2 / (n + 1)``.
- EMA 7/14/21/50 of the close, ``a = 2 / (n + 1)``.
- Wilder ATR-14: ``a = 1/14`` over the true range ``max(H - L, |H - C'|, |L - C'|)`` with
  ``C'`` the previous bar's close (``H - L`` for an instrument's first bar).
- Wilder ADX-14: directional movement ``up = H - H'``, ``down = L' - L``; ``+DM = up`` when
  ``up > down`` and ``up > 0`` (else 0), ``-DM`` likewise; ``+DI = 100 s(+DM) / s(TR)``,
  ``-DI`` likewise, with ``s`` Wilder's smoothing (``a = 1/14``; TA-Lib's running sums have the
  same ratios); ``DX = 100 |+DI - -DI| / (+DI + -DI)`` and ``ADX = s(DX)``. A bar whose DX is
  undefined (no directional movement at all so far) leaves ADX as it was, as TA-Lib does.

One windowed value is here too, for speed rather than recursion: ``vol_of_vol_30``, the sample
std of ``realized_vol_30`` over the last 30 bars (NULL until 30 of them exist, i.e. before the
60th bar). A window over a window is a second sorted pass in SQL (about 0.4 s a year of bars);
here the frame is already sorted by instrument and time.

Outputs are NULL for an instrument's first bars, where TA-Lib has none either (RSI-n and ATR
before bar n + 1, EMA-n before bar n, MACD before the 26th, signal and histogram before the
34th, ADX before the 28th).

Why ``warmup_bars = 2000`` by default
-------------------------------------
A partition computed alone starts the recursions at its first warm-up bar, seeded with that
bar's value instead of the state the whole history would have reached there. The difference
is multiplied by ``1 - a`` every bar, so after ``n`` bars it is at most
``(1 - a)^n * |seed error|``. The slowest decay is EMA50's ``49/51`` (RSI-20: ``19/20``,
Wilder's 14: ``13/14``, EMA26: ``25/27``, signal: ``0.8``). The seed error is bounded by the
scale of the series: 100 RSI/DX points, and for EMA/MACD/ATR the price level (SPX about 5e3).
Getting below the 1e-9 the design asks for needs ``(49/51)^n * 1e4 < 1e-9``, i.e.
``n > 748`` (RSI-20: ``(19/20)^n * 100 < 1e-9``, ``n > 494``); a recursion over a recursion
(the MACD signal line, ADX over DX) adds only a factor ``~ n`` on top. Below
``MIN_WARMUP_BARS = 800`` the step refuses (``(49/51)^800 * 1e4 ~ 1e-10``, and
``800 (13/14)^800 * 100 ~ 1e-21`` for ADX). The default 2,000 gives ``(49/51)^2000 ~ 2e-35``,
which leaves margin for any price scale, covers the rolling windows (at most 60 bars, and 59
more for vol of vol) and the 360-minute returns many times over, and is cheap: about 1.45
sessions of 23-hour CFD bars (1,380 a session), so a daily
partition reads about 2.5 sessions and a single-run backfill reads it once. The warm-up is
counted in BARS, not time, so weekends, holidays and outages do not shorten it; the header's
``lookback_sessions: 3`` (4,140 bars of normal sessions) only documents lineage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from finsig_assets.sql_models.runner import register_post_step

RSI_PERIODS = (14, 20)
EMA_PERIODS = (7, 14, 21, 50)
ATR_PERIOD = 14
ADX_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
DEFAULT_WARMUP_BARS = 2000
MIN_WARMUP_BARS = 800
VOL_OF_VOL_BARS = 30
REQUIRED_COLUMNS = (
    "instrument", "ts", "_close", "_high", "_low", "_prev_close", "_prev_high", "_prev_low", "realized_vol_30",
)


def wilder_alpha(n: int) -> float:
    return 1.0 / n


def ema_alpha(n: int) -> float:
    return 2.0 / (n + 1)


def _ewm(expr: pl.Expr, alpha: float) -> pl.Expr:
    return expr.ewm_mean(alpha=alpha, adjust=False)


def _positive_part(expr: pl.Expr, when: pl.Expr) -> pl.Expr:
    """``expr`` where ``when`` holds, else 0; NULL where ``expr`` is NULL (an instrument's first bar)."""
    return pl.when(when).then(expr).otherwise(pl.when(expr.is_not_null()).then(0.0))


@register_post_step("recursive_indicators")
def add_recursive_indicators(frame: pl.DataFrame, params: Mapping[str, Any]) -> pl.DataFrame:
    """Add rsi_14, rsi_20, macd, macd_signal, macd_hist, ema_7..ema_50, atr_14, adx_14 and vol_of_vol_30."""
    warmup = int(params.get("warmup_bars", DEFAULT_WARMUP_BARS))
    if warmup < MIN_WARMUP_BARS:
        raise ValueError(
            f"warmup_bars={warmup} is below {MIN_WARMUP_BARS}: a partition computed alone would not match "
            "the whole-history values within 1e-9 (see finsig_assets/sql_models/recursive_indicators.py)"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"recursive_indicators needs the columns {missing} from the SELECT")

    close, high, low, prev = pl.col("_close"), pl.col("_high"), pl.col("_low"), pl.col("_prev_close")
    change = close - prev  # NULL on the instrument's first (loaded) bar: the recursion starts after it
    gain = _positive_part(change, change > 0)
    loss = _positive_part(-change, change < 0)
    true_range = pl.max_horizontal(high - low, (high - prev).abs(), (low - prev).abs())
    up, down = high - pl.col("_prev_high"), pl.col("_prev_low") - low
    plus_dm = _positive_part(up, (up > down) & (up > 0))
    minus_dm = _positive_part(down, (down > up) & (down > 0))
    by = "instrument"

    averages = {}
    for period in RSI_PERIODS:
        averages[f"_avg_gain_{period}"] = _ewm(gain, wilder_alpha(period)).over(by)
        averages[f"_avg_loss_{period}"] = _ewm(loss, wilder_alpha(period)).over(by)
    out = frame.sort(by, "ts", maintain_order=True).with_columns(
        _bar_no=pl.int_range(pl.len()).over(by),
        _macd=(_ewm(close, ema_alpha(MACD_FAST)) - _ewm(close, ema_alpha(MACD_SLOW))).over(by),
        _atr=_ewm(true_range, wilder_alpha(ATR_PERIOD)).over(by),
        # Wilder's smoothing of TR and +-DM for the ADX (TR over the bars that have +-DM).
        _adx_tr=_ewm(pl.when(plus_dm.is_not_null()).then(true_range), wilder_alpha(ADX_PERIOD)).over(by),
        _plus_dm=_ewm(plus_dm, wilder_alpha(ADX_PERIOD)).over(by),
        _minus_dm=_ewm(minus_dm, wilder_alpha(ADX_PERIOD)).over(by),
        **{f"_ema_{period}": _ewm(close, ema_alpha(period)).over(by) for period in EMA_PERIODS},
        **averages,
    )
    plus_di = 100.0 * pl.col("_plus_dm") / pl.when(pl.col("_adx_tr") > 0).then(pl.col("_adx_tr"))
    minus_di = 100.0 * pl.col("_minus_dm") / pl.when(pl.col("_adx_tr") > 0).then(pl.col("_adx_tr"))
    di_sum = plus_di + minus_di
    dx = pl.when(di_sum > 0).then(100.0 * (plus_di - minus_di).abs() / di_sum)
    out = out.with_columns(
        _signal=_ewm(pl.col("_macd"), ema_alpha(MACD_SIGNAL)).over(by),
        # An undefined DX is skipped (ignore_nulls) and the ADX carried forward over it.
        _adx=dx.ewm_mean(alpha=wilder_alpha(ADX_PERIOD), adjust=False, ignore_nulls=True).forward_fill().over(by),
    )
    n = pl.col("_bar_no")
    first_signal = MACD_SLOW + MACD_SIGNAL - 2
    rsi = {}
    for period in RSI_PERIODS:
        denominator = pl.col(f"_avg_gain_{period}") + pl.col(f"_avg_loss_{period}")
        rsi[f"rsi_{period}"] = pl.when((n >= period) & (denominator > 0)).then(100.0 * pl.col(f"_avg_gain_{period}") / denominator)
    return out.with_columns(
        **rsi,
        macd=pl.when(n >= MACD_SLOW - 1).then(pl.col("_macd")),
        macd_signal=pl.when(n >= first_signal).then(pl.col("_signal")),
        macd_hist=pl.when(n >= first_signal).then(pl.col("_macd") - pl.col("_signal")),
        atr_14=pl.when(n >= ATR_PERIOD).then(pl.col("_atr")),
        adx_14=pl.when(n >= 2 * ADX_PERIOD - 1).then(pl.col("_adx")),
        # realized_vol_30 is NULL before the 31st bar, so a full window first ends at the 60th.
        vol_of_vol_30=pl.col("realized_vol_30")
        .rolling_std(window_size=VOL_OF_VOL_BARS, min_samples=VOL_OF_VOL_BARS, ddof=1)
        .over(by),
        **{f"ema_{period}": pl.when(n >= period - 1).then(pl.col(f"_ema_{period}")) for period in EMA_PERIODS},
    ).drop(
        "_bar_no", "_macd", "_atr", "_signal", "_adx_tr", "_plus_dm", "_minus_dm", "_adx",
        *[f"_ema_{p}" for p in EMA_PERIODS], *averages,
    )
