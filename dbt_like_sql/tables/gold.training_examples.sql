-- One row per bar: gold.market_features joined with gold.news_signals, plus labels by timestamp.
-- The feature columns are not repeated here: the two '-- columns of <table> except ...'
-- directives at the end of the column list stand for the columns of gold.market_features and
-- gold.news_signals (minus the keys), as their own DDL files declare them, in that order
-- (finsig_assets/warehouse.py, ddl_text). So a new market or news feature is one column in its
-- table's DDL (and its SQL model): the SELECT takes f.* / n.*, and an existing warehouse gains
-- the column here by the schema migration's ADD COLUMN.
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
    -- The features, in their tables' declared order (finsig_assets/warehouse.py, ddl_text, expands
    -- each directive below into those columns' names and types before anything reads this file):
    -- news features trail by available_at over (ts - w, ts].
    -- columns of gold.market_features except instrument, ts, trade_date
    -- columns of gold.news_signals except instrument, ts, trade_date, sentiment_model
);
