-- One row per silver.market_bars bar; built by dbt_like_sql/gold.market_features.sql (formulas
-- there). Indicators run over the instrument's continuous bar sequence (no reset per session)
-- and use only bars at or before ts. Rolling values are NULL until their window is full;
-- nothing is NaN or infinite. Volatilities are per-bar (not annualised).
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.market_features (
    instrument             VARCHAR NOT NULL,
    ts                     TIMESTAMPTZ NOT NULL,  -- bar open time, UTC (as silver)
    trade_date             DATE NOT NULL,
    ret_1m                 DOUBLE,  -- ln(close / close of the last bar at or before ts - 1 minute)
    ret_5m                 DOUBLE,  -- ... ts - 5 minutes
    ret_15m                DOUBLE,  -- ... ts - 15 minutes
    ret_30m                DOUBLE,  -- ... ts - 30 minutes
    ret_60m                DOUBLE,  -- ... ts - 60 minutes
    realized_vol_30        DOUBLE,  -- sample std of ret_1m over the last 30 bars
    realized_vol_60        DOUBLE,  -- sample std of ret_1m over the last 60 bars
    parkinson_vol_30       DOUBLE,  -- Parkinson high-low estimator, 30 bars
    garman_klass_vol_30    DOUBLE,  -- Garman-Klass, 30 bars
    rogers_satchell_vol_30 DOUBLE,  -- Rogers-Satchell, 30 bars
    yang_zhang_vol_30      DOUBLE,  -- Yang-Zhang, 30 bars
    rsi_14                 DOUBLE,  -- Wilder RSI (alpha = 1/14), 0..100
    macd                   DOUBLE,  -- EMA12(close) - EMA26(close)
    macd_signal            DOUBLE,  -- EMA9(macd)
    macd_hist              DOUBLE,  -- macd - macd_signal
    bb_position_20         DOUBLE,  -- (close - lower) / (upper - lower), Bollinger 20/2, population std
    bb_width_20            DOUBLE,  -- (upper - lower) / middle
    atr_14                 DOUBLE,  -- Wilder ATR (alpha = 1/14); true range uses the previous bar's close
    volume_z_60            DOUBLE,  -- (volume - mean) / sample std over the last 60 bars
    minute_of_session      DOUBLE,  -- minutes from 09:30 New York of trade_date to ts; negative before the open
    minutes_to_close       DOUBLE   -- from silver: bar open to the regular-hours close
);
