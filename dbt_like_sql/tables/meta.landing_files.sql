-- The landing-file index: one row per landed file, refreshed only for files whose size or
-- mtime changed (new files added, deleted files removed). A partition run parses only the
-- files whose [min_ts, max_ts] overlaps its ownership window (see
-- finsig_assets/bronze/landing_index.py; what counts as a landing file is decided by
-- finsig_assets/landing_files.py). min_ts/max_ts cover the records that could be placed
-- in a partition; records with no usable timestamp are counted in n_unplaceable and sit in
-- bronze.quarantine with a NULL trade_date.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.landing_files (
    dataset        VARCHAR NOT NULL,     -- 'market' or 'news'
    path           VARCHAR NOT NULL,     -- relative to the landing root, e.g. market/2024/06/x.ndjson
    size           BIGINT NOT NULL,      -- bytes, at indexing time
    mtime_ns       BIGINT NOT NULL,      -- st_mtime_ns, at indexing time
    min_ts         TIMESTAMPTZ,          -- earliest placeable record (NULL: none)
    max_ts         TIMESTAMPTZ,          -- latest placeable record
    n_lines        BIGINT NOT NULL,      -- lines read (1 for a single-article file)
    n_records      BIGINT NOT NULL,      -- placeable records (valid, rejected or in progress)
    n_unplaceable  BIGINT NOT NULL,      -- records quarantined with trade_date NULL
    n_blank        BIGINT NOT NULL,      -- blank lines skipped
    non_article    BOOLEAN NOT NULL,     -- news: a file that is not an article (seen_articles.json)
    indexed_at     TIMESTAMPTZ NOT NULL, -- when this version of the file was indexed
    first_seen_at  TIMESTAMPTZ,          -- when the index first saw the path; kept on re-indexing.
                                         -- The candle duplicate rule: a copy that landed later wins.
    content_sha256 VARCHAR               -- SHA-256 of the bytes indexed (NULL: indexed before this
                                         -- column existed); tells a touched file from a changed one
);
-- Warehouses created before first_seen_at / content_sha256 existed: add them, and take the best
-- estimate of when an old row was first seen (its last indexing). Both are no-ops afterwards.
ALTER TABLE meta.landing_files ADD COLUMN IF NOT EXISTS first_seen_at TIMESTAMPTZ;
ALTER TABLE meta.landing_files ADD COLUMN IF NOT EXISTS content_sha256 VARCHAR;
UPDATE meta.landing_files SET first_seen_at = indexed_at WHERE first_seen_at IS NULL;
