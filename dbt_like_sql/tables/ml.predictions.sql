-- ml/predictions: every bar of session D scored by the champion as of the end of the previous
-- session (trained_through < trade_date, so always out of sample). Labels are copied from
-- gold.training_examples so the out-of-sample record can be scored from this table alone.
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.predictions (
    instrument       VARCHAR NOT NULL,
    ts               TIMESTAMPTZ NOT NULL,
    trade_date       DATE NOT NULL,
    model_name       VARCHAR NOT NULL,
    model_version    INTEGER NOT NULL,
    trained_through  DATE NOT NULL,     -- the last session of the model's training window
    champion_as_of   DATE NOT NULL,     -- the session whose end the champion was taken at
    p_up             DOUBLE NOT NULL,
    fwd_return_30m   DOUBLE,
    label_up         BOOLEAN,
    predicted_at     TIMESTAMPTZ NOT NULL,
    -- The baselines served with the champion (fit on the same window), so its live record is
    -- judged against them on the same rows; NULL for versions trained before they were kept.
    p_up_market_only DOUBLE,            -- the market-only XGBoost
    p_up_majority    DOUBLE,            -- the window's up-rate (majority class)
    -- The return regressor's champion as of the same session (NULL: none promoted yet).
    return_model_version    INTEGER,
    fwd_return_30m_forecast DOUBLE      -- forecast 30-minute log return
);
