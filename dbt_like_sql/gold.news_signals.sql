-- asset: gold/news_signals
-- description: One row per silver bar: what the news said up to that bar. Trailing windows (t - w, t] by available_at (w = 15, 60, 240 min): article count, mean sentiment, mean class probabilities, confidence-weighted sentiment; exponentially decayed sentiment (half-life 30 min, over 24 h); minutes since the last article (NULL past 72 h); sentiment surprise (60-min mean minus the trailing 24-h mean).
-- deps: silver/market_bars, silver/news_sentiment
-- lookback_sessions: 4
-- config: half_life_minutes=30.0, long_window_minutes=1440, recency_cap_minutes=4320
-- chunk_sessions: 250
-- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars)
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
--
-- Cost: linear in bars + articles (up to the log factor of sorting); no bar is joined to the
-- articles of its windows. (finsig_assets_tests/gold/news_signals_quadratic_reference.sql is the
-- former query, which joined every bar to every article of its previous 24 h: ~1,380 bars x
-- ~1,500 articles, two million joined rows a session at a realistic feed; the tests compare
-- this file with it.) The articles are reduced to one row per distinct available_at (`steps`)
-- carrying running sums up to it (`running`, `decay_state`, `model_state`); each bar reads, by
-- ASOF joins, the rows of the last step at or before t, t - 15 min, t - 60 min, t - 240 min and
-- t - 24 h (`bar_steps`). No equality join back to the steps: with one, DuckDB 1.5's optimizer
-- planned a product of bars and steps. A first step at -infinity, all zero, stands for "no
-- article yet", so every ASOF join finds a row.
--
-- * Window counts and means. R(s) = count and sums of sentiment, p_positive, p_negative,
--   p_neutral, confidence and confidence * sentiment over the articles with available_at <= s
--   (all articles of a tied available_at at once). The window (t - w, t] is exactly
--   R(step at t) - R(step at t - w): an article available at exactly t - w is in the second
--   term, hence out of the window, as in the former `age_minutes < w`. The 15/60/240-minute
--   windows are clipped to the 24-h one (least(w, long_window_minutes)), as the former
--   FILTERs applied inside the 24-h join. Count 0 gives NULL means (and 0 counts).
-- * Exact arithmetic. The sums are fixed point: each value is rounded to a multiple of 2^-64
--   (|error| <= 2^-65 per article) and summed as HUGEINT, so sums and differences are EXACT
--   integers, whatever the summation order and wherever the run's first article is. That is
--   what keeps "a partition alone equals the range" and the leakage tests bit-for-bit equal:
--   running sums in DOUBLE would differ in the last bits between a one-day and a 60-day run,
--   and would lose |running sum| * 2^-53 to cancellation in every difference. Values are at
--   most 1 in magnitude, so 2^127 leaves room for 2^63 articles. A mean is
--   double(S) * 2^-64 / n: |mean error| <= 2^-65 + 4 ulp(mean) (the former avg() had ~n ulp of
--   summation error of its own); the confidence-weighted ratio likewise.
-- * Decayed sentiment, sum(sentiment * 0.5^((t - available_at) / h)) over (t - 24 h, t], with
--   h = half_life_minutes. It equals 2^(-(t - r)/h) * sum(sentiment * 2^((available_at - r)/h))
--   for any reference point r. One r for the whole run (e.g. $window_start) would overflow over
--   a long backfill (2^(x/30) is inf past x ~ 30,700 minutes, three weeks) and, again, make a
--   partition alone differ from the range in the last bits. So r is the start of a block of
--   32 half-lives (16 h by default) aligned to the Unix epoch: block = epoch_us // block_us,
--   r = block * block_us, the same blocks in every run. Within its block an article's
--   2^((available_at - r)/h) is in [1, 2^32), and round(sentiment * 2^((available_at - r)/h) * 2^64)
--   (< 2^96) is summed exactly as HUGEINT: G(block, s), the running sum within the block up to
--   step s (2^31 articles per block before an overflow, which DuckDB raises as an error; it
--   never wraps). `decay_state` keeps, per step s, a map block -> G(block, s) for its own block
--   and the ceil(24 h / block) blocks before it (their totals). For a bar, every block j the
--   window touches (2 or 3 by default) contributes G(j, t) - G(j, t - 24 h) (exact; read from
--   the steps at t and at t - 24 h, absent = 0) times 2^-64 * 2^(-(t - r_j)/h), added in block
--   order. Error bound: t >= r_j, so the factor is <= 1 and the rounding to 2^-64 costs
--   <= 2^-65 per article in the result. The exponents are one division of an exact integer
--   count of microseconds each: (available_at - r)/h < 32 and (t - r)/h < 24 h/h + 32 = 80
--   half-lives, so pow(2, .) is off by <= ln 2 * 2 * (32 + 80) * 2^-53 + 2 ulp, the
--   conversions, product and sum by <= 6 ulp more: every article's share is within
--   170 * 2^-53 < 2e-14 relative, i.e. |error| <= 2e-14 * sum(|sentiment| * weight) + n * 2^-65
--   over the n articles of the window. The former query had the same order of error of its
--   own (one pow() of a rounded age per article, then n additions); the tests compare the two
--   at 1e-9 relative. In general the relative bound is
--   ((long_window_minutes / h + 64) * 2 ln 2 + 8) * 2^-53: any half-life and long window work (a
--   long window over a short half-life only touches more blocks per bar), nothing can
--   overflow, and a share too old to be represented underflows to 0 as it should.
-- * sentiment_model: `model_state` keeps, per step, every model seen so far with its last
--   available_at (in model order); a bar names the models whose last article at or before t
--   is later than t - 24 h, i.e. exactly the models with an article in (t - 24 h, t].
-- * news_minutes_since_last: from the step at t (the last available_at <= t).
-- * chunk_sessions: a long range runs as consecutive chunks of 250 sessions (each its own
--   SELECT with its own look-back), which is exact because a partition alone equals the range
--   (bit for bit, see above); the SELECT holds ~2.5 MB a session of 1,380 bars and 2,000 articles.
WITH constants AS (
    SELECT
        pow(2.0, 64) AS fixed_one,  -- fixed point: 1.0 is 2^64
        $half_life_minutes * 60000000.0 AS half_life_us,
        CAST(round(32 * $half_life_minutes * 60000000.0) AS BIGINT) AS block_us,  -- decay blocks: 32 half-lives
        CAST($long_window_minutes AS BIGINT) * 60000000 AS long_us
),
bars AS (
    SELECT instrument, ts, trade_date, epoch_us(ts) AS t_us
    FROM silver.market_bars
    WHERE ts >= $window_start AND ts < $window_end
),
articles AS (
    SELECT available_at, sentiment, p_positive, p_negative, p_neutral, confidence, sentiment_model
    FROM silver.news_sentiment
    WHERE available_at > $window_start - to_minutes($recency_cap_minutes)
      AND available_at < $window_end
),
steps AS (  -- one row per distinct available_at: exact fixed-point sums of its articles
    SELECT
        a.available_at,
        any_value(epoch_us(a.available_at) // c.block_us) AS block,
        count(*) AS n,
        sum(CAST(a.sentiment * c.fixed_one AS HUGEINT)) AS s_sentiment,
        sum(CAST(a.p_positive * c.fixed_one AS HUGEINT)) AS s_positive,
        sum(CAST(a.p_negative * c.fixed_one AS HUGEINT)) AS s_negative,
        sum(CAST(a.p_neutral * c.fixed_one AS HUGEINT)) AS s_neutral,
        sum(CAST(a.confidence * c.fixed_one AS HUGEINT)) AS s_confidence,
        sum(CAST(a.confidence * a.sentiment * c.fixed_one AS HUGEINT)) AS s_conf_sentiment,
        -- sentiment * 2^((available_at - r) / h), r the start of its block
        sum(CAST(a.sentiment * pow(2.0, (epoch_us(a.available_at) % c.block_us) / c.half_life_us) * c.fixed_one AS HUGEINT)) AS s_decay
    FROM articles a CROSS JOIN constants c
    GROUP BY a.available_at
),
running AS (  -- running sums up to each step; the first row is "before any article": all zero
    SELECT
        '-infinity'::TIMESTAMPTZ AS available_at, -1::BIGINT AS block, 0::HUGEINT AS n, 0::HUGEINT AS s_sentiment,
        0::HUGEINT AS s_positive, 0::HUGEINT AS s_negative, 0::HUGEINT AS s_neutral, 0::HUGEINT AS s_confidence,
        0::HUGEINT AS s_conf_sentiment, 0::HUGEINT AS g_decay
    UNION ALL
    SELECT
        available_at,
        block,
        sum(n) OVER w,
        sum(s_sentiment) OVER w,
        sum(s_positive) OVER w,
        sum(s_negative) OVER w,
        sum(s_neutral) OVER w,
        sum(s_confidence) OVER w,
        sum(s_conf_sentiment) OVER w,
        sum(s_decay) OVER (PARTITION BY block ORDER BY available_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    FROM steps
    WINDOW w AS (ORDER BY available_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
block_totals AS (
    SELECT block, sum(s_decay) AS total FROM steps GROUP BY block
),
decay_state AS (  -- per step, block -> G(block, step) for its own block and the blocks a 24-h window before it reaches
    SELECT
        r.available_at,
        map_from_entries(list_append(
            coalesce(list({'k': t.block, 'v': t.total}) FILTER (WHERE t.block IS NOT NULL), []),
            {'k': r.block, 'v': r.g_decay}
        )) AS g
    FROM running r
    CROSS JOIN constants c
    LEFT JOIN block_totals t ON t.block < r.block AND t.block >= r.block - (c.long_us + c.block_us - 1) // c.block_us
    GROUP BY r.available_at, r.block, r.g_decay
),
model_state AS (  -- per step, each model seen so far with its last available_at, in model order
    SELECT available_at, list({'model': sentiment_model, 'last_at': last_at} ORDER BY sentiment_model) AS last_seen
    FROM (
        SELECT
            s.available_at,
            m.sentiment_model,
            max(seen.available_at) OVER (
                PARTITION BY m.sentiment_model ORDER BY s.available_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) AS last_at
        FROM steps s
        CROSS JOIN (SELECT DISTINCT sentiment_model FROM articles) m
        LEFT JOIN (SELECT DISTINCT sentiment_model, available_at FROM articles) seen
            ON seen.sentiment_model = m.sentiment_model AND seen.available_at = s.available_at
    )
    WHERE last_at IS NOT NULL
    GROUP BY available_at
),
bar_steps AS (  -- per bar, the last step at or before t, t - 15 min, t - 60 min, t - 240 min and t - 24 h
    SELECT
        b.instrument, b.ts, b.trade_date, b.t_us,
        r.available_at AS at_t,
        r.n, r.s_sentiment, r.s_positive, r.s_negative, r.s_neutral, r.s_confidence, r.s_conf_sentiment,
        r15.n AS n15, r15.s_sentiment AS s_sentiment15, r15.s_positive AS s_positive15, r15.s_negative AS s_negative15,
        r15.s_neutral AS s_neutral15, r15.s_confidence AS s_confidence15, r15.s_conf_sentiment AS s_conf_sentiment15,
        r60.n AS n60, r60.s_sentiment AS s_sentiment60, r60.s_positive AS s_positive60, r60.s_negative AS s_negative60,
        r60.s_neutral AS s_neutral60, r60.s_confidence AS s_confidence60, r60.s_conf_sentiment AS s_conf_sentiment60,
        r240.n AS n240, r240.s_sentiment AS s_sentiment240, r240.s_positive AS s_positive240, r240.s_negative AS s_negative240,
        r240.s_neutral AS s_neutral240, r240.s_confidence AS s_confidence240, r240.s_conf_sentiment AS s_conf_sentiment240,
        rl.n AS nl, rl.s_sentiment AS s_sentimentl,
        dt.g AS g_t, dl.g AS g_long, ms.last_seen
    FROM bars b
    -- Each ASOF join reads the step row itself (not a key joined back by equality): the plan
    -- then cannot become a product of bars and steps, whatever the optimizer's join order.
    ASOF JOIN running r ON b.ts >= r.available_at
    ASOF JOIN running r15 ON b.ts - to_minutes(least(15, $long_window_minutes)) >= r15.available_at
    ASOF JOIN running r60 ON b.ts - to_minutes(least(60, $long_window_minutes)) >= r60.available_at
    ASOF JOIN running r240 ON b.ts - to_minutes(least(240, $long_window_minutes)) >= r240.available_at
    ASOF JOIN running rl ON b.ts - to_minutes($long_window_minutes) >= rl.available_at
    ASOF JOIN decay_state dt ON b.ts >= dt.available_at
    ASOF JOIN decay_state dl ON b.ts - to_minutes($long_window_minutes) >= dl.available_at
    ASOF LEFT JOIN model_state ms ON b.ts >= ms.available_at
),
signals AS (  -- window (t - w, t] = running(t) - running(t - w), exactly
    SELECT
        k.instrument,
        k.ts,
        k.trade_date,
        list_transform(
            list_filter(k.last_seen, lambda e: e.last_at > k.ts - to_minutes($long_window_minutes)), lambda e: e.model
        ) AS window_models,
        (k.n - k.n15)::INTEGER AS news_count_15m,
        CASE WHEN k.n > k.n15 THEN CAST(k.s_sentiment - k.s_sentiment15 AS DOUBLE) / c.fixed_one / (k.n - k.n15) END AS news_sentiment_mean_15m,
        CASE WHEN k.n > k.n15 THEN CAST(k.s_positive - k.s_positive15 AS DOUBLE) / c.fixed_one / (k.n - k.n15) END AS news_positive_mean_15m,
        CASE WHEN k.n > k.n15 THEN CAST(k.s_negative - k.s_negative15 AS DOUBLE) / c.fixed_one / (k.n - k.n15) END AS news_negative_mean_15m,
        CASE WHEN k.n > k.n15 THEN CAST(k.s_neutral - k.s_neutral15 AS DOUBLE) / c.fixed_one / (k.n - k.n15) END AS news_neutral_mean_15m,
        CASE WHEN k.s_confidence <> k.s_confidence15
             THEN CAST(k.s_conf_sentiment - k.s_conf_sentiment15 AS DOUBLE) / CAST(k.s_confidence - k.s_confidence15 AS DOUBLE)
        END AS news_confidence_weighted_sentiment_15m,
        (k.n - k.n60)::INTEGER AS news_count_60m,
        CASE WHEN k.n > k.n60 THEN CAST(k.s_sentiment - k.s_sentiment60 AS DOUBLE) / c.fixed_one / (k.n - k.n60) END AS news_sentiment_mean_60m,
        CASE WHEN k.n > k.n60 THEN CAST(k.s_positive - k.s_positive60 AS DOUBLE) / c.fixed_one / (k.n - k.n60) END AS news_positive_mean_60m,
        CASE WHEN k.n > k.n60 THEN CAST(k.s_negative - k.s_negative60 AS DOUBLE) / c.fixed_one / (k.n - k.n60) END AS news_negative_mean_60m,
        CASE WHEN k.n > k.n60 THEN CAST(k.s_neutral - k.s_neutral60 AS DOUBLE) / c.fixed_one / (k.n - k.n60) END AS news_neutral_mean_60m,
        CASE WHEN k.s_confidence <> k.s_confidence60
             THEN CAST(k.s_conf_sentiment - k.s_conf_sentiment60 AS DOUBLE) / CAST(k.s_confidence - k.s_confidence60 AS DOUBLE)
        END AS news_confidence_weighted_sentiment_60m,
        (k.n - k.n240)::INTEGER AS news_count_240m,
        CASE WHEN k.n > k.n240 THEN CAST(k.s_sentiment - k.s_sentiment240 AS DOUBLE) / c.fixed_one / (k.n - k.n240) END AS news_sentiment_mean_240m,
        CASE WHEN k.n > k.n240 THEN CAST(k.s_positive - k.s_positive240 AS DOUBLE) / c.fixed_one / (k.n - k.n240) END AS news_positive_mean_240m,
        CASE WHEN k.n > k.n240 THEN CAST(k.s_negative - k.s_negative240 AS DOUBLE) / c.fixed_one / (k.n - k.n240) END AS news_negative_mean_240m,
        CASE WHEN k.n > k.n240 THEN CAST(k.s_neutral - k.s_neutral240 AS DOUBLE) / c.fixed_one / (k.n - k.n240) END AS news_neutral_mean_240m,
        CASE WHEN k.s_confidence <> k.s_confidence240
             THEN CAST(k.s_conf_sentiment - k.s_conf_sentiment240 AS DOUBLE) / CAST(k.s_confidence - k.s_confidence240 AS DOUBLE)
        END AS news_confidence_weighted_sentiment_240m,
        CASE WHEN k.n > k.nl THEN CAST(k.s_sentiment - k.s_sentimentl AS DOUBLE) / c.fixed_one / (k.n - k.nl) END AS news_sentiment_mean_1440m,
        -- Decayed: over the blocks the window touches, in block order,
        -- (G(block, t) - G(block, t - 24 h)) * 2^-64 * 2^(-(t - r) / h).
        list_reduce(
            list_transform(
                range((k.t_us - c.long_us) // c.block_us, k.t_us // c.block_us + 1),
                lambda j: CAST(coalesce(k.g_t[j], 0) - coalesce(k.g_long[j], 0) AS DOUBLE) / c.fixed_one
                    * pow(2.0, -(k.t_us - j * c.block_us) / c.half_life_us)
            ),
            lambda acc, x: acc + x
        ) AS news_decayed_sentiment,
        epoch(k.ts - nullif(k.at_t, '-infinity'::TIMESTAMPTZ)) / 60.0 AS minutes_since_last
    FROM bar_steps k
    CROSS JOIN constants c
)
SELECT
    instrument,
    ts,
    trade_date,
    CASE WHEN len(window_models) > 0 THEN array_to_string(window_models, ' + ') END AS sentiment_model,
    news_count_15m,
    news_sentiment_mean_15m,
    news_positive_mean_15m,
    news_negative_mean_15m,
    news_neutral_mean_15m,
    news_confidence_weighted_sentiment_15m,
    news_count_60m,
    news_sentiment_mean_60m,
    news_positive_mean_60m,
    news_negative_mean_60m,
    news_neutral_mean_60m,
    news_confidence_weighted_sentiment_60m,
    news_count_240m,
    news_sentiment_mean_240m,
    news_positive_mean_240m,
    news_negative_mean_240m,
    news_neutral_mean_240m,
    news_confidence_weighted_sentiment_240m,
    news_sentiment_mean_1440m,
    news_decayed_sentiment,
    news_sentiment_mean_60m - news_sentiment_mean_1440m AS news_sentiment_surprise_60m,
    CASE WHEN minutes_since_last <= $recency_cap_minutes THEN minutes_since_last END AS news_minutes_since_last
FROM signals
