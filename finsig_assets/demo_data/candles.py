"""Simulated SPX500_USD M1 mid candles on the CFD's trading-minute grid (vectorised).

Price model, for grid minute ``i`` (bar opening at ``t_i``, closing at ``t_i + 1 min``)::

    r_i        = mu_i + sigma_i * regime_day(i) * z_i + drift_i      (log return of the bar)
    jump_i     = gap_sd(closure before i) * w_i   if the market was closed just before t_i, else 0
    log C_i    = log(5400) + sum_{k<=i} (jump_k + r_k)
    O_i        = C_{i-1} (the previous bar's close, exactly, on the 0.1 grid), or C_{i-1}·exp(jump_i)
                 after a closure

``z`` is Student-t (4 degrees of freedom) scaled to unit variance, ``w`` standard normal,
``sigma`` the U-shaped intraday profile of :mod:`.volatility`, ``mu`` a small upward drift
outside the cash session (``OVERNIGHT_DRIFT`` per minute) and ``drift`` the planted news
effect of :mod:`.news_effect` (zero when it is off). Prices are rounded to 0.1 and kept as
integer ticks (tenths) so that ``high >= max(open, close)`` and ``low <= min(open, close)``
hold exactly: high and low add non-negative whole-tick wicks to the body. Volume (OANDA's
tick count) rises with the minute's volatility and with the size of its move.

The noise draws come from one random stream in a fixed order and do not depend on the news
effect, so the same seed gives the same path up to the planted drift. A few bars are not
emitted (gaps: mostly quiet overnight minutes, plus a few multi-minute holes); the path runs
on underneath, so the bar after a gap opens at the last real close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finsig_assets.demo_data.calendar_grid import TradingGrid
from finsig_assets.demo_data.volatility import OVERNIGHT_SIGMA, day_regime, minute_sigma

START_PRICE = 5400.0
TICKS_PER_POINT = 10
OVERNIGHT_DRIFT = 2.0e-7  # log drift per minute outside the cash session
T_DOF = 4.0
DAILY_BREAK_GAP_SD = 3.0e-4  # price gap across the daily 17:00–18:00 break
LONG_BREAK_GAP_SD = 2.5e-3  # across a weekend or a holiday closure
WICK_SCALE = 0.45  # mean wick length in units of sigma * price
VOLUME_BASE = 20.0
GAP_PROBABILITY_OVERNIGHT = 0.004  # scales with (OVERNIGHT_SIGMA / sigma)^2
GAP_RUNS_PER_DAY = 0.25
GAP_RUN_LENGTH = (2, 12)


@dataclass(frozen=True)
class Bars:
    """One simulated bar per grid minute; ``emitted`` marks the real (written) bars."""

    minute: np.ndarray  # int64 UTC epoch minutes (bar open time)
    open: np.ndarray  # int64 ticks (tenths of a point)
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # int64
    emitted: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.minute.shape[0])


def simulate_bars(
    grid: TradingGrid,
    drift: np.ndarray,
    noise_rng: np.random.Generator,
    shape_rng: np.random.Generator,
) -> Bars:
    """Bars for every grid minute. ``drift`` (log return per bar) is added to the noise."""
    n = len(grid)
    regime = day_regime(grid.days.shape[0], noise_rng)
    z = noise_rng.standard_t(T_DOF, n)
    z /= np.sqrt(T_DOF / (T_DOF - 2.0))
    w = noise_rng.standard_normal(n)

    # Arrays are updated in place: at 1.7M bars each temporary costs 14 MB.
    sigma = minute_sigma(grid)
    sigma *= regime[grid.local_day]
    r = sigma * z
    r[~grid.is_rth] += OVERNIGHT_DRIFT
    r += drift
    closed = grid.closed_before
    w *= np.where(closed > 24 * 60, LONG_BREAK_GAP_SD, np.where(closed > 0, DAILY_BREAK_GAP_SD, 0.0))  # the jumps
    w += r
    log_close = np.cumsum(w, out=w)
    log_close += np.log(START_PRICE)

    close = np.rint(np.exp(log_close) * TICKS_PER_POINT).astype(np.int64)
    open_ = np.empty(n, dtype=np.int64)
    if n:
        open_[1:] = close[:-1]
        after_closure = closed > 0
        open_[after_closure] = np.rint(np.exp(log_close[after_closure] - r[after_closure]) * TICKS_PER_POINT)
    del log_close, w, r

    # Wicks, volume and gaps: their own stream, so they never shift the price noise.
    scale = sigma * close
    scale *= WICK_SCALE  # in ticks, since close is in ticks
    high = np.maximum(open_, close)
    wick = shape_rng.standard_exponential(n)
    wick *= scale
    high += wick.astype(np.int64)  # truncation = floor for non-negative wicks
    low = np.minimum(open_, close)
    wick = shape_rng.standard_exponential(n, out=wick)
    wick *= scale
    low -= wick.astype(np.int64)
    del wick, scale

    activity = sigma / OVERNIGHT_SIGMA
    activity **= 1.3
    activity *= VOLUME_BASE
    noise = shape_rng.standard_normal(n)
    noise *= 0.35
    activity *= np.exp(noise, out=noise)
    del noise
    np.abs(z, out=z)
    z *= 0.4
    z += 0.6
    activity *= z
    del z
    volume = np.floor(activity).astype(np.int64)
    volume += 1
    del activity

    drop = sigma
    np.divide(OVERNIGHT_SIGMA, sigma, out=drop)
    drop **= 2
    drop *= GAP_PROBABILITY_OVERNIGHT
    np.minimum(drop, 0.02, out=drop)
    emitted = shape_rng.random(n) >= drop
    del drop, sigma
    n_runs = int(shape_rng.poisson(GAP_RUNS_PER_DAY * max(1, len(grid.sessions))))
    if n > 0 and n_runs:
        starts = shape_rng.integers(0, n, n_runs)
        lengths = shape_rng.integers(GAP_RUN_LENGTH[0], GAP_RUN_LENGTH[1] + 1, n_runs)
        for s, length in zip(starts.tolist(), lengths.tolist()):
            emitted[s : s + length] = False
    return Bars(grid.minute, open_, high, low, close, volume, emitted)
