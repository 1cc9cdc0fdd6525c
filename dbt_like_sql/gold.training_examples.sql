-- asset: gold/training_examples
-- description: One row per bar (regular-hours bars by default): gold.market_features joined with gold.news_signals, and labels by timestamp: fwd_return_30m = ln(close of the bar at ts + horizon / close at ts) when that bar exists in the same session with no gap longer than max_gap_minutes and the horizon does not cross the regular-hours close; label_up = fwd_return_30m > 0.
-- deps: gold/market_features, gold/news_signals, silver/market_bars
-- lookback_sessions: 0
-- config: horizon_minutes=30, max_gap_minutes=5, rth_only=True
-- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars WHERE is_rth OR NOT $rth_only), labels_within_session(fwd_return_30m, label_up)
--
-- Labels are defined by time, not by row offsets (the reference system shifted rows and so
-- crossed closes and gaps). ts is the bar's open: the label runs from the close of the bar at
-- ts (known at ts + 1 min) to the close of the bar at ts + horizon. It is NULL when
--   * no bar opens exactly at ts + horizon (a missing minute),
--   * that bar belongs to another trade_date (the horizon crosses the 17:00 cut),
--   * ts is before the regular-hours close and ts + horizon is at or after it (the close, or
--     an early close, falls inside the horizon),
--   * some bar in (ts, ts + horizon] follows a gap longer than max_gap_minutes: the cumulative
--     count of such gaps differs between the two bars.
-- Everything a label reads lies in its own session's window, so a partition needs no later
-- partition, and changing bars after ts + horizon changes no row at or before ts.
-- fwd_return_30m keeps its contract name when horizon_minutes is changed.
WITH bars AS (
    SELECT
        b.instrument, b.ts, b.trade_date, b.close, b.is_rth, s.rth_close,
        sum(CASE WHEN b.gap_minutes > $max_gap_minutes THEN 1 ELSE 0 END)
            OVER (PARTITION BY b.instrument ORDER BY b.ts ROWS UNBOUNDED PRECEDING) AS gaps_so_far
    FROM silver.market_bars b
    JOIN calendar_sessions s ON s.trade_date = b.trade_date
    WHERE b.ts >= $window_start AND b.ts < $window_end
),
labelled AS (
    SELECT
        cur.instrument, cur.ts, cur.trade_date, cur.is_rth,
        CASE
            WHEN nxt.ts IS NOT NULL
             AND nxt.trade_date = cur.trade_date
             AND nxt.gaps_so_far = cur.gaps_so_far
             AND NOT (cur.ts < cur.rth_close AND nxt.ts >= cur.rth_close)
            THEN ln(nxt.close / cur.close)
        END AS fwd_return_30m
    FROM bars cur
    LEFT JOIN bars nxt
      ON nxt.instrument = cur.instrument
     AND nxt.ts = cur.ts + to_minutes($horizon_minutes)
)
SELECT
    l.instrument,
    l.ts,
    l.trade_date,
    l.is_rth,
    n.sentiment_model,
    l.fwd_return_30m,
    l.fwd_return_30m > 0 AS label_up,
    f.* EXCLUDE (instrument, ts, trade_date),
    n.* EXCLUDE (instrument, ts, trade_date, sentiment_model)
FROM labelled l
JOIN gold.market_features f ON f.instrument = l.instrument AND f.ts = l.ts
LEFT JOIN gold.news_signals n ON n.instrument = l.instrument AND n.ts = l.ts
WHERE l.is_rth OR NOT $rth_only
