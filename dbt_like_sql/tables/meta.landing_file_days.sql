-- Where each trading day's records sit inside a landed file (byte span and first line), so a
-- partition run reads only its slice of a large multi-day file. Rewritten with the file's row
-- in meta.landing_files whenever the file is re-indexed.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.landing_file_days (
    dataset     VARCHAR NOT NULL,
    path        VARCHAR NOT NULL,
    trade_date  DATE NOT NULL,
    n_records   BIGINT NOT NULL,
    byte_start  BIGINT NOT NULL,     -- offset of the first line holding a record of this day
    byte_end    BIGINT NOT NULL,     -- offset just past the last such line
    line_start  BIGINT NOT NULL,     -- 1-based line number at byte_start
    min_ts      TIMESTAMPTZ NOT NULL,
    max_ts      TIMESTAMPTZ NOT NULL
);
