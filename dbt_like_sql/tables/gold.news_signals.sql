-- One row per silver bar: trailing-window news aggregates (dbt_like_sql/gold.news_signals.sql).
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.news_signals (
    instrument VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    trade_date DATE NOT NULL,
    sentiment_model VARCHAR,  -- model(s) behind the 24-h window; NULL when it holds no article
    news_count_15m INTEGER,
    news_sentiment_mean_15m DOUBLE,
    news_positive_mean_15m DOUBLE,
    news_negative_mean_15m DOUBLE,
    news_neutral_mean_15m DOUBLE,
    news_confidence_weighted_sentiment_15m DOUBLE,
    news_count_60m INTEGER,
    news_sentiment_mean_60m DOUBLE,
    news_positive_mean_60m DOUBLE,
    news_negative_mean_60m DOUBLE,
    news_neutral_mean_60m DOUBLE,
    news_confidence_weighted_sentiment_60m DOUBLE,
    news_count_240m INTEGER,
    news_sentiment_mean_240m DOUBLE,
    news_positive_mean_240m DOUBLE,
    news_negative_mean_240m DOUBLE,
    news_neutral_mean_240m DOUBLE,
    news_confidence_weighted_sentiment_240m DOUBLE,
    news_sentiment_mean_1440m DOUBLE,
    news_decayed_sentiment DOUBLE,
    news_sentiment_surprise_60m DOUBLE,
    news_minutes_since_last DOUBLE
);
