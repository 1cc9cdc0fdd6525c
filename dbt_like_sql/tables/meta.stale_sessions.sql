-- Sessions whose bronze rows are out of date although no run was asked for them: a bronze run
-- for other sessions re-indexed or dropped a landed file that also holds records of these
-- sessions (a changed or deleted multi-day file). The landing sensor re-materializes them; a
-- bronze run that covers a session deletes its row here, in the same transaction.
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.stale_sessions (
    dataset     VARCHAR NOT NULL,     -- 'market' or 'news'
    trade_date  DATE NOT NULL,
    since       TIMESTAMPTZ NOT NULL, -- when a run found the session out of date
    reason      VARCHAR NOT NULL,     -- e.g. 'market/x.ndjson changed (re-indexed by a run for 2024-06-24)'
    PRIMARY KEY (dataset, trade_date)
);
