-- One row per bar: gold.market_features joined with gold.news_signals, plus labels by timestamp.
-- Contract for the ml/ layer (finsig_assets/ml/training_table.py):
--   * key / label columns are the ones named below up to label_up;
--   * every other DOUBLE / INTEGER / BIGINT column is a model feature, discovered from this
--     table (never hard-coded): columns starting with `news_` are news features, the rest are
--     market features ("market-only" = without the `news_` columns). Columns starting with
--     `fwd_` or `label_` are never features (other horizons may be added that way).
--   * a feature at ts uses only information available at or before ts; news counts from its
--     available_at, trailing windows are (ts - w, ts].
--   * fwd_return_30m = ln(close of the bar at ts + 30 min / close of the bar at ts), only when
--     that bar exists in the same session with no gap longer than the configured limit; NULL
--     when the horizon crosses the close, an early close or a data gap. label_up likewise.
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.training_examples (
    instrument      VARCHAR NOT NULL,
    ts              TIMESTAMPTZ NOT NULL,  -- bar open time, UTC
    trade_date      DATE NOT NULL,
    is_rth          BOOLEAN NOT NULL,
    sentiment_model VARCHAR,               -- model(s) that scored the news in the 24-h window; NULL when none
    fwd_return_30m  DOUBLE,                -- label (NULL: horizon crosses the close or a gap)
    label_up        BOOLEAN,               -- fwd_return_30m > 0 (NULL likewise)
    -- market features (as gold.market_features)
    ret_1m                                   DOUBLE,
    ret_5m                                   DOUBLE,
    ret_15m                                  DOUBLE,
    ret_30m                                  DOUBLE,
    ret_60m                                  DOUBLE,
    realized_vol_30                          DOUBLE,
    realized_vol_60                          DOUBLE,
    parkinson_vol_30                         DOUBLE,
    garman_klass_vol_30                      DOUBLE,
    rogers_satchell_vol_30                   DOUBLE,
    yang_zhang_vol_30                        DOUBLE,
    rsi_14                                   DOUBLE,
    macd                                     DOUBLE,
    macd_signal                              DOUBLE,
    macd_hist                                DOUBLE,
    bb_position_20                           DOUBLE,
    bb_width_20                              DOUBLE,
    atr_14                                   DOUBLE,
    volume_z_60                              DOUBLE,
    minute_of_session                        DOUBLE,
    minutes_to_close                         DOUBLE,
    -- news features (as gold.news_signals; trailing windows (ts - w, ts] by available_at)
    news_count_15m                           INTEGER,
    news_sentiment_mean_15m                  DOUBLE,
    news_positive_mean_15m                   DOUBLE,
    news_negative_mean_15m                   DOUBLE,
    news_neutral_mean_15m                    DOUBLE,
    news_confidence_weighted_sentiment_15m   DOUBLE,
    news_count_60m                           INTEGER,
    news_sentiment_mean_60m                  DOUBLE,
    news_positive_mean_60m                   DOUBLE,
    news_negative_mean_60m                   DOUBLE,
    news_neutral_mean_60m                    DOUBLE,
    news_confidence_weighted_sentiment_60m   DOUBLE,
    news_count_240m                          INTEGER,
    news_sentiment_mean_240m                 DOUBLE,
    news_positive_mean_240m                  DOUBLE,
    news_negative_mean_240m                  DOUBLE,
    news_neutral_mean_240m                   DOUBLE,
    news_confidence_weighted_sentiment_240m  DOUBLE,
    news_sentiment_mean_1440m                DOUBLE,
    news_decayed_sentiment                   DOUBLE,
    news_sentiment_surprise_60m              DOUBLE,
    news_minutes_since_last                  DOUBLE
);
