"""The per-minute volatility of the simulated SPX500_USD CFD.

``minute_sigma`` is the standard deviation of a 1-minute log return, by New York time of
day. It is U-shaped over the cash session (high just after the 09:30 open and just before
the close, lowest around midday), quiet overnight, a little busier during European hours
and before the open (with a burst at 08:30, when US data come out), and quiet on exchange
holidays. A slowly varying day-level multiplier (AR(1) in logs) adds volatility regimes.
"""

from __future__ import annotations

import numpy as np

from finsig_assets.demo_data.calendar_grid import RTH_OPEN_MINUTE, SESSION, TradingGrid

OVERNIGHT_SIGMA = 1.0e-4
EUROPE_SIGMA = 1.3e-4  # 03:00–08:00 New York
PREMARKET_SIGMA = 1.8e-4  # 08:00–09:30
DATA_RELEASE_SIGMA = 4.0e-4  # 08:30–08:35 on sessions
RTH_MIDDAY_SIGMA = 3.0e-4
OPEN_BUMP, OPEN_DECAY = 1.6, 20.0  # multiplier 1 + 1.6·exp(-(minutes since open)/20)
CLOSE_BUMP, CLOSE_DECAY = 0.9, 15.0  # and + 0.9·exp(-(minutes to close)/15)
AFTER_CLOSE_SIGMA = 1.6e-4  # cash close to 17:00
HOLIDAY_SIGMA = 0.8e-4
SUNDAY_OPEN_SIGMA = 1.6e-4  # first half hour after the weekly open
DAY_REGIME_SD, DAY_REGIME_RHO = 0.25, 0.85


def minute_sigma(grid: TradingGrid) -> np.ndarray:
    """1-minute log-return standard deviation for each grid minute, before the day regime."""
    m = grid.local_minute.astype(np.float64)
    kind = grid.day_kind[grid.local_day]
    close = grid.day_rth_close[grid.local_day].astype(np.float64)
    session = kind == SESSION

    sigma = np.full(m.shape[0], OVERNIGHT_SIGMA)
    sigma[(m >= 3 * 60) & (m < 8 * 60)] = EUROPE_SIGMA
    sigma[(m >= 8 * 60) & (m < RTH_OPEN_MINUTE)] = PREMARKET_SIGMA
    sigma[session & (m >= 8 * 60 + 30) & (m < 8 * 60 + 35)] = DATA_RELEASE_SIGMA

    rth = grid.is_rth
    since_open = m[rth] - RTH_OPEN_MINUTE
    to_close = close[rth] - 1 - m[rth]
    sigma[rth] = RTH_MIDDAY_SIGMA * (
        1.0 + OPEN_BUMP * np.exp(-since_open / OPEN_DECAY) + CLOSE_BUMP * np.exp(-to_close / CLOSE_DECAY)
    )
    after = session & (m >= close) & (m < 17 * 60)
    sigma[after] = AFTER_CLOSE_SIGMA
    sigma[~session & (m < 17 * 60)] = HOLIDAY_SIGMA  # holiday daytime (weekends have no bars)

    # The first half hour after a weekend (or full-holiday) reopening is a little livelier.
    long_break = np.flatnonzero(grid.closed_before > 24 * 60)
    for start in long_break:
        sigma[start : start + 30] = np.maximum(sigma[start : start + 30], SUNDAY_OPEN_SIGMA)
    return sigma


def day_regime(n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative volatility regime per New York day (log AR(1), mean about 1)."""
    shocks = rng.standard_normal(n_days)
    log_level = np.empty(n_days)
    level = shocks[0] * DAY_REGIME_SD
    innovation_sd = DAY_REGIME_SD * np.sqrt(1.0 - DAY_REGIME_RHO**2)
    for i in range(n_days):
        if i:
            level = DAY_REGIME_RHO * level + innovation_sd * shocks[i]
        log_level[i] = level
    return np.exp(log_level - 0.5 * DAY_REGIME_SD**2)
