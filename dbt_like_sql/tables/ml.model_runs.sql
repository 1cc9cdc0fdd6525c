-- One row per ml/direction_model partition: what happened when its model was trained.
-- status: 'trained' | 'insufficient history' | 'refused: mixed sentiment models'.
-- Fold metrics are pooled over the walk-forward validation rows (out of sample for every model).
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.model_runs (
    trade_date            DATE NOT NULL,       -- the partition: the session it serves, trained on the sessions before it
    status                VARCHAR NOT NULL,
    reason                VARCHAR,             -- human-readable why (insufficient history, refusal)
    dagster_run_id        VARCHAR,
    mlflow_run_id         VARCHAR,
    mlflow_experiment_id  VARCHAR,
    model_name            VARCHAR,
    model_version         INTEGER,
    promoted              BOOLEAN,             -- met the champion rules
    champion_alias_moved  BOOLEAN,             -- the live `champion` alias now points to this version
    decision_reasons      VARCHAR,
    window_first          DATE,
    window_last           DATE,
    n_sessions            INTEGER,             -- sessions in the window with labelled rows
    n_train_rows          BIGINT,
    n_features            INTEGER,
    n_news_features       INTEGER,
    n_trees               INTEGER,
    rth_only              BOOLEAN,
    sentiment_model       VARCHAR,
    training_data_sha256  VARCHAR,
    model_auc             DOUBLE,
    model_log_loss        DOUBLE,
    model_brier           DOUBLE,
    model_accuracy        DOUBLE,
    model_rank_ic         DOUBLE,
    market_only_auc       DOUBLE,
    market_only_log_loss  DOUBLE,
    majority_auc          DOUBLE,
    majority_log_loss     DOUBLE,
    majority_accuracy     DOUBLE,
    sign_ret_30m_auc      DOUBLE,
    sign_ret_30m_accuracy DOUBLE,
    value_of_news_auc     DOUBLE,              -- model AUC - market-only AUC on the same folds
    news_test_statistic   DOUBLE,              -- paired test of model vs market-only AUC (t, session clusters)
    news_test_p_value     DOUBLE,              -- its one-sided p-value: champion only when <= promotion_level
    -- The 30-minute log-return regressor trained on the same window (registered model finsig-return).
    return_model_version  INTEGER,
    return_promoted       BOOLEAN,
    return_r2             DOUBLE,              -- out-of-sample R² against the zero forecast (validation rows)
    return_rank_ic        DOUBLE,
    return_market_only_r2 DOUBLE,
    return_market_only_rank_ic DOUBLE,
    return_test_p_value   DOUBLE,              -- paired squared-error test against the market-only regressor
    metrics_json          VARCHAR,             -- every fold metric, for every model and baseline
    train_seconds         DOUBLE,
    recorded_at           TIMESTAMPTZ NOT NULL
);
