-- The out-of-sample record: one row per predicted session and model version, scored on the
-- session's labelled rows (metrics NULL until labels exist, AUC NULL when one class only).
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.oos_record (
    trade_date       DATE NOT NULL,
    model_name       VARCHAR NOT NULL,
    model_version    INTEGER NOT NULL,
    trained_through  DATE NOT NULL,
    mlflow_run_id    VARCHAR,
    n_rows           BIGINT NOT NULL,
    n_labelled       BIGINT NOT NULL,
    up_rate          DOUBLE,
    auc              DOUBLE,
    log_loss         DOUBLE,
    brier            DOUBLE,
    accuracy         DOUBLE,
    rank_ic          DOUBLE,
    recorded_at      TIMESTAMPTZ NOT NULL
);
