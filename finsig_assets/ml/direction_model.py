"""``ml/direction_model``: the direction model for each trading day, registered in MLflow.

Partition D is **the model for session D**: it trains on the trailing ``window_sessions``
sessions that end with the session before D (P = D - 1) in ``gold.training_examples`` --
labelled rows only, regular-hours rows unless ``rth_only`` is off, and only rows whose label
horizon ends by 17:00 New York on P. Nothing of D enters, so the model is out of sample for D
by construction; the MLflow version's ``finsig.trained_through`` tag is P, and ``ml/predictions``
scores D with the champion as of the end of P (partition D or an earlier promoted one).

Why key it by the session it serves rather than by the last session it saw: the partition
mapping (the window: sessions D - W .. D - 1) then never reaches past the data. A backfill of
sessions up to the latest one with data pulls in model partitions up to the partition after
it -- whose window ends with that data -- and no further; and the model for the session in
progress can be trained as soon as the previous session has closed.

Per partition (see :mod:`finsig_assets.ml.direction_training` for the procedure):

- P has no labelled row -> status ``no data``: a row in ``ml.model_runs`` that says why, no
  training, no MLflow version "trained through" a session that has no data. Past the end of
  the data the partition is not materialized either, so it stays unmaterialized in the UI
  instead of turning green; before the data starts, or for a session without data inside it,
  the partition materializes with that reason as its outcome (a partition skipped there would
  skip ``ml/predictions`` for the whole range of a single-run backfill). When every session of the run trains (or records insufficient
  history), the run returns one ``MaterializeResult`` and each partition gets its own metadata;
  otherwise each materialized partition is reported with its own ``AssetMaterialization``;
- fewer than ``min_sessions`` sessions with labelled rows (or fewer than ``min_labelled_rows``
  rows, or one class only) -> status ``insufficient history``: a row in ``ml.model_runs`` and
  the metadata say so, no MLflow run, and the rest of a backfill carries on;
- a window that mixes sentiment models (``sentiment_model`` of ``gold.training_examples``) ->
  status ``refused: mixed sentiment models``, recorded the same way; the run then fails with
  an error naming the models, their row counts and sessions (after the other partitions of the
  range were trained and recorded), because a model must not learn from two incompatible
  sentiment scales;
- the window's data and the configuration hash to those of a registered version -> that
  version is reused (:mod:`finsig_assets.ml.version_reuse`): no training, no new version, the
  aliases untouched; the row and the metadata say "reused vN" with its numbers;
- otherwise: the partition's fits -- walk-forward folds, baselines, final fits of the direction
  and return models -- taken from ``ml.model_fits`` when ``ml/model_fits`` made them of exactly
  this window's rows and this configuration (:mod:`finsig_assets.ml.model_fits`; perhaps on
  another worker), else fitted here; then one MLflow run with the registered model version
  (:mod:`finsig_assets.ml.mlflow_logging`), the promotion decision -- on evidence, a
  paired test against the market-only model -- and aliases (:mod:`finsig_assets.ml.promotion`),
  a row in ``ml.model_runs``.

Backfill policy: ``BackfillPolicy.single_run()`` like every finsig asset. A range run reads the
examples once (short connection) and then registers **one model per partition, oldest first**,
logging progress; chronological order matters because each promotion decision compares with
the champion in force before it, and MLflow numbers versions in registration order. Multi-run
backfills would register partitions in parallel and out of order, which would make those
decisions depend on scheduling. What can run side by side -- fitting each window -- is
``ml/model_fits``' work, whose backfill may be split over workers; when that splits the
registering into several runs too, each waits for the earlier ones
(:mod:`finsig_assets.ml.registration_order`). Training holds no DuckDB
connection (and no ``duckdb_writer`` pool slot); each partition's ``ml.model_runs`` row is
written in its own short transaction as soon as it is known.

The partition mapping reads ``gold/training_examples`` over the window that
``FINSIG_MODEL_WINDOW_SESSIONS`` sets (default 60), the same setting that gives
``window_sessions`` its default, so lineage, staleness and the automation match what a run
reads. A run configured with another ``window_sessions`` reads that many sessions; the lineage
keeps showing the setting's.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.automation import follows_upstream
from finsig_assets.checks.session_freshness import freshness_result
from finsig_assets.materialization_metadata import markdown_table
from finsig_assets.ml import baselines, return_model
from finsig_assets.ml.champion_history import CHAMPION, alias_holder, champion_as_of, list_versions
from finsig_assets.ml.direction_training import TrainingDataError, TrainingOutcome, data_sha256, train_direction_model
from finsig_assets.ml.fit_store import stored_fit
from finsig_assets.ml.model_fits import ASSET_KEY as MODEL_FITS_KEY
from finsig_assets.ml.training_config import DirectionModelConfig, check_config, model_features
from finsig_assets.ml.training_window import (  # noqa: F401 (MixedSentimentModelsError, check_single_sentiment_model: named here too)
    STATUS_INSUFFICIENT,
    STATUS_NO_DATA,
    STATUS_REFUSED,
    TRAINING_EXAMPLES_KEY,
    MixedSentimentModelsError,
    check_single_sentiment_model,
    no_data_reason,
    training_window,
    training_window_dep,
    window_label,
)
from finsig_assets.ml.version_reuse import config_sha256, registered_with, reused_row_values
from finsig_assets.ml.evaluation_metrics import METRIC_NAMES, finite_or_none, fmt
from finsig_assets.ml.mlflow_logging import RunContext, log_training_run
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.oos_record import champion_recent_predictions, recomputed_record
from finsig_assets.ml.registration_order import wait_for_earlier_registrations
from finsig_assets.ml.promotion import compare_with_champion, decide_promotion, record_decision
from finsig_assets.ml.training_table import FeatureSet, discover_features, last_labelled_session, read_labelled_examples, window_sessions
from finsig_assets.partition_scope import scope_of
from finsig_assets.trading_calendar import previous_session
from finsig_assets.warehouse import Warehouse, polars_schema

if TYPE_CHECKING:
    import xgboost as xgb

TABLE = "ml.model_runs"
ASSET_KEY = dg.AssetKey(["ml", "direction_model"])
STATUS_TRAINED = "trained"

RUNS_SCHEMA = polars_schema(TABLE)  # the DDL is the contract: dbt_like_sql/tables/ml.model_runs.sql


def _base_row(day: dt.date, status: str, reason: str | None, context_run_id: str, cfg: DirectionModelConfig) -> dict:
    row: dict[str, Any] = {k: None for k in RUNS_SCHEMA}
    row |= {
        "trade_date": day,
        "status": status,
        "reason": reason,
        "dagster_run_id": context_run_id,
        "rth_only": cfg.rth_only,
        "recorded_at": dt.datetime.now(dt.timezone.utc),
    }
    return row


def _metrics_row(outcome: TrainingOutcome, seconds: dict[str, float]) -> dict:
    s = outcome.scores
    return {
        "model_auc": finite_or_none(s[baselines.MODEL].auc),
        "model_log_loss": finite_or_none(s[baselines.MODEL].log_loss),
        "model_brier": finite_or_none(s[baselines.MODEL].brier),
        "model_accuracy": finite_or_none(s[baselines.MODEL].accuracy),
        "model_rank_ic": finite_or_none(s[baselines.MODEL].rank_ic),
        "market_only_auc": finite_or_none(s[baselines.MARKET_ONLY].auc),
        "market_only_log_loss": finite_or_none(s[baselines.MARKET_ONLY].log_loss),
        "majority_auc": finite_or_none(s[baselines.MAJORITY].auc),
        "majority_log_loss": finite_or_none(s[baselines.MAJORITY].log_loss),
        "majority_accuracy": finite_or_none(s[baselines.MAJORITY].accuracy),
        "sign_ret_30m_auc": finite_or_none(s[baselines.SIGN_RET_30M].auc),
        "sign_ret_30m_accuracy": finite_or_none(s[baselines.SIGN_RET_30M].accuracy),
        "value_of_news_auc": finite_or_none(outcome.value_of_news_auc),
        "news_test_statistic": finite_or_none(outcome.news_test.statistic) if outcome.news_test else None,
        "news_test_p_value": finite_or_none(outcome.news_test.p_value) if outcome.news_test else None,
        "metrics_json": json.dumps(
            {
                "folds_combined": {k: {m: finite_or_none(v) for m, v in sc.as_dict().items()} for k, sc in s.items()},
                "folds": [
                    {
                        "sessions": [d.isoformat() for d in f.validation_sessions],
                        "n_train": f.n_train,
                        "n_val": f.n_val,
                        "n_purged": f.n_purged,
                        "n_embargoed": f.n_embargoed,
                        "best_trees": f.best_trees,
                        "auc": {k: finite_or_none(sc.auc) for k, sc in f.scores.items()},
                    }
                    for f in outcome.folds
                ],
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
            }
        ),
    }


def metrics_markdown(outcome: TrainingOutcome) -> str:
    """Model vs baselines per metric over the walk-forward validation folds (row-weighted)."""
    names = baselines.ALL_MODELS
    lines = ["| metric | " + " | ".join(baselines.LABELS[n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for m in METRIC_NAMES:
        lines.append(f"| {m} | " + " | ".join(fmt(getattr(outcome.scores[n], m)) for n in names) + " |")
    lines.append("| rows | " + " | ".join(f"{outcome.scores[n].n:,}" for n in names) + " |")
    return "\n".join(lines)


def _write_run(warehouse: Warehouse, row: dict) -> None:
    frame = pl.DataFrame([row], schema=RUNS_SCHEMA)
    with warehouse.transaction() as tx:
        tx.replace(TABLE, frame, row["trade_date"], row["trade_date"])


@trading_day_asset(
    key=ASSET_KEY,
    table="ml.model_runs",  # one row per partition: the decision, its figures and the versions
    pool=None,  # training holds no DuckDB connection; short writes retry on the lock
    kinds={"xgboost", "mlflow", "duckdb"},
    deps=[
        training_window_dep(),
        # The partition's fits, made where a worker was free; registered here in session order.
        dg.AssetDep(MODEL_FITS_KEY),
    ],
    # A session with no data is not materialized (see the module docstring).
    output_required=False,
    automation_condition=follows_upstream(on_new_partition=True),
    description="The XGBoost direction model for session D, trained on the window of gold.training_examples that "
    "ends with the session before D (so it is out of sample for D): walk-forward folds with purging/embargo, "
    "baselines (market-only, majority, sign of ret_30m), MLflow run + registered version, champion/challenger "
    "aliases. Writes ml.model_runs. Nothing new to train on (no labelled rows in D-1): not materialized.",
)
def direction_model(
    context: dg.AssetExecutionContext,
    config: DirectionModelConfig,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
):
    check_config(config)
    scope = scope_of(context)
    # A backfill may split the registering into runs; they go in session order (registration_order.py).
    wait_for_earlier_registrations(context, warehouse, scope.first)
    started = time.perf_counter()
    features = model_features(config, discover_features(warehouse))
    sessions = scope.sessions
    first_window = window_sessions(previous_session(scope.first), config.window_sessions)[0]
    last_window = previous_session(scope.last)
    examples = read_labelled_examples(warehouse, first_window, last_window, features, config.rth_only)
    with_data = set(examples["trade_date"].unique().to_list()) if examples.height else set()
    data_ends = last_labelled_session(warehouse, config.rth_only)
    context.log.info(
        f"ml/direction_model {scope.label}: {len(sessions)} model(s) to train, on windows ending "
        f"{previous_session(scope.first)}..{last_window}; read {examples.height:,} labelled rows "
        f"({len(features.market)} market + {len(features.news)} news features) for {first_window}..{last_window} "
        f"in {time.perf_counter() - started:.2f}s"
    )
    settings_, rules = config.training_settings(), config.promotion_rules()
    client = mlflow.client()
    # Per partition, only its row and its metadata are kept: a year's backfill must not hold
    # 252 boosters and their fold predictions in memory.
    rows, per_partition, refusals = [], {}, []
    champion_boosters: dict[int, xgb.Booster] = {}
    for i, day in enumerate(sessions, start=1):
        t0 = time.perf_counter()
        through = previous_session(day)
        if through not in with_data:
            # No labelled row in the window's newest session (past the end of the data, or a
            # session without data): nothing new since the previous model.
            row = _base_row(day, STATUS_NO_DATA, no_data_reason(day, data_ends, config.rth_only), context.run.run_id, config)
            detail = None
        else:
            row, detail = _train_partition(
                context, config, settings_, rules, warehouse, mlflow, client, features, examples, day, champion_boosters
            )
        row["train_seconds"] = time.perf_counter() - t0
        _write_run(warehouse, row)
        rows.append(row)
        if row["status"] == STATUS_REFUSED:
            refusals.append(row["reason"])
        elif row["status"] != STATUS_NO_DATA or (data_ends is not None and through <= data_ends):
            # Past the end of the data a partition stays unmaterialized; a session without data
            # before that is done (nothing to train) and says why -- and leaves the rest of
            # the run's steps (ml/predictions) to run.
            per_partition[day] = _partition_metadata(row, detail, mlflow)
        context.log.info(
            f"ml/direction_model [{i}/{len(sessions)}] {day}: {_one_line(row)}"
            + (f"; fitted by {detail['fitted_by']}" if detail and "fitted_by" in detail else "")
            + f" ({row['train_seconds']:.1f}s, "
            f"{time.perf_counter() - started:.0f}s so far)"
        )

    runs = pl.DataFrame(rows, schema=RUNS_SCHEMA)
    if refusals:
        raise dg.Failure(
            description="ml/direction_model refused to train: " + " | ".join(refusals),
            metadata={"refused_partitions": dg.MetadataValue.int(len(refusals))},
        )
    run_metadata = _run_metadata(runs, scope.label, mlflow, client)
    fresh = freshness_result(context.instance, ASSET_KEY, dt.datetime.now(dt.timezone.utc), list(per_partition))
    if len(per_partition) == len(sessions):
        # Every partition materializes: one result; each partition's own numbers come first.
        for day, meta in per_partition.items():
            context.add_asset_metadata({**meta, **run_metadata}, partition_key=day.isoformat())
        yield dg.MaterializeResult(check_results=[fresh])
        return
    # Sessions without data stay unmaterialized: report the others one by one.
    for day, meta in per_partition.items():
        yield dg.AssetMaterialization(asset_key=ASSET_KEY, partition=day.isoformat(), metadata={**meta, **run_metadata})
    yield fresh


def _train_partition(
    context, config, train_settings, rules, warehouse, tracking, client, features: FeatureSet, examples, day, champion_boosters: dict
):
    """The model for session ``day``: trained on the window that ends with the session before it."""
    window = training_window(examples, day, config.window_sessions, config.min_sessions, config.min_labelled_rows)
    first, through, rows = window.first, window.through, window.rows
    row = _base_row(day, STATUS_TRAINED, None, context.run.run_id, config)
    row |= {
        "window_first": first,
        "window_last": through,
        "n_sessions": window.n_sessions,
        "n_train_rows": rows.height,
        "n_features": len(features.all),
        "n_news_features": len(features.news),
    }
    if window.status == STATUS_REFUSED:
        context.log.error(window.reason)
    if window.status is not None:
        return row | {"status": window.status, "reason": window.reason}, None
    sentiment_model = window.sentiment_model
    row["sentiment_model"] = sentiment_model
    data_hash = data_sha256(rows.sort("ts", "instrument"), features.all)
    config_hash = config_sha256(config, features)
    ctx = RunContext(
        partition=day,
        window_first=first,
        window_last=through,
        window_sessions=config.window_sessions,
        min_sessions=config.min_sessions,
        rth_only=config.rth_only,
        sentiment_model=sentiment_model,
        dagster_run_id=context.run.run_id,
        asset_key=ASSET_KEY.to_user_string(),
    )
    versions = list_versions(client, tracking.registered_model_name)
    same = registered_with(versions, data_hash, config_hash)
    if same is not None:
        # Exactly this data and configuration were trained before: no new evidence, no new version.
        returns = return_model.train_or_reuse(tracking, rows, features, train_settings, ctx, data_hash, config_hash, rules)
        return _reused_row(row, same, client, tracking) | returns.row_values(), {"reused": same, "returns": returns}
    fit = stored_fit(warehouse, day, data_hash, config_hash)
    if fit is not None:
        # Fitted by ml/model_fits (perhaps on another worker) on exactly these rows with this configuration.
        outcome, fitted_by = fit.direction, f"ml/model_fits, run {fit.dagster_run_id}"
    else:
        try:
            outcome, fitted_by = train_direction_model(rows, features, train_settings), "this step (no fit of this window's data and configuration in ml.model_fits)"
        except TrainingDataError as exc:
            return row | {"status": STATUS_INSUFFICIENT, "reason": f"{first}..{through}: {exc}"}, None

    # The champion this model would replace: the one in force for session `through`.
    champion = champion_as_of(versions, previous_session(through))
    comparison = None
    if champion is not None:
        preds = champion_recent_predictions(warehouse, tracking.registered_model_name, champion.version, through, rules.champion_record_sessions)
        if preds.height < rules.min_record_rows and champion.trained_through is not None:
            # Not served yet (a backfill trains every partition before it predicts): the same
            # record, recomputed from the rows the champion would have scored.
            booster = _champion_booster(tracking, champion.version, champion_boosters)
            preds = recomputed_record(booster, examples, champion.trained_through, through, rules.champion_record_sessions)
        comparison = compare_with_champion(champion, preds, outcome.oos, rules)
    if outcome.news_test is None:
        raise ValueError("train_direction_model returned no news test: a promotion cannot be decided without it")
    decision = decide_promotion(outcome.scores, outcome.news_test, rules, comparison)
    t0 = time.perf_counter()
    logged = log_training_run(tracking, outcome, ctx, train_settings, rules, decision, config_hash)
    moved = record_decision(client, tracking.registered_model_name, logged.version, through, decision)
    seconds = outcome.seconds | {"mlflow": time.perf_counter() - t0}
    t0 = time.perf_counter()
    returns = return_model.train_or_reuse(
        tracking, rows, features, train_settings, ctx, data_hash, config_hash, rules, fitted=fit.returns if fit else None
    )
    seconds["return_model"] = time.perf_counter() - t0
    row |= _metrics_row(outcome, seconds) | {
        "mlflow_run_id": logged.run_id,
        "mlflow_experiment_id": logged.experiment_id,
        "model_name": tracking.registered_model_name,
        "model_version": logged.version,
        "promoted": decision.promote,
        "champion_alias_moved": moved,
        "decision_reasons": decision.reasons_text(),
        "n_sessions": len(outcome.sessions),
        "n_trees": outcome.n_trees,
        "training_data_sha256": outcome.data_sha256,
    } | returns.row_values()
    detail = {
        "outcome": outcome,
        "decision": decision,
        "logged": logged,
        "comparison": comparison,
        "seconds": seconds,
        "returns": returns,
        "fitted_by": fitted_by,
    }
    return row, detail


def _champion_booster(tracking: MlflowTracking, version: int, loaded: "dict[int, xgb.Booster]") -> "xgb.Booster":
    """The champion's booster, loaded once per run (``loaded``: this run's cache)."""
    if version not in loaded:
        import mlflow.xgboost

        tracking.activate()
        loaded[version] = mlflow.xgboost.load_model(tracking.model_uri(version))
    return loaded[version]


def _reused_row(row: dict, version, client, tracking: MlflowTracking) -> dict:
    reason = (
        f"reused v{version.version}: it was trained on exactly this window's data (training_data_sha256 "
        f"{version.tags.get('finsig.training_data_sha256', '')[:12]}...) with this configuration; no new version, "
        "aliases untouched"
    )
    return row | reused_row_values(client, version, tracking.registered_model_name) | {"reason": reason}


def _one_line(row: dict) -> str:
    if row["status"] != STATUS_TRAINED or row["reason"]:
        return f"{row['status']}: {row['reason']}"
    return (
        f"v{row['model_version']} on {row['n_sessions']} sessions / {row['n_train_rows']:,} rows, {row['n_trees']} trees; "
        f"AUC {fmt(row['model_auc'])} vs market-only {fmt(row['market_only_auc'])} "
        f"(news {fmt(row['value_of_news_auc'])}); {'champion' if row['promoted'] else 'challenger only'}; "
        f"seconds {json.loads(row['metrics_json'])['seconds']}"
    )


def _float_or_na(value: float | None) -> dg.MetadataValue:
    v = finite_or_none(value)
    return dg.MetadataValue.text("n/a") if v is None else dg.MetadataValue.float(v)


def _run_metadata(runs: pl.DataFrame, label: str, tracking: MlflowTracking, client) -> dict:
    """What is true of the whole run (every partition's event carries it, under ``run_``)."""
    trained = runs.filter(pl.col("status") == STATUS_TRAINED)
    holder = alias_holder(client, tracking.registered_model_name, CHAMPION)
    per_partition = ["| partition | status | version | decision | AUC | market-only AUC | value of news | reason |", "|---|---|---|---|---|---|---|---|"]
    for r in runs.iter_rows(named=True):
        decision = "" if r["promoted"] is None else ("champion" if r["promoted"] else "challenger only")
        per_partition.append(
            f"| {r['trade_date']} | {r['status']} | {r['model_version'] or ''} | {decision} | {fmt(r['model_auc'])} | "
            f"{fmt(r['market_only_auc'])} | {fmt(r['value_of_news_auc'])} | {(r['reason'] or '')[:160]} |"
        )
    return {
        "run_partition_range": dg.MetadataValue.text(label),
        "run_partitions": dg.MetadataValue.int(runs.height),
        "run_trained": dg.MetadataValue.int(trained.height),
        "run_insufficient_history": dg.MetadataValue.int(runs.filter(pl.col("status") == STATUS_INSUFFICIENT).height),
        "run_no_data": dg.MetadataValue.int(runs.filter(pl.col("status") == STATUS_NO_DATA).height),
        "run_promoted": dg.MetadataValue.int(int(trained["promoted"].sum()) if trained.height else 0),
        "run_champion_now": dg.MetadataValue.text(
            f"v{holder.version} (trained through {holder.trained_through})" if holder else "none"
        ),
        "run_partitions_table": dg.MetadataValue.md("\n".join(per_partition)),
    }


def _partition_metadata(row: dict, detail: dict | None, tracking: MlflowTracking) -> dict:
    """One partition's own numbers: its status, and for a trained model its version, scores and links."""
    meta: dict = {
        "dagster/row_count": dg.MetadataValue.int(1),
        "partition_range": dg.MetadataValue.text(row["trade_date"].isoformat()),
        "status": dg.MetadataValue.text(row["status"]),
        "window": dg.MetadataValue.text(window_label(row)),
        "n_sessions": dg.MetadataValue.int(int(row["n_sessions"] or 0)),
        "n_train_rows": dg.MetadataValue.int(int(row["n_train_rows"] or 0)),
    }
    if row.get("n_features") is not None:
        # The model's columns: the table's features less the configured exclude_features.
        meta["n_features"] = dg.MetadataValue.int(int(row["n_features"]))
        meta["n_news_features"] = dg.MetadataValue.int(int(row["n_news_features"] or 0))
    if detail is None:
        meta["outcome"] = dg.MetadataValue.md(f"**No model trained** for {row['trade_date']}: {row['reason']}")
        return meta
    if "reused" in detail:
        return meta | _reused_metadata(row, detail["reused"], tracking) | _return_metadata(detail["returns"], tracking)
    outcome, decision, logged = detail["outcome"], detail["decision"], detail["logged"]
    comparison = detail["comparison"]
    meta |= {
        "model_version": dg.MetadataValue.int(logged.version),
        "mlflow_run": dg.MetadataValue.url(tracking.run_link(logged.experiment_id, logged.run_id)),
        "mlflow_run_id": dg.MetadataValue.text(logged.run_id),
        "mlflow_tracking_uri": dg.MetadataValue.text(tracking.tracking_uri),
        "mlflow_experiment_id": dg.MetadataValue.text(logged.experiment_id),
        "mlflow_model_version": dg.MetadataValue.url(tracking.version_link(logged.version)),
        "model_uri": dg.MetadataValue.text(tracking.model_uri(logged.version)),
        "decision": dg.MetadataValue.text(decision.label),
        "reused_version": dg.MetadataValue.bool(False),
        "fitted_by": dg.MetadataValue.text(detail["fitted_by"]),
        "value_of_news_auc": _float_or_na(outcome.value_of_news_auc),
        "news_test_statistic": _float_or_na(outcome.news_test.statistic),
        "news_test_p_value": _float_or_na(outcome.news_test.p_value),
        "news_test": dg.MetadataValue.text(f"{outcome.news_test.method}: {outcome.news_test.describe()}"),
        "model_auc": _float_or_na(outcome.scores[baselines.MODEL].auc),
        "market_only_auc": _float_or_na(outcome.scores[baselines.MARKET_ONLY].auc),
        "n_trees": dg.MetadataValue.int(outcome.n_trees),
        "training_data_sha256": dg.MetadataValue.text(outcome.data_sha256),
        "features": dg.MetadataValue.json({"market": [c for c in outcome.features if c not in outcome.news_features], "news": outcome.news_features}),
    }
    champion_line = (
        f"champion before: v{comparison.version} (trained through {comparison.trained_through}), compared on {comparison.basis}"
        if comparison
        else "no champion before this partition"
    )
    folds = "\n".join(
        f"- fold {f.index}: validate {f.validation_sessions[0]}..{f.validation_sessions[-1]} ({f.n_val:,} rows), "
        f"train {f.n_train:,} rows (purged {f.n_purged}, embargoed {f.n_embargoed}); best trees {f.best_trees[baselines.MODEL]}"
        for f in outcome.folds
    )
    meta["model_vs_baselines"] = dg.MetadataValue.md(
        f"### {row['trade_date']}: v{logged.version} -- **{decision.label}**\n\n"
        f"Walk-forward validation rows (out of sample for every column), {len(outcome.sessions)} sessions, "
        f"{outcome.n_rows:,} training rows, {outcome.n_trees} trees.\n\n"
        + metrics_markdown(outcome)
        + f"\n\n**Value of news** (AUC model - market-only): {fmt(outcome.value_of_news_auc)}\n\n"
        + f"**Decision: {decision.label}** ({champion_line})\n\n"
        + "\n".join(f"- {r}" for r in decision.reasons)
        + f"\n\n**Return forecast** (`{tracking.return_model_name}`): {detail['returns'].summary()}"
        + f"\n\n**Fitted by** {detail['fitted_by']}"
        + "\n\n**Folds**\n\n"
        + folds
        + "\n\n"
        + markdown_table({"seconds " + k: f"{v:.2f}" for k, v in detail["seconds"].items()})
    )
    return meta | _return_metadata(detail["returns"], tracking)


def _return_metadata(returns, tracking: MlflowTracking) -> dict:
    """The return regressor trained beside the model: its version, out-of-sample figures and decision."""
    return {
        "return_model_version": dg.MetadataValue.int(returns.version),
        "return_model_uri": dg.MetadataValue.text(tracking.model_uri(returns.version, tracking.return_model_name)),
        "mlflow_return_model_version": dg.MetadataValue.url(tracking.version_link(returns.version, tracking.return_model_name)),
        "return_oos_r2": _float_or_na(returns.r2),
        "return_oos_rank_ic": _float_or_na(returns.rank_ic),
        "return_market_only_oos_r2": _float_or_na(returns.market_only_r2),
        "return_test_p_value": _float_or_na(returns.test_p_value),
        "return_decision": dg.MetadataValue.text(("champion" if returns.promoted else "challenger only") + ("" if not returns.reused else " (reused)")),
        "return_outcome": dg.MetadataValue.text(returns.summary()),
    }


def _reused_metadata(row: dict, version, tracking: MlflowTracking) -> dict:
    """A reused version's metadata: the same numbers it was registered with, and why nothing was trained."""
    decision = "champion" if row["promoted"] else "challenger only"
    meta = {
        "model_version": dg.MetadataValue.int(version.version),
        "reused_version": dg.MetadataValue.bool(True),
        "decision": dg.MetadataValue.text(f"{decision} (decided when v{version.version} was registered)"),
        "model_uri": dg.MetadataValue.text(tracking.model_uri(version.version)),
        "mlflow_model_version": dg.MetadataValue.url(tracking.version_link(version.version)),
        "training_data_sha256": dg.MetadataValue.text(row["training_data_sha256"] or ""),
        "model_auc": _float_or_na(row["model_auc"]),
        "market_only_auc": _float_or_na(row["market_only_auc"]),
        "value_of_news_auc": _float_or_na(row["value_of_news_auc"]),
        "news_test_statistic": _float_or_na(row["news_test_statistic"]),
        "news_test_p_value": _float_or_na(row["news_test_p_value"]),
        "outcome": dg.MetadataValue.md(f"**Reused v{version.version}** for {row['trade_date']}: {row['reason']}"),
    }
    if row["mlflow_run_id"]:
        meta["mlflow_run_id"] = dg.MetadataValue.text(row["mlflow_run_id"])
        if row["mlflow_experiment_id"]:
            meta["mlflow_run"] = dg.MetadataValue.url(tracking.run_link(row["mlflow_experiment_id"], row["mlflow_run_id"]))
    return meta
