"""The columns of ``gold.training_examples`` the model leaves out by default, and why.

Every numeric non-key column of the table is a feature unless the run configuration's
``exclude_features`` names it (:func:`finsig_assets.ml.training_table.without_features`), so
``gold/market_features`` can offer the replaced system's whole catalogue while the model
trains on what has earned its place.

What was measured (``bench/feature_value.py``; figures in ``docs/performance.md``, "Which
features earn their place"): three demo data sets of 160 sessions (seeds 7, 11, 13, planted
news effect 6), each predicted walk-forward on 100 sessions it never saw (about 35,600 rows a
seed) by models trained like the asset's on the 60 sessions before. Against the feature set
the model had before the catalogue grew, on the same rows, with session-clustered paired tests
pooled over the seeds and held family-wise at 5 %:

- no new group improves the AUC or the Brier score -- longer returns, RSI 20, the price levels
  (SMA, EMA, VWAP), momentum and ROC, ADX, range / volume ratios / Amihud, vol of vol (pooled
  AUC differences -0.003 to +0.004, every one-sided p >= 0.07);
- all of them together make the model worse: AUC 0.6167 against 0.6202 and a higher Brier
  score in each seed (pooled one-sided p = 0.007, not below 5 % after the correction for 34
  comparisons) -- more noise columns for the trees to split on;
- dropping news loses 0.095 to 0.107 AUC in every seed (p < 0.001): the measurement does find a feature
  that matters.

So the default leaves the new columns out: the model is the one whose false-promotion rate
was measured (``bench/promotion_rates.py``). The price levels would stay out on real data
too: a split on a level learns the window's price regime, not a signal. The demo's prices
carry no market signal by construction, so it cannot show that any market feature helps; on
real candles run ``bench/feature_value.py --warehouse <your warehouse>`` and set
``exclude_features`` (``[]`` trains on everything) from what it shows.
"""

from __future__ import annotations

DEFAULT_EXCLUDED_FEATURES: tuple[str, ...] = (
    "ret_120m", "ret_240m", "ret_360m",
    "rsi_20",
    "sma_7", "sma_14", "sma_21", "sma_50",
    "ema_7", "ema_14", "ema_21", "ema_50",
    "vwap_30",
    "adx_14",
    "momentum_10", "roc_10",
    "hl_range", "volume_ratio_20", "volume_ratio_60", "amihud_30",
    "vol_of_vol_30",
)  # fmt: skip
