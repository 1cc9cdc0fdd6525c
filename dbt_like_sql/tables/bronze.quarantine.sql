-- Every rejected input record, with where it came from and why (never a silent drop).
-- trade_date is NULL when the record's own timestamp could not be read.
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE TABLE IF NOT EXISTS bronze.quarantine (
    dataset        VARCHAR NOT NULL,     -- 'market' or 'news'
    source_file    VARCHAR NOT NULL,
    source_line    BIGINT NOT NULL,
    reason         VARCHAR NOT NULL,     -- human-readable
    raw            VARCHAR,              -- the record, truncated
    trade_date     DATE,
    quarantined_at TIMESTAMPTZ NOT NULL
);
