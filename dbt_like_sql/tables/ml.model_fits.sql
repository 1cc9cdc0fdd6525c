-- One row per ml/model_fits partition: the direction and return models fitted on the partition's
-- training window, before MLflow. ml/direction_model registers a fit (in session order, so that
-- each promotion decision sees the champion before it) when its window's data and configuration
-- hash to the same values; otherwise it fits the window itself.
-- status: 'fitted' | 'insufficient history' | 'refused: mixed sentiment models' | 'no data'.
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.model_fits (
    trade_date            DATE NOT NULL,       -- the partition: the session the model serves
    status                VARCHAR NOT NULL,
    reason                VARCHAR,             -- why nothing was fitted
    window_first          DATE,
    window_last           DATE,                -- the session before trade_date
    n_sessions            INTEGER,             -- sessions in the window with labelled rows
    n_train_rows          BIGINT,
    training_data_sha256  VARCHAR,             -- finsig_assets.ml.direction_training.data_sha256 of the window
    config_sha256         VARCHAR,             -- finsig_assets.ml.version_reuse.config_sha256 of the configuration
    model_auc             DOUBLE,              -- walk-forward validation AUC of the fitted direction model
    n_trees               INTEGER,
    fit_bytes             BIGINT,              -- size of the two serialized fits
    direction_fit         BLOB,                -- the direction model's TrainingOutcome, pickled and zlib-compressed
    return_fit            BLOB,                -- the return model's ReturnOutcome, the same way
    fit_seconds           DOUBLE,
    dagster_run_id        VARCHAR,
    fitted_at             TIMESTAMPTZ NOT NULL
);
