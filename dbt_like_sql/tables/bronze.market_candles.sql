-- Complete M1 candles as they landed, one row per (instrument, ts) after identical copies
-- collapse; conflicting copies are resolved by the rule in finsig_assets/bronze/candle_dedup.py
-- and the losers recorded in bronze.quarantine.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE TABLE IF NOT EXISTS bronze.market_candles (
    instrument   VARCHAR NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,   -- bar open time, UTC
    trade_date   DATE NOT NULL,
    open         DOUBLE NOT NULL,
    high         DOUBLE NOT NULL,
    low          DOUBLE NOT NULL,
    close        DOUBLE NOT NULL,
    volume       BIGINT NOT NULL,
    collected_at TIMESTAMPTZ,            -- flattened shape only
    source_file  VARCHAR NOT NULL,
    source_line  BIGINT NOT NULL,
    ingested_at  TIMESTAMPTZ NOT NULL
);
