-- Typed, deduplicated, sorted real bars: never forward-filled (finsig_assets/silver/market_bars.py).
CREATE SCHEMA IF NOT EXISTS silver;
CREATE TABLE IF NOT EXISTS silver.market_bars (
    instrument       VARCHAR NOT NULL,
    ts               TIMESTAMPTZ NOT NULL,
    trade_date       DATE NOT NULL,
    open             DOUBLE NOT NULL,
    high             DOUBLE NOT NULL,
    low              DOUBLE NOT NULL,
    close            DOUBLE NOT NULL,
    volume           BIGINT NOT NULL,
    is_rth           BOOLEAN NOT NULL,   -- 09:30 to the session close (13:00 on early closes), New York
    minutes_to_close DOUBLE NOT NULL,    -- from bar open to the regular-hours close; negative after it
    gap_minutes      DOUBLE              -- since the previous bar of the instrument; NULL for the first bar
);
