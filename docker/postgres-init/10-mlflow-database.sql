-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d), as
-- POSTGRES_USER: Dagster's storage is POSTGRES_DB; MLflow's backend store gets its own database.
CREATE DATABASE mlflow;
