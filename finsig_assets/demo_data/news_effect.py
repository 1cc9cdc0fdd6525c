"""The planted news effect: English articles nudge the price in the direction of their tone.

Exact formula. Let ``G`` be the CFD's trading-minute grid and, for a grid minute ``m``,
``r_m`` the log return of the bar that opens at ``m`` (from its open at ``m`` to its close at
``m + 1 min``). For every distinct English article ``a`` (syndicated copies included — they
are separate articles with their own ids; copies of one file in two folders are one
article) with tone ``s_a`` in {-1, 0, +1} and ``published_at`` ``t_a`` such that ``t_a`` is
itself a trading minute (``t_a ∈ G``)::

    drift_m = sum over such a with t_a <= m < t_a + 30 min, m ∈ G of
              news_effect * s_a * TYPICAL_MINUTE_STD / 30

is added to ``r_m``. So the log price at ``t_a + 30 min`` moves by ``news_effect * s_a *
TYPICAL_MINUTE_STD`` relative to ``t_a`` (the price at ``t_a`` itself is untouched): the
drift is spread evenly over the bars whose returns cover ``(t_a, t_a + 30 min]``, and a
minute in that window when the CFD is closed simply gets none. Articles published while the
CFD is closed, non-English articles and neutral articles have no effect; effects of
overlapping articles add up. ``TYPICAL_MINUTE_STD`` is a constant (3e-4, the midday cash-
session 1-minute return std), not the local volatility. With ``news_effect = 0`` the drift
is identically zero and prices are independent of the news.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from finsig_assets.demo_data.news import Article
from finsig_assets.demo_data.volatility import RTH_MIDDAY_SIGMA

TYPICAL_MINUTE_STD = RTH_MIDDAY_SIGMA
EFFECT_WINDOW_MINUTES = 30


def news_drift(grid_minutes: np.ndarray, articles: Sequence[Article], news_effect: float) -> np.ndarray:
    """Per-bar log-return drift (aligned with ``grid_minutes``) planted by ``articles``."""
    n = grid_minutes.shape[0]
    drift = np.zeros(n)
    if news_effect == 0 or n == 0 or not articles:
        return drift
    chosen = [(a.published_min, a.tone) for a in articles if a.language == "English" and a.tone != 0]
    if not chosen:
        return drift
    t = np.array([c[0] for c in chosen], dtype=np.int64)
    s = np.array([c[1] for c in chosen], dtype=np.float64)
    start = np.searchsorted(grid_minutes, t, side="left")
    trading = (start < n) & (grid_minutes[np.minimum(start, n - 1)] == t)
    start, s, t = start[trading], s[trading], t[trading]
    stop = np.searchsorted(grid_minutes, t + EFFECT_WINDOW_MINUTES, side="left")
    per_minute = news_effect * s * TYPICAL_MINUTE_STD / EFFECT_WINDOW_MINUTES
    steps = np.zeros(n + 1)
    np.add.at(steps, start, per_minute)
    np.add.at(steps, stop, -per_minute)
    drift[:] = np.cumsum(steps[:n])
    return drift
