-- asset: gold/news_signals
-- description: One row per silver bar: what the news said up to that bar. Trailing windows (t - w, t] by available_at (w = 15, 60, 240 min): article count, mean sentiment, mean class probabilities, confidence-weighted sentiment; exponentially decayed sentiment (half-life 30 min, over 24 h); minutes since the last article (NULL past 72 h); sentiment surprise (60-min mean minus the trailing 24-h mean).
-- deps: silver/market_bars, silver/news_sentiment
-- lookback_sessions: 4
-- config: half_life_minutes=30.0, long_window_minutes=1440, recency_cap_minutes=4320
-- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars)
--
-- REFERENCE ONLY, not a model of the project: dbt_like_sql/gold.news_signals.sql as it was
-- before it became linear (it joins every bar to every article of the previous 24 h), kept
-- verbatim below this note as the independent reference for
-- finsig_assets_tests/gold/test_news_signals.py and for `bench/news_signals.py --query old`.
--
-- Leakage rules (docs/design.md): an article counts at bar t only when available_at <= t, so an
-- article available at 10:07 enters the 10:07 bar's windows and never the 10:06 bar's. Windows
-- are (t - w, t], never keyed at their start. Weekend and overnight articles count from the
-- first bars after they became available (the next session's Sunday-evening bars). No text,
-- headline or source identity becomes a feature: only numbers derived from sentiment scores.
--
-- Look-back: rows of silver.news_sentiment with available_at in
-- ($window_start - recency_cap_minutes, $window_end): the 24-h windows and the 72-h recency cap
-- then see exactly the articles a whole-range run sees, so a partition alone equals the range.
-- sentiment_model names the model(s) behind the row's 24-h window (ml/direction_model refuses
-- windows that mix models). Bars with no article in a window get count 0 and NULL means.
WITH bars AS (
    SELECT instrument, ts, trade_date
    FROM silver.market_bars
    WHERE ts >= $window_start AND ts < $window_end
),
articles AS (
    SELECT available_at, sentiment, p_positive, p_negative, p_neutral, confidence, sentiment_model
    FROM silver.news_sentiment
    WHERE available_at > $window_start - to_minutes($recency_cap_minutes)
      AND available_at < $window_end
),
windowed AS (
    SELECT b.instrument, b.ts, a.*, epoch(b.ts - a.available_at) / 60.0 AS age_minutes
    FROM bars b
    JOIN articles a
      ON a.available_at <= b.ts
     AND a.available_at > b.ts - to_minutes($long_window_minutes)
),
aggregated AS (
    SELECT
        n.instrument,
        n.ts,
        count(n.sentiment) FILTER (WHERE n.age_minutes < 15)::INTEGER AS news_count_15m,
        avg(n.sentiment) FILTER (WHERE n.age_minutes < 15) AS news_sentiment_mean_15m,
        avg(n.p_positive) FILTER (WHERE n.age_minutes < 15) AS news_positive_mean_15m,
        avg(n.p_negative) FILTER (WHERE n.age_minutes < 15) AS news_negative_mean_15m,
        avg(n.p_neutral) FILTER (WHERE n.age_minutes < 15) AS news_neutral_mean_15m,
        sum(n.confidence * n.sentiment) FILTER (WHERE n.age_minutes < 15) / NULLIF(sum(n.confidence) FILTER (WHERE n.age_minutes < 15), 0) AS news_confidence_weighted_sentiment_15m,
        count(n.sentiment) FILTER (WHERE n.age_minutes < 60)::INTEGER AS news_count_60m,
        avg(n.sentiment) FILTER (WHERE n.age_minutes < 60) AS news_sentiment_mean_60m,
        avg(n.p_positive) FILTER (WHERE n.age_minutes < 60) AS news_positive_mean_60m,
        avg(n.p_negative) FILTER (WHERE n.age_minutes < 60) AS news_negative_mean_60m,
        avg(n.p_neutral) FILTER (WHERE n.age_minutes < 60) AS news_neutral_mean_60m,
        sum(n.confidence * n.sentiment) FILTER (WHERE n.age_minutes < 60) / NULLIF(sum(n.confidence) FILTER (WHERE n.age_minutes < 60), 0) AS news_confidence_weighted_sentiment_60m,
        count(n.sentiment) FILTER (WHERE n.age_minutes < 240)::INTEGER AS news_count_240m,
        avg(n.sentiment) FILTER (WHERE n.age_minutes < 240) AS news_sentiment_mean_240m,
        avg(n.p_positive) FILTER (WHERE n.age_minutes < 240) AS news_positive_mean_240m,
        avg(n.p_negative) FILTER (WHERE n.age_minutes < 240) AS news_negative_mean_240m,
        avg(n.p_neutral) FILTER (WHERE n.age_minutes < 240) AS news_neutral_mean_240m,
        sum(n.confidence * n.sentiment) FILTER (WHERE n.age_minutes < 240) / NULLIF(sum(n.confidence) FILTER (WHERE n.age_minutes < 240), 0) AS news_confidence_weighted_sentiment_240m,
        avg(n.sentiment) AS news_sentiment_mean_1440m,
        sum(n.sentiment * pow(0.5, n.age_minutes / $half_life_minutes)) AS news_decayed_sentiment,
        string_agg(DISTINCT n.sentiment_model, ' + ' ORDER BY n.sentiment_model) AS sentiment_model
    FROM windowed n
    GROUP BY n.instrument, n.ts
),
latest AS (
    SELECT b.instrument, b.ts, epoch(b.ts - a.available_at) / 60.0 AS minutes_since_last
    FROM bars b
    ASOF JOIN articles a ON b.ts >= a.available_at
)
SELECT
    b.instrument,
    b.ts,
    b.trade_date,
    agg.sentiment_model,
    coalesce(agg.news_count_15m, 0)::INTEGER AS news_count_15m,
    agg.news_sentiment_mean_15m AS news_sentiment_mean_15m,
    agg.news_positive_mean_15m AS news_positive_mean_15m,
    agg.news_negative_mean_15m AS news_negative_mean_15m,
    agg.news_neutral_mean_15m AS news_neutral_mean_15m,
    agg.news_confidence_weighted_sentiment_15m AS news_confidence_weighted_sentiment_15m,
    coalesce(agg.news_count_60m, 0)::INTEGER AS news_count_60m,
    agg.news_sentiment_mean_60m AS news_sentiment_mean_60m,
    agg.news_positive_mean_60m AS news_positive_mean_60m,
    agg.news_negative_mean_60m AS news_negative_mean_60m,
    agg.news_neutral_mean_60m AS news_neutral_mean_60m,
    agg.news_confidence_weighted_sentiment_60m AS news_confidence_weighted_sentiment_60m,
    coalesce(agg.news_count_240m, 0)::INTEGER AS news_count_240m,
    agg.news_sentiment_mean_240m AS news_sentiment_mean_240m,
    agg.news_positive_mean_240m AS news_positive_mean_240m,
    agg.news_negative_mean_240m AS news_negative_mean_240m,
    agg.news_neutral_mean_240m AS news_neutral_mean_240m,
    agg.news_confidence_weighted_sentiment_240m AS news_confidence_weighted_sentiment_240m,
    agg.news_sentiment_mean_1440m AS news_sentiment_mean_1440m,
    coalesce(agg.news_decayed_sentiment, 0.0) AS news_decayed_sentiment,
    agg.news_sentiment_mean_60m - agg.news_sentiment_mean_1440m AS news_sentiment_surprise_60m,
    CASE WHEN l.minutes_since_last <= $recency_cap_minutes THEN l.minutes_since_last END AS news_minutes_since_last
FROM bars b
LEFT JOIN aggregated agg ON agg.instrument = b.instrument AND agg.ts = b.ts
LEFT JOIN latest l ON l.instrument = b.instrument AND l.ts = b.ts
