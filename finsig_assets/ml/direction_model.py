"""``ml/direction_model``: a direction model per trading day, registered in MLflow.

Partition D trains on the trailing ``window_sessions`` sessions ending at D (D included) of
``gold.training_examples`` -- labelled rows only, regular-hours rows unless ``rth_only`` is
off, and only rows whose label horizon ends by 17:00 New York on D, so nothing from after D
enters. The model is meant for the sessions after D (``ml/predictions`` uses it from D + 1).

Per partition (see :mod:`finsig_assets.ml.direction_training` for the procedure):

- fewer than ``min_sessions`` sessions with labelled rows (or fewer than ``min_labelled_rows``
  rows, or one class only) -> status ``insufficient history``: a row in ``ml.model_runs`` and
  the metadata say so, no MLflow run, and the rest of a backfill carries on;
- a window that mixes sentiment models (``sentiment_model`` of ``gold.training_examples``) ->
  status ``refused: mixed sentiment models``, recorded the same way; the run then fails with
  an error naming the models, their row counts and sessions (after the other partitions of the
  range were trained and recorded), because a model must not learn from two incompatible
  sentiment scales;
- otherwise: walk-forward folds, baselines, final fit, one MLflow run with the registered model
  version (:mod:`finsig_assets.ml.mlflow_logging`), the promotion decision and aliases
  (:mod:`finsig_assets.ml.promotion`), a row in ``ml.model_runs``.

Backfill policy: ``BackfillPolicy.single_run()`` like every finsig asset. A range run reads the
examples once (short connection) and then trains **one model per partition, oldest first**,
logging progress; chronological order matters because each promotion decision compares with
the champion as of the previous session. Multi-run backfills would train partitions in
parallel and out of order, which would make those decisions depend on scheduling. Training
holds no DuckDB connection (and no ``duckdb_writer`` pool slot); each partition's
``ml.model_runs`` row is written in its own short transaction as soon as it is known.

The partition mapping reads ``gold/training_examples`` over the default 60-session window
(``TimeWindowPartitionMapping(start_offset=-59)``); the mapping is static, so with a different
``window_sessions`` the lineage shows 60 sessions while the asset reads the configured number.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import json
import time

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.materialization_metadata import markdown_table, standard_metadata
from finsig_assets.ml import baselines
from finsig_assets.ml.champion_history import CHAMPION, alias_holder, champion_as_of, list_versions
from finsig_assets.ml.direction_training import TrainingDataError, TrainingOutcome, TrainingSettings, train_direction_model
from finsig_assets.ml.evaluation_metrics import METRIC_NAMES, finite_or_none, fmt
from finsig_assets.ml.mlflow_logging import RunContext, log_training_run
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.oos_record import champion_recent_predictions
from finsig_assets.ml.promotion import PromotionRules, compare_with_champion, decide_promotion, record_decision
from finsig_assets.ml.training_table import (
    HORIZON,
    FeatureSet,
    discover_features,
    read_labelled_examples,
    sentiment_models,
    window_sessions,
)
from finsig_assets.ml.walk_forward import SCHEMES
from finsig_assets.partition_scope import scope_of
from finsig_assets.trading_calendar import cutoff_utc, previous_session
from finsig_assets.warehouse import DuckDBWarehouse

TABLE = "ml.model_runs"
ASSET_KEY = dg.AssetKey(["ml", "direction_model"])
TRAINING_EXAMPLES_KEY = dg.AssetKey(["gold", "training_examples"])
DEFAULT_WINDOW_SESSIONS = 60
STATUS_TRAINED = "trained"
STATUS_INSUFFICIENT = "insufficient history"
STATUS_REFUSED = "refused: mixed sentiment models"

RUNS_SCHEMA = {
    "trade_date": pl.Date,
    "status": pl.String,
    "reason": pl.String,
    "dagster_run_id": pl.String,
    "mlflow_run_id": pl.String,
    "mlflow_experiment_id": pl.String,
    "model_name": pl.String,
    "model_version": pl.Int32,
    "promoted": pl.Boolean,
    "champion_alias_moved": pl.Boolean,
    "decision_reasons": pl.String,
    "window_first": pl.Date,
    "window_last": pl.Date,
    "n_sessions": pl.Int32,
    "n_train_rows": pl.Int64,
    "n_features": pl.Int32,
    "n_news_features": pl.Int32,
    "n_trees": pl.Int32,
    "rth_only": pl.Boolean,
    "sentiment_model": pl.String,
    "training_data_sha256": pl.String,
    "model_auc": pl.Float64,
    "model_log_loss": pl.Float64,
    "model_brier": pl.Float64,
    "model_accuracy": pl.Float64,
    "model_rank_ic": pl.Float64,
    "market_only_auc": pl.Float64,
    "market_only_log_loss": pl.Float64,
    "majority_auc": pl.Float64,
    "majority_log_loss": pl.Float64,
    "majority_accuracy": pl.Float64,
    "sign_ret_30m_auc": pl.Float64,
    "sign_ret_30m_accuracy": pl.Float64,
    "value_of_news_auc": pl.Float64,
    "metrics_json": pl.String,
    "train_seconds": pl.Float64,
    "recorded_at": pl.Datetime("us", "UTC"),
}


class MixedSentimentModelsError(ValueError):
    """A training window holds news scored by more than one sentiment model."""


class DirectionModelConfig(dg.Config):
    window_sessions: int = Field(default=DEFAULT_WINDOW_SESSIONS, description="Sessions in the training window (ending at the partition).")
    min_sessions: int = Field(default=10, description="Fewer sessions with labelled rows -> 'insufficient history'.")
    min_labelled_rows: int = Field(default=200, description="Fewer labelled rows in the window -> 'insufficient history'.")
    rth_only: bool = Field(default=True, description="Train on regular-hours rows only.")
    n_folds: int = Field(default=4, description="Validation folds (blocks of sessions).")
    fold_scheme: str = Field(default="walk_forward", description="'walk_forward' (train before each fold) or 'purged_kfold'.")
    validation_fraction: float = Field(default=0.5, description="Walk-forward: share of the window's sessions used as validation folds.")
    embargo_minutes: float = Field(default=60.0, description="Training rows starting this long after a validation fold's span are dropped.")
    max_trees: int = Field(default=300, description="Upper bound on trees; early stopping on the folds picks the number.")
    early_stopping_rounds: int = Field(default=25)
    learning_rate: float = Field(default=0.1)
    max_depth: int = Field(default=4)
    min_child_weight: float = Field(default=20.0)
    subsample: float = Field(default=0.8)
    colsample_bytree: float = Field(default=0.8)
    max_bin: int = Field(default=128)
    nthread: int = Field(default=2, description="XGBoost threads.")
    seed: int = Field(default=0)
    promotion_margin_auc: float = Field(default=0.01, description="AUC margin over market-only and majority needed for champion.")
    require_log_loss_beats_majority: bool = Field(default=True)
    champion_tolerance_auc: float = Field(
        default=0.005,
        description="How much worse than the champion's recent out-of-sample AUC a challenger may be "
        "(at least 2 standard errors of the difference are always allowed).",
    )
    champion_record_sessions: int = Field(default=20, description="Recent predicted sessions of the champion compared against.")
    min_champion_record_rows: int = Field(default=100, description="A champion record with fewer labelled rows does not block promotion.")

    def training_settings(self) -> TrainingSettings:
        return TrainingSettings(
            n_folds=self.n_folds,
            fold_scheme=self.fold_scheme,
            validation_fraction=self.validation_fraction,
            embargo_minutes=self.embargo_minutes,
            max_trees=self.max_trees,
            early_stopping_rounds=self.early_stopping_rounds,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_child_weight=self.min_child_weight,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            max_bin=self.max_bin,
            nthread=self.nthread,
            seed=self.seed,
        )

    def promotion_rules(self) -> PromotionRules:
        return PromotionRules(
            margin_auc=self.promotion_margin_auc,
            require_log_loss_beats_majority=self.require_log_loss_beats_majority,
            champion_tolerance_auc=self.champion_tolerance_auc,
            champion_record_sessions=self.champion_record_sessions,
            min_record_rows=self.min_champion_record_rows,
        )


def check_single_sentiment_model(rows: pl.DataFrame, first: dt.date, last: dt.date) -> str | None:
    """The one sentiment model of the window (None when no news was scored); raises when mixed.

    A value naming several models ("a + b", gold.news_signals' way of saying a row's news
    window mixes them) counts as all of them.
    """
    used = (
        rows.filter(pl.col("sentiment_model").is_not_null())
        .group_by("sentiment_model")
        .agg(pl.len().alias("rows"), pl.col("trade_date").min().alias("first"), pl.col("trade_date").max().alias("last"))
        .sort("sentiment_model")
    )
    models = sentiment_models(used["sentiment_model"].to_list())
    if len(models) <= 1:
        return next(iter(models)) if models else None
    parts = [f"{r['sentiment_model']!r} ({r['rows']:,} rows, {r['first']}..{r['last']})" for r in used.iter_rows(named=True)]
    raise MixedSentimentModelsError(
        f"refusing to train on {first}..{last}: the window mixes sentiment models {', '.join(parts)}. "
        "Scores of different models are not comparable; re-materialize gold/training_examples "
        "(and the news signals under it) for these sessions with one sentiment model."
    )


def _base_row(day: dt.date, status: str, reason: str | None, context_run_id: str, cfg: DirectionModelConfig) -> dict:
    row = {k: None for k in RUNS_SCHEMA}
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


def _write_run(warehouse: DuckDBWarehouse, row: dict) -> None:
    frame = pl.DataFrame([row], schema=RUNS_SCHEMA)
    with warehouse.transaction() as tx:
        tx.replace(TABLE, frame, row["trade_date"], row["trade_date"])


@trading_day_asset(
    key=ASSET_KEY,
    pool=None,  # training holds no DuckDB connection; short writes retry on the lock
    kinds={"xgboost", "mlflow", "duckdb"},
    deps=[
        dg.AssetDep(
            TRAINING_EXAMPLES_KEY,
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-(DEFAULT_WINDOW_SESSIONS - 1)),
        )
    ],
    description="XGBoost direction model per trading day on the trailing window of gold.training_examples: "
    "walk-forward folds with purging/embargo, baselines (market-only, majority, sign of ret_30m), MLflow run + "
    "registered version, champion/challenger aliases. Writes ml.model_runs.",
)
def direction_model(
    context: dg.AssetExecutionContext,
    config: DirectionModelConfig,
    warehouse: DuckDBWarehouse,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    if config.min_sessions < 2 or config.window_sessions < config.min_sessions:
        raise dg.Failure(f"need 2 <= min_sessions ({config.min_sessions}) <= window_sessions ({config.window_sessions})")
    if config.n_folds < 2 or config.fold_scheme not in SCHEMES:
        # Two folds at least: each fold is scored with the tree count picked on the *other* folds.
        raise dg.Failure(f"need n_folds >= 2 (got {config.n_folds}) and fold_scheme in {SCHEMES} (got {config.fold_scheme!r})")
    scope = scope_of(context)
    started = time.perf_counter()
    features = discover_features(warehouse)
    first_window = window_sessions(scope.first, config.window_sessions)[0]
    examples = read_labelled_examples(warehouse, first_window, scope.last, features, config.rth_only)
    context.log.info(
        f"read {examples.height:,} labelled rows ({len(features.market)} market + {len(features.news)} news features) "
        f"for {first_window}..{scope.last} in {time.perf_counter() - started:.2f}s"
    )
    settings, rules = config.training_settings(), config.promotion_rules()
    client = mlflow.client()
    # Only the last trained partition's outcome is kept for the metadata: a year's backfill
    # must not hold 252 boosters and their fold predictions in memory.
    rows, last, refusals = [], None, []
    sessions = scope.sessions
    for i, day in enumerate(sessions, start=1):
        t0 = time.perf_counter()
        row, detail = _train_partition(context, config, settings, rules, warehouse, mlflow, client, features, examples, day)
        row["train_seconds"] = time.perf_counter() - t0
        _write_run(warehouse, row)
        rows.append(row)
        if detail is not None:
            last = (day, detail)
        if row["status"] == STATUS_REFUSED:
            refusals.append(row["reason"])
        context.log.info(f"[{i}/{len(sessions)}] {day}: {_one_line(row)} ({row['train_seconds']:.1f}s)")

    runs = pl.DataFrame(rows, schema=RUNS_SCHEMA)
    if refusals:
        raise dg.Failure(
            description="ml/direction_model refused to train: " + " | ".join(refusals),
            metadata={"refused_partitions": dg.MetadataValue.int(len(refusals))},
        )
    return dg.MaterializeResult(metadata=_metadata(runs, last, scope.label, mlflow, client))


def _train_partition(context, config, settings, rules, warehouse, tracking, client, features: FeatureSet, examples, day):
    sessions = window_sessions(day, config.window_sessions)
    first = sessions[0]
    rows = examples.filter(
        pl.col("trade_date").is_between(first, day), (pl.col("ts") + HORIZON) <= cutoff_utc(day)
    )
    row = _base_row(day, STATUS_TRAINED, None, context.run.run_id, config)
    n_sessions = rows["trade_date"].n_unique()
    row |= {
        "window_first": first,
        "window_last": day,
        "n_sessions": n_sessions,
        "n_train_rows": rows.height,
        "n_features": len(features.all),
        "n_news_features": len(features.news),
    }
    if n_sessions < config.min_sessions or rows.height < config.min_labelled_rows:
        row |= {
            "status": STATUS_INSUFFICIENT,
            "reason": f"{n_sessions} sessions / {rows.height:,} labelled rows in {first}..{day} "
            f"(window {config.window_sessions}); need min_sessions={config.min_sessions} and "
            f"min_labelled_rows={config.min_labelled_rows}",
        }
        return row, None
    try:
        sentiment_model = check_single_sentiment_model(rows, first, day)
    except MixedSentimentModelsError as exc:
        context.log.error(str(exc))
        return row | {"status": STATUS_REFUSED, "reason": str(exc)}, None
    row["sentiment_model"] = sentiment_model
    try:
        outcome = train_direction_model(rows, features, settings)
    except TrainingDataError as exc:
        return row | {"status": STATUS_INSUFFICIENT, "reason": f"{first}..{day}: {exc}"}, None

    versions = list_versions(client, tracking.registered_model_name)
    champion = champion_as_of(versions, previous_session(day))
    comparison = None
    if champion is not None:
        preds = champion_recent_predictions(warehouse, tracking.registered_model_name, champion.version, day, rules.champion_record_sessions)
        comparison = compare_with_champion(champion, preds, outcome.oos, outcome.scores[baselines.MODEL].auc, rules)
    decision = decide_promotion(outcome.scores, rules, comparison)
    ctx = RunContext(
        partition=day,
        window_first=first,
        window_last=day,
        window_sessions=config.window_sessions,
        min_sessions=config.min_sessions,
        rth_only=config.rth_only,
        sentiment_model=sentiment_model,
        dagster_run_id=context.run.run_id,
        asset_key=ASSET_KEY.to_user_string(),
    )
    t0 = time.perf_counter()
    logged = log_training_run(tracking, outcome, ctx, settings, rules, decision)
    moved = record_decision(client, tracking.registered_model_name, logged.version, day, decision)
    seconds = outcome.seconds | {"mlflow": time.perf_counter() - t0}
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
    }
    detail = {"outcome": outcome, "decision": decision, "logged": logged, "comparison": comparison, "seconds": seconds}
    return row, detail


def _one_line(row: dict) -> str:
    if row["status"] != STATUS_TRAINED:
        return f"{row['status']}: {row['reason']}"
    return (
        f"v{row['model_version']} on {row['n_sessions']} sessions / {row['n_train_rows']:,} rows, {row['n_trees']} trees; "
        f"AUC {fmt(row['model_auc'])} vs market-only {fmt(row['market_only_auc'])} "
        f"(news {fmt(row['value_of_news_auc'])}); {'champion' if row['promoted'] else 'challenger only'}; "
        f"seconds {json.loads(row['metrics_json'])['seconds']}"
    )


def _float_or_na(value: float) -> dg.MetadataValue:
    v = finite_or_none(value)
    return dg.MetadataValue.text("n/a") if v is None else dg.MetadataValue.float(v)


def _metadata(runs: pl.DataFrame, last: tuple | None, label: str, tracking: MlflowTracking, client) -> dict:
    trained = runs.filter(pl.col("status") == STATUS_TRAINED)
    holder = alias_holder(client, tracking.registered_model_name, CHAMPION)
    summary = {
        "partitions": runs.height,
        "trained": trained.height,
        "insufficient_history": runs.filter(pl.col("status") == STATUS_INSUFFICIENT).height,
        "promoted": int(trained["promoted"].sum()) if trained.height else 0,
        "champion_now": f"v{holder.version} (trained through {holder.trained_through})" if holder else "none",
    }
    meta = standard_metadata(runs.drop("metrics_json", "decision_reasons"), label, summary, preview_rows=0)
    per_partition = ["| partition | status | version | decision | AUC | market-only AUC | value of news | reason |", "|---|---|---|---|---|---|---|---|"]
    for r in runs.iter_rows(named=True):
        decision = "" if r["promoted"] is None else ("champion" if r["promoted"] else "challenger only")
        per_partition.append(
            f"| {r['trade_date']} | {r['status']} | {r['model_version'] or ''} | {decision} | {fmt(r['model_auc'])} | "
            f"{fmt(r['market_only_auc'])} | {fmt(r['value_of_news_auc'])} | {(r['reason'] or '')[:160]} |"
        )
    meta["partitions_table"] = dg.MetadataValue.md("\n".join(per_partition))
    status_line = ", ".join(f"{r['trade_date']}: {r['status']}" for r in runs.iter_rows(named=True))
    meta["status"] = dg.MetadataValue.text(status_line if runs.height > 1 else runs["status"][0])
    if last is None:
        reasons = [r["reason"] for r in runs.iter_rows(named=True) if r["reason"]]
        meta["outcome"] = dg.MetadataValue.md("**No model trained.**\n\n" + "\n".join(f"- {x}" for x in reasons))
        return meta
    last_day, detail = last
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
        "value_of_news_auc": _float_or_na(outcome.value_of_news_auc),
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
        f"### {last_day}: v{logged.version} -- **{decision.label}**\n\n"
        f"Walk-forward validation rows (out of sample for every column), {len(outcome.sessions)} sessions, "
        f"{outcome.n_rows:,} training rows, {outcome.n_trees} trees.\n\n"
        + metrics_markdown(outcome)
        + f"\n\n**Value of news** (AUC model - market-only): {fmt(outcome.value_of_news_auc)}\n\n"
        + f"**Decision: {decision.label}** ({champion_line})\n\n"
        + "\n".join(f"- {r}" for r in decision.reasons)
        + "\n\n**Folds**\n\n"
        + folds
        + "\n\n"
        + markdown_table({"seconds " + k: f"{v:.2f}" for k, v in detail["seconds"].items()})
    )
    return meta
