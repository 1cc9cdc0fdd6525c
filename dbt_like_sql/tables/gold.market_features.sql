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
    ret_5m                 DOUBLE,  -- ln(close / close of the last bar at or before ts - 5 minutes)
    ret_15m                DOUBLE,  -- ln(close / close of the last bar at or before ts - 15 minutes)
    ret_30m                DOUBLE,  -- ln(close / close of the last bar at or before ts - 30 minutes)
    ret_60m                DOUBLE,  -- ln(close / close of the last bar at or before ts - 60 minutes)
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
    minutes_to_close       DOUBLE,  -- from silver: bar open to the regular-hours close
    -- The rest of the replaced system's catalogue (appended, so a migrated warehouse has the
    -- columns in the same order as a new one).
    ret_120m               DOUBLE,  -- ln(close / close of the last bar at or before ts - 120 minutes)
    ret_240m               DOUBLE,  -- ln(close / close of the last bar at or before ts - 240 minutes)
    ret_360m               DOUBLE,  -- ln(close / close of the last bar at or before ts - 360 minutes)
    rsi_20                 DOUBLE,  -- Wilder RSI (alpha = 1/20), 0..100
    sma_7                  DOUBLE,  -- mean close of the last 7 bars (a price level)
    sma_14                 DOUBLE,  -- mean close of the last 14 bars (a price level)
    sma_21                 DOUBLE,  -- mean close of the last 21 bars (a price level)
    sma_50                 DOUBLE,  -- mean close of the last 50 bars (a price level)
    ema_7                  DOUBLE,  -- EMA of the close, alpha = 2 / (7 + 1) (a price level)
    ema_14                 DOUBLE,  -- EMA of the close, alpha = 2 / (14 + 1) (a price level)
    ema_21                 DOUBLE,  -- EMA of the close, alpha = 2 / (21 + 1) (a price level)
    ema_50                 DOUBLE,  -- EMA of the close, alpha = 2 / (50 + 1) (a price level)
    adx_14                 DOUBLE,  -- Wilder ADX 14, 0..100
    momentum_10            DOUBLE,  -- close - close 10 bars earlier (price units)
    roc_10                 DOUBLE,  -- 100 * (close / close 10 bars earlier - 1)
    hl_range               DOUBLE,  -- (high - low) / close of the bar
    volume_ratio_20        DOUBLE,  -- volume / mean volume of the last 20 bars
    volume_ratio_60        DOUBLE,  -- volume / mean volume of the last 60 bars
    amihud_30              DOUBLE,  -- mean |ret_1m| / volume over the last 30 bars with volume > 0
    vwap_30                DOUBLE,  -- sum(typical price * volume) / sum(volume), last 30 bars (a price level)
    vol_of_vol_30          DOUBLE   -- sample std of realized_vol_30 over the last 30 bars
);
