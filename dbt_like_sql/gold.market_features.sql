-- asset: gold/market_features
-- description: One row per silver bar: time-based log returns over 1-360 minutes, realized/range volatility estimators and vol of vol, Wilder RSI 14/20, MACD 12/26/9, Bollinger 20/2, SMA/EMA 7-50, Wilder ATR-14 and ADX-14, momentum and ROC, high-low range, volume z-score and ratios, Amihud illiquidity, rolling VWAP, session clock.
-- deps: silver/market_bars
-- lookback_sessions: 3
-- python_post: recursive_indicators
-- config: warmup_bars=2000
-- chunk_sessions: 125
-- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars)
--
-- How this model runs (finsig_assets/sql_models/runner.py):
--   * Bound parameters: $window_start / $window_end (TIMESTAMPTZ, the ownership window of the
--     partition range), $warmup_bars (INT, run config). Nothing is formatted into this text.
--   * The SELECT returns the window's bars AND the $warmup_bars bars of each instrument before
--     $window_start (unordered: the step sorts). The python_post step `recursive_indicators`
--     (finsig_assets/sql_models/recursive_indicators.py) adds rsi_14, rsi_20, macd, macd_signal,
--     macd_hist, ema_7/14/21/50, atr_14 and adx_14 from the _close/_high/_low/_prev_close/
--     _prev_high/_prev_low helper columns, and vol_of_vol_30 from realized_vol_30; the runner
--     then drops the helper columns (leading underscore), keeps trade_date BETWEEN
--     $first_date AND $last_date and replaces that range of gold.market_features.
--   * chunk_sessions: a long range runs as consecutive chunks of 125 sessions, each with its
--     own warm-up, so memory stays bounded (5 years: ~1.5 GB peak RSS instead of ~3.4 GB as one
--     SELECT); this is exact for the same reason a partition computed alone is. All chunks are
--     written in one transaction.
--
-- Time and leakage:
--   * Everything runs over the instrument's continuous bar sequence ordered by ts: no reset per
--     session, and only real bars (silver never forward-fills), so "N bars" means N real bars.
--   * Every value on the row of the bar at ts uses only bars with ts' <= ts: the lookbacks
--     lag to the close in force h minutes earlier (a running "last close so far" over the
--     minutes), every rolling frame is "N-1 PRECEDING AND CURRENT ROW", nothing reads a later
--     row. (The bar at ts is the minute [ts, ts+1m); its close is known at ts+1m, like any
--     bar-level feature. Labels must start after that: see gold.training_examples.)
--   * Rolling windows reach back at most 89 bars (vol of vol: 30 values of a 30-bar realized
--     volatility, each needing the bar before it) and the longest return looks back 360
--     minutes: at most 360 bars lie in those minutes, so the close it reads is at most 361
--     bars back, and with >= 361 warm-up bars they are exact; the
--     recursions need more (see the step's docstring for why 2,000 is the default and 800 the
--     least).
--   * A rolling value is NULL until its window is full: bar_no (1-based position in the loaded
--     sequence) >= N, or N + 1 for inputs that need the previous bar (ret_1m, ln(O/C')). The
--     inputs are never NULL otherwise (silver prices are positive and complete), so this equals
--     "N non-NULL values" without a COUNT window per column.
--   * Division by zero yields NULL, never NaN/inf (DuckDB 2.0 uses IEEE semantics, so every
--     divisor goes through NULLIF).
--
-- Volatility estimators (per-bar scale, not annualised; n = 30 bars; H, L, O, C the bar's
-- high, low, open, close and C' the previous bar's close):
--   Parkinson       s^2 = 1/(4 n ln 2) * sum ln(H/L)^2
--   Garman-Klass    s^2 = 1/n * sum [ 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 ]
--   Rogers-Satchell s^2 = 1/n * sum [ ln(H/C) ln(H/O) + ln(L/C) ln(L/O) ]
--   Yang-Zhang      s^2 = s_o^2 + k s_c^2 + (1 - k) s_rs^2, with
--                     s_o^2  = sample variance of the "overnight" term ln(O/C') (bar open vs
--                              the previous bar's close),
--                     s_c^2  = sample variance of the open-to-close term ln(C/O),
--                     s_rs^2 = the Rogers-Satchell mean above,
--                     k      = 0.34 / (1.34 + (n + 1) / (n - 1)).
--   Each column is the square root s (GREATEST(., 0) guards rounding below zero).

WITH
warmup_start AS (
    -- The ts of the $warmup_bars-th bar before the window, per instrument. max(ts, n) keeps
    -- the n largest values with a heap (no sort of the history). An instrument with no
    -- earlier bar has no row here and starts at $window_start.
    SELECT instrument, list_min(max(ts, greatest($warmup_bars, 1))) AS load_from
    FROM silver.market_bars
    WHERE ts < $window_start AND $warmup_bars > 0
    GROUP BY instrument
),

-- MATERIALIZED: bars and closes are each read twice (joins below); computing them once and
-- keeping the minute grid narrow is what keeps this fast.
bars AS MATERIALIZED (
    -- Minutes from the regular-hours open (09:30 New York) of the bar's trade_date to the bar
    -- open; negative for the overnight bars before it (as low as about -930 on a normal day,
    -- lower after weekends/holidays). calendar_sessions is registered by the runner. Joined
    -- here, on the narrow bars, so the hash table is the calendar's, not the wide result's.
    SELECT b.instrument, b.ts, b.trade_date, b.open, b.high, b.low, b.close, b.volume,
           b.minutes_to_close,
           (epoch(b.ts) - epoch(s.rth_open)) / 60.0 AS minute_of_session
    FROM silver.market_bars AS b
    LEFT JOIN warmup_start AS w USING (instrument)
    LEFT JOIN calendar_sessions AS s ON s.trade_date = b.trade_date
    WHERE b.ts < $window_end
      AND b.ts >= coalesce(w.load_from, $window_start)
),

closes AS MATERIALIZED (
    SELECT instrument, ts, close,
           epoch(ts)::BIGINT // 60 AS minute_no,
           lag(close) OVER (PARTITION BY instrument ORDER BY ts) AS prev_close
    FROM bars
),

-- The close in force at every minute of the loaded span: the close of the last bar at or
-- before that minute (bars are whole minutes: bronze rejects any other time). One pass
-- forward over the minutes; on this gap-free minute grid "h minutes earlier" is "h rows
-- earlier", so every lookback is a lag in one more pass over the same order (joins or ASOF
-- joins, one per horizon, each hashed or sorted the whole span again).
close_at_minute AS (
    SELECT m.instrument, m.minute_no, c.close IS NOT NULL AS has_bar,
           last_value(c.close IGNORE NULLS) OVER (
               PARTITION BY m.instrument ORDER BY m.minute_no ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS close
    FROM (
        SELECT instrument, unnest(range(min(minute_no), max(minute_no) + 1)) AS minute_no
        FROM closes
        GROUP BY instrument
    ) AS m
    LEFT JOIN closes AS c USING (instrument, minute_no)
),

lookbacks AS (
    SELECT instrument, minute_no, has_bar,
           lag(close, 1)   OVER w AS close_1m_ago,
           lag(close, 5)   OVER w AS close_5m_ago,
           lag(close, 15)  OVER w AS close_15m_ago,
           lag(close, 30)  OVER w AS close_30m_ago,
           lag(close, 60)  OVER w AS close_60m_ago,
           lag(close, 120) OVER w AS close_120m_ago,
           lag(close, 240) OVER w AS close_240m_ago,
           lag(close, 360) OVER w AS close_360m_ago
    FROM close_at_minute
    WINDOW w AS (PARTITION BY instrument ORDER BY minute_no)
),

returns AS (
    -- ret_h = ln(close_t / close of the last bar at or before t - h): by TIME, not by rows. A
    -- missing minute at t - h falls back to the bar before it (across a break or weekend that
    -- is the last bar before it); NULL when there is no such bar at all.
    -- For whole-minute bar times the 1-minute return is the bar-to-bar return.
    SELECT k.instrument, k.ts, k.prev_close,
           ln(k.close / l.close_1m_ago)   AS ret_1m,
           ln(k.close / l.close_5m_ago)   AS ret_5m,
           ln(k.close / l.close_15m_ago)  AS ret_15m,
           ln(k.close / l.close_30m_ago)  AS ret_30m,
           ln(k.close / l.close_60m_ago)  AS ret_60m,
           ln(k.close / l.close_120m_ago) AS ret_120m,
           ln(k.close / l.close_240m_ago) AS ret_240m,
           ln(k.close / l.close_360m_ago) AS ret_360m
    FROM closes AS k
    JOIN lookbacks AS l ON l.instrument = k.instrument AND l.minute_no = k.minute_no AND l.has_bar
),

terms AS (
    SELECT b.*, r.prev_close, r.ret_1m, r.ret_5m, r.ret_15m, r.ret_30m, r.ret_60m,
           r.ret_120m, r.ret_240m, r.ret_360m,
           ln(b.high / b.low)                                                          AS hl,
           ln(b.close / b.open)                                                        AS co,
           ln(b.high / b.close) * ln(b.high / b.open) + ln(b.low / b.close) * ln(b.low / b.open) AS rs_term,
           ln(b.open / r.prev_close)                                                   AS oc_prev,
           abs(r.ret_1m) / nullif(b.volume, 0)                                         AS amihud_term,
           (b.high + b.low + b.close) / 3 * b.volume                                   AS typical_value
    FROM bars AS b
    JOIN returns AS r USING (instrument, ts)
),

rolled AS (
    SELECT instrument, ts, trade_date, open, high, low, close, volume, minutes_to_close, minute_of_session,
           prev_close, ret_1m, ret_5m, ret_15m, ret_30m, ret_60m, ret_120m, ret_240m, ret_360m,
           row_number()         OVER w    AS bar_no,
           lag(high)            OVER w    AS prev_high,
           lag(low)             OVER w    AS prev_low,
           lag(close, 10)       OVER w    AS close_10_bars_ago,
           stddev_samp(ret_1m)  OVER w30 AS sd_ret_30,
           stddev_samp(ret_1m)  OVER w60 AS sd_ret_60,
           avg(hl * hl)         OVER w30 AS mean_hl2_30,
           avg(0.5 * hl * hl - (2 * ln(2) - 1) * co * co) OVER w30 AS mean_gk_30,
           avg(rs_term)         OVER w30 AS mean_rs_30,
           var_samp(oc_prev)    OVER w30 AS var_oc_30,
           var_samp(co)         OVER w30 AS var_co_30,
           avg(close)           OVER w7  AS sma_7,
           avg(close)           OVER w14 AS sma_14,
           avg(close)           OVER w20 AS sma_20,
           avg(close)           OVER w21 AS sma_21,
           avg(close)           OVER w50 AS sma_50,
           stddev_pop(close)    OVER w20 AS sd_pop_20,
           avg(volume)          OVER w20 AS mean_vol_20,
           avg(volume)          OVER w60 AS mean_vol_60,
           stddev_samp(volume)  OVER w60 AS sd_vol_60,
           avg(amihud_term)     OVER w30 AS mean_amihud_30,
           sum(typical_value)   OVER w30 AS sum_typical_value_30,
           sum(volume)          OVER w30 AS sum_vol_30
    FROM terms
    WINDOW
        w   AS (PARTITION BY instrument ORDER BY ts),
        w7  AS (w ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
        w14 AS (w ROWS BETWEEN 13 PRECEDING AND CURRENT ROW),
        w20 AS (w ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
        w21 AS (w ROWS BETWEEN 20 PRECEDING AND CURRENT ROW),
        w30 AS (w ROWS BETWEEN 29 PRECEDING AND CURRENT ROW),
        w50 AS (w ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
        w60 AS (w ROWS BETWEEN 59 PRECEDING AND CURRENT ROW)
)

SELECT
    r.instrument,
    r.ts,
    r.trade_date,
    r.ret_1m,
    r.ret_5m,
    r.ret_15m,
    r.ret_30m,
    r.ret_60m,
    r.ret_120m,
    r.ret_240m,
    r.ret_360m,
    -- Realized volatility: sample std of the 1-minute log returns of the last 30 / 60 bars.
    CASE WHEN r.bar_no >= 31 THEN r.sd_ret_30 END                              AS realized_vol_30,
    CASE WHEN r.bar_no >= 61 THEN r.sd_ret_60 END                              AS realized_vol_60,
    CASE WHEN r.bar_no >= 30 THEN sqrt(greatest(r.mean_hl2_30 / (4 * ln(2)), 0)) END AS parkinson_vol_30,
    CASE WHEN r.bar_no >= 30 THEN sqrt(greatest(r.mean_gk_30, 0)) END          AS garman_klass_vol_30,
    CASE WHEN r.bar_no >= 30 THEN sqrt(greatest(r.mean_rs_30, 0)) END          AS rogers_satchell_vol_30,
    CASE WHEN r.bar_no >= 31 THEN sqrt(greatest(
             r.var_oc_30
             + (0.34 / (1.34 + 31.0 / 29.0)) * r.var_co_30
             + (1 - 0.34 / (1.34 + 31.0 / 29.0)) * r.mean_rs_30, 0)) END          AS yang_zhang_vol_30,
    -- Bollinger 20/2 with the POPULATION std (as TA-Lib): upper/lower = sma +/- 2 sd.
    -- position = (close - lower) / (upper - lower); width = (upper - lower) / middle.
    CASE WHEN r.bar_no >= 20
         THEN (r.close - (r.sma_20 - 2 * r.sd_pop_20)) / nullif(4 * r.sd_pop_20, 0) END AS bb_position_20,
    CASE WHEN r.bar_no >= 20
         THEN 4 * r.sd_pop_20 / nullif(r.sma_20, 0) END                         AS bb_width_20,
    -- Volume z-score over the last 60 bars (this bar included), sample std; NULL if flat.
    CASE WHEN r.bar_no >= 60
         THEN (r.volume - r.mean_vol_60) / nullif(r.sd_vol_60, 0) END           AS volume_z_60,
    -- Simple moving averages of the close (TA-Lib SMA): price levels.
    CASE WHEN r.bar_no >= 7  THEN r.sma_7  END                                 AS sma_7,
    CASE WHEN r.bar_no >= 14 THEN r.sma_14 END                                 AS sma_14,
    CASE WHEN r.bar_no >= 21 THEN r.sma_21 END                                 AS sma_21,
    CASE WHEN r.bar_no >= 50 THEN r.sma_50 END                                 AS sma_50,
    -- Momentum and rate of change over 10 bars (TA-Lib MOM / ROC): close - close 10 bars
    -- earlier, and 100 * (close / that close - 1). By bars, like TA-Lib (the ret_* are by time).
    r.close - r.close_10_bars_ago                                              AS momentum_10,
    100 * (r.close / r.close_10_bars_ago - 1)                                  AS roc_10,
    -- The bar's high-low range relative to its close.
    (r.high - r.low) / r.close                                                 AS hl_range,
    -- Volume against its mean over the last 20 / 60 bars (this bar included); NULL if that is 0.
    CASE WHEN r.bar_no >= 20 THEN r.volume / nullif(r.mean_vol_20, 0) END      AS volume_ratio_20,
    CASE WHEN r.bar_no >= 60 THEN r.volume / nullif(r.mean_vol_60, 0) END      AS volume_ratio_60,
    -- Amihud illiquidity: mean of |ret_1m| / volume over the last 30 bars, bars with volume 0
    -- left out (NULL when all are). Volume is the CFD's tick volume, so this is per tick.
    CASE WHEN r.bar_no >= 31 THEN r.mean_amihud_30 END                         AS amihud_30,
    -- Rolling VWAP over the last 30 bars, typical price (H + L + C) / 3; NULL if no volume.
    CASE WHEN r.bar_no >= 30 THEN r.sum_typical_value_30 / nullif(r.sum_vol_30, 0) END AS vwap_30,
    r.minute_of_session,  -- see bars
    r.minutes_to_close,
    -- Helper columns for the python_post step (dropped by the runner before writing).
    r.close      AS _close,
    r.high       AS _high,
    r.low        AS _low,
    r.prev_close AS _prev_close,
    r.prev_high  AS _prev_high,
    r.prev_low   AS _prev_low
FROM rolled AS r
