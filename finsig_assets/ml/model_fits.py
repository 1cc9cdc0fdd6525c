"""``ml/model_fits``: each model partition's direction and return models, fitted where a worker is free.

Fitting a partition's models -- walk-forward folds, baselines, the final XGBoost fits -- depends
only on its window of ``gold.training_examples`` and the configuration, never on another
partition. Registering them does not: each promotion decision compares with the champion in
force before it, and MLflow numbers versions in the order they are registered. So the work is
split in two assets:

- ``ml/model_fits`` (this one) fits partition D's window (:mod:`finsig_assets.ml.training_window`)
  and stores the fits in ``ml.model_fits`` (:mod:`finsig_assets.ml.fit_store`), keyed by the
  hash of the window's rows and of the configuration. Its partitions are independent, so a
  backfill may run as several runs that workers execute side by side:
  ``FINSIG_MODEL_FITS_PARTITIONS_PER_RUN=N`` gives it ``BackfillPolicy.multi_run(N)``
  (``docs/scale-out.md``, "Backfill policies"). By default it backfills as one run, like every
  finsig asset, so ``dagster asset materialize --partition-range`` keeps taking it;
- ``ml/direction_model`` registers the fits in session order: MLflow run, version, promotion
  decision, aliases. A partition whose fit is missing or was made of other data or settings is
  fitted there, as before the split.

A partition whose fit of the same data and configuration is already stored keeps it (no
refit). Past the end of the data a partition is not materialized, as ``ml/direction_model``'s;
before it, a session without data materializes with the reason. Holds no DuckDB connection
while fitting; each partition's row is written in its own short transaction.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import time

import dagster as dg
import polars as pl

from finsig_assets import settings
from finsig_assets.automation import follows_upstream
from finsig_assets.checks.session_freshness import freshness_result
from finsig_assets.ml import baselines
from finsig_assets.ml.direction_training import TrainingDataError, data_sha256, train_direction_model
from finsig_assets.ml.evaluation_metrics import finite_or_none, fmt
from finsig_assets.ml.fit_store import STATUS_FITTED, TABLE, fitted_keys, pack
from finsig_assets.ml.training_config import DirectionModelConfig, check_config, model_features
from finsig_assets.ml.training_table import discover_features, last_labelled_session, read_labelled_examples, window_sessions
from finsig_assets.ml.training_window import (
    STATUS_INSUFFICIENT,
    STATUS_NO_DATA,
    no_data_reason,
    training_window,
    training_window_dep,
    window_label,
)
from finsig_assets.ml.version_reuse import config_sha256
from finsig_assets.partition_scope import scope_of
from finsig_assets.trading_calendar import previous_session
from finsig_assets.trading_day_asset import runs_of_at_most, trading_day_asset
from finsig_assets.warehouse import Warehouse, polars_schema

ASSET_KEY = dg.AssetKey(["ml", "model_fits"])
STATUS_KEPT = "fitted before"


SCHEMA = polars_schema(TABLE)  # from the DDL (the contract)


def _write(warehouse: Warehouse, row: dict) -> None:
    frame = pl.DataFrame([row], schema=SCHEMA)
    with warehouse.transaction() as tx:
        tx.replace(TABLE, frame, row["trade_date"], row["trade_date"])


@trading_day_asset(
    key=ASSET_KEY,
    table=TABLE,
    pool=None,  # fitting holds no DuckDB connection; short writes retry on the lock
    kinds={"xgboost", "duckdb"},
    deps=[training_window_dep()],  # the window: the sessions before D, as ml/direction_model's
    # Independent partitions: workers may fit a backfill's runs side by side (FINSIG_MODEL_FITS_PARTITIONS_PER_RUN).
    backfill_policy=runs_of_at_most(settings.model_fits_partitions_per_run()),
    output_required=False,
    automation_condition=follows_upstream(on_new_partition=True),
    description="The direction and return models of session D fitted on D's training window (walk-forward folds, "
    "baselines, final fits), stored in ml.model_fits for ml/direction_model to register in session order. "
    "Partitions are independent: a backfill may run as several runs on several workers.",
)
def model_fits(context: dg.AssetExecutionContext, config: DirectionModelConfig, warehouse: Warehouse):
    from finsig_assets.ml.return_training import train_return_model

    check_config(config)
    scope = scope_of(context)
    started = time.perf_counter()
    features = model_features(config, discover_features(warehouse))
    sessions = scope.sessions
    first_window = window_sessions(previous_session(scope.first), config.window_sessions)[0]
    last_window = previous_session(scope.last)
    examples = read_labelled_examples(warehouse, first_window, last_window, features, config.rth_only)
    with_data = set(examples["trade_date"].unique().to_list()) if examples.height else set()
    data_ends = last_labelled_session(warehouse, config.rth_only)
    stored = fitted_keys(warehouse, scope.first, scope.last)
    config_hash = config_sha256(config, features)
    train_settings = config.training_settings()
    context.log.info(
        f"ml/model_fits {scope.label}: {len(sessions)} window(s) to fit, ending {previous_session(scope.first)}..{last_window}; "
        f"read {examples.height:,} labelled rows for {first_window}..{last_window} in {time.perf_counter() - started:.2f}s"
    )
    per_partition: dict[dt.date, dict] = {}
    for i, day in enumerate(sessions, start=1):
        t0 = time.perf_counter()
        row = {name: None for name in SCHEMA} | {
            "trade_date": day,
            "config_sha256": config_hash,
            "dagster_run_id": context.run.run_id,
        }
        through = previous_session(day)
        if through not in with_data:
            row |= {"status": STATUS_NO_DATA, "reason": no_data_reason(day, data_ends, config.rth_only)}
        else:
            window = training_window(examples, day, config.window_sessions, config.min_sessions, config.min_labelled_rows)
            row |= {"window_first": window.first, "window_last": window.through, "n_sessions": window.n_sessions,
                    "n_train_rows": window.rows.height, "status": window.status, "reason": window.reason}  # fmt: skip
            if window.status is None:
                row |= _fit(window, features, train_settings, config_hash, stored.get(day), train_return_model)
        row["fit_seconds"] = time.perf_counter() - t0
        row["fitted_at"] = dt.datetime.now(dt.timezone.utc)
        if row["status"] != STATUS_KEPT:
            _write(warehouse, row)
        if row["status"] != STATUS_NO_DATA or (data_ends is not None and through <= data_ends):
            per_partition[day] = _metadata(row)
        context.log.info(
            f"ml/model_fits [{i}/{len(sessions)}] {day}: {_one_line(row)} ({row['fit_seconds']:.1f}s, "
            f"{time.perf_counter() - started:.0f}s so far)"
        )

    fresh = freshness_result(context.instance, ASSET_KEY, dt.datetime.now(dt.timezone.utc), list(per_partition))
    if len(per_partition) == len(sessions):
        for day, meta in per_partition.items():
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult(check_results=[fresh])
        return
    for day, meta in per_partition.items():
        yield dg.AssetMaterialization(asset_key=ASSET_KEY, partition=day.isoformat(), metadata=meta)
    yield fresh


def _fit(window, features, train_settings, config_hash: str, stored: tuple[str, str] | None, train_return_model) -> dict:
    data_hash = data_sha256(window.rows.sort("ts", "instrument"), features.all)
    if stored == (data_hash, config_hash):
        return {"status": STATUS_KEPT, "training_data_sha256": data_hash}
    try:
        outcome = train_direction_model(window.rows, features, train_settings)
    except TrainingDataError as exc:
        return {"status": STATUS_INSUFFICIENT, "reason": f"{window.first}..{window.through}: {exc}", "training_data_sha256": data_hash}
    returns = train_return_model(window.rows, features, train_settings)
    direction_blob, return_blob = pack(outcome), pack(returns)
    return {
        "status": STATUS_FITTED,
        "training_data_sha256": data_hash,
        "model_auc": finite_or_none(outcome.scores[baselines.MODEL].auc),
        "n_trees": outcome.n_trees,
        "n_sessions": len(outcome.sessions),
        "fit_bytes": len(direction_blob) + len(return_blob),
        "direction_fit": direction_blob,
        "return_fit": return_blob,
    }


def _one_line(row: dict) -> str:
    if row["status"] == STATUS_FITTED:
        return (
            f"fitted on {row['n_sessions']} sessions / {row['n_train_rows']:,} rows, {row['n_trees']} trees, "
            f"validation AUC {fmt(row['model_auc'])}; {row['fit_bytes'] / 1e6:.2f} MB stored"
        )
    if row["status"] == STATUS_KEPT:
        return f"the stored fit of this data and configuration is kept (training_data_sha256 {row['training_data_sha256'][:12]}...)"
    return f"{row['status']}: {row['reason']}"


def _metadata(row: dict) -> dict:
    meta = {
        "dagster/row_count": dg.MetadataValue.int(1),
        "status": dg.MetadataValue.text(row["status"]),
        "outcome": dg.MetadataValue.text(_one_line(row)),
        "window": dg.MetadataValue.text(window_label(row)),
        "n_train_rows": dg.MetadataValue.int(int(row["n_train_rows"] or 0)),
        "fit_seconds": dg.MetadataValue.float(round(row["fit_seconds"], 3)),
        "config_sha256": dg.MetadataValue.text(row["config_sha256"]),
    }
    if row["training_data_sha256"]:
        meta["training_data_sha256"] = dg.MetadataValue.text(row["training_data_sha256"])
    if row["status"] == STATUS_FITTED:
        meta |= {
            "model_auc": dg.MetadataValue.float(row["model_auc"]) if row["model_auc"] is not None else dg.MetadataValue.text("n/a"),
            "n_trees": dg.MetadataValue.int(row["n_trees"]),
            "fit_bytes": dg.MetadataValue.int(row["fit_bytes"]),
        }
    return meta
