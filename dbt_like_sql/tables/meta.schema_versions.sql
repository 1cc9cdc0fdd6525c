-- The warehouse's schema history: one row each time a table was created or changed to match
-- its DDL file (finsig_assets/schema_migrations.py). The latest row per table names the DDL the
-- table now follows; an upgrade that adds columns to a DDL file adds them here on first use.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.schema_versions (
    table_name   VARCHAR NOT NULL,     -- e.g. 'silver.market_bars'
    ddl_sha256   VARCHAR NOT NULL,     -- hash of dbt_like_sql/tables/<table_name>.sql
    n_columns    INTEGER NOT NULL,     -- columns the table has after the change
    change       VARCHAR NOT NULL,     -- 'created', 'added columns a, b', or 'recorded' (found matching)
    applied_at   TIMESTAMPTZ NOT NULL
);
