"""``ml/predictions``: every bar of session D scored by the champion as of the end of D - 1.

For each session D of the run (oldest first):

1. The champion is taken *as of the end of the previous session* P from the registry's
   history (:func:`finsig_assets.ml.champion_history.champion_as_of`): the promoted version
   with the latest ``trained_through <= P``. Its training window ended by P, so every
   prediction for D is out of sample -- also in a backfill or a re-run, when the live
   ``champion`` alias may already point at a model trained on D or later. ``ml.predictions``
   records the version, its ``trained_through`` and ``champion_as_of`` = P.
2. No such version: outcome ``no champion`` (metadata says so, no rows, nothing fails).
3. Every row of D in ``gold.training_examples`` (regular hours unless ``rth_only`` is off) is
   scored; D's labels (``fwd_return_30m``, ``label_up``) are copied next to ``p_up`` -- NULL
   until they exist.
4. The 30-minute log-return forecast (``fwd_return_30m_forecast``) comes from the return
   regressor's own champion as of the same session (registered model ``finsig-return``,
   :mod:`finsig_assets.ml.return_model`); NULL while no return regressor has been promoted.
   Its session's out-of-sample R² (against the zero forecast) and rank IC are metadata.
5. Once labels exist, D's out-of-sample AUC, log loss, Brier, accuracy and rank IC go to
   ``ml.oos_record`` and to the version's MLflow training run as ``oos_*`` metrics with
   step = YYYYMMDD of D (a re-run logs the same step again; the table keeps the latest).

A window whose rows were scored by another sentiment model than the champion's training data
is refused for that session (outcome ``refused: sentiment model ...``, no rows): the champion
would read numbers on a scale it never saw.

Writes: ``ml.predictions`` and ``ml.oos_record`` for the run's sessions in one transaction
(after all scoring), then the MLflow metrics. The metadata carries the per-session outcomes and
the running out-of-sample record of every version up to the last session of the run.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import tempfile
import time
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from finsig_assets.materialization_metadata import materialize_result, partition_metadata
from finsig_assets.ml import champion_skill
from finsig_assets.ml.champion_history import CHAMPION, MARKET_ONLY_ARTIFACT, alias_holder, champion_as_of, list_versions
from finsig_assets.ml.direction_model import ASSET_KEY as DIRECTION_MODEL_KEY
from finsig_assets.ml.direction_model import TRAINING_EXAMPLES_KEY
from finsig_assets.ml.evaluation_metrics import fmt
from finsig_assets.ml.mlflow_logging import log_oos_metrics
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.oos_record import PREDICTIONS_TABLE, RECORD_TABLE, running_record, session_return_scores, session_scores
from finsig_assets.ml.training_table import LABEL_COLUMN, RETURN_COLUMN, discover_features, read_session_rows, sentiment_models
from finsig_assets.partition_scope import scope_of
from finsig_assets.trading_calendar import previous_session
from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.warehouse import Warehouse, polars_schema

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    import xgboost as xgb


ASSET_KEY = dg.AssetKey(["ml", "predictions"])
OUTCOME_PREDICTED = "predicted"
OUTCOME_NO_CHAMPION = "no champion"
OUTCOME_NO_ROWS = "no rows"

PREDICTION_SCHEMA = polars_schema("ml.predictions")  # from the DDL (the contract)
RECORD_SCHEMA = polars_schema("ml.oos_record")


class PredictionsConfig(dg.Config):
    rth_only: bool = Field(default=True, description="Score regular-hours rows only (as the default training).")
    skill_sessions: int = Field(
        default=20, description="The champion_skill check judges the served record over this many recent labelled sessions."
    )


@trading_day_asset(
    key=ASSET_KEY,
    kinds={"xgboost", "mlflow", "duckdb"},
    deps=[
        dg.AssetDep(TRAINING_EXAMPLES_KEY),
        # Model partition D is the model for session D (trained through D - 1); the champion as of
        # the end of D - 1 comes from the models up to it.
        dg.AssetDep(DIRECTION_MODEL_KEY),
    ],
    check_specs=[champion_skill.check_spec()],
    description="P(up in 30 min) for every bar of session D from the champion as of the end of D-1 (always out of "
    "sample), with its market-only and majority baselines; writes ml.predictions and the out-of-sample record "
    "ml.oos_record, logs oos_* metrics to MLflow.",
)
def predictions(
    context: dg.AssetExecutionContext,
    config: PredictionsConfig,
    warehouse: Warehouse,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    import xgboost as xgb

    scope = scope_of(context)
    started = time.perf_counter()
    client = mlflow.client()
    name = mlflow.registered_model_name
    versions = list_versions(client, name)
    return_versions = list_versions(client, mlflow.return_model_name)
    return_boosters: dict[int, xgb.Booster] = {}
    available = set(discover_features(warehouse).all)
    boosters: dict[int, xgb.Booster] = {}
    market_boosters: dict[int, xgb.Booster | None] = {}
    without_champion: list[dt.date] = []
    frames, records, outcomes, to_log = [], [], [], []
    for day in scope.sessions:
        as_of = previous_session(day)
        champ = champion_as_of(versions, as_of)
        if champ is None:
            outcomes.append(_outcome(day, as_of, None, OUTCOME_NO_CHAMPION, f"no version of {name} was promoted with trained_through <= {as_of}"))
            without_champion.append(day)
            continue
        assert champ.trained_through is not None and champ.trained_through < day  # out of sample by construction
        if champ.version not in boosters:
            boosters[champ.version] = mlflow_load(mlflow, champ.version)
            market_boosters[champ.version] = load_market_only(client, champ.run_id)
        booster = boosters[champ.version]
        market_booster = market_boosters[champ.version]
        names = list(booster.feature_names or [])
        missing = sorted(set(names) - available)
        if missing:
            raise dg.Failure(f"champion v{champ.version} needs columns missing from gold.training_examples: {missing}")
        market_names = list(market_booster.feature_names or []) if market_booster is not None else []
        # The return regressor: its own champion as of the same session (None: no forecast).
        ret_champ = champion_as_of(return_versions, as_of)
        if ret_champ is not None and ret_champ.version not in return_boosters:
            return_boosters[ret_champ.version] = mlflow_load(mlflow, ret_champ.version, mlflow.return_model_name)
        return_names = list(return_boosters[ret_champ.version].feature_names or []) if ret_champ is not None else []
        if ret_champ is not None and set(return_names) - available:
            raise dg.Failure(
                f"return champion v{ret_champ.version} needs columns missing from gold.training_examples: "
                f"{sorted(set(return_names) - available)}"
            )
        rows = read_session_rows(warehouse, day, sorted(set(names) | set(market_names) | set(return_names)), config.rth_only)
        if rows.is_empty():
            outcomes.append(
                _outcome(day, as_of, champ, OUTCOME_NO_ROWS, "no rows of gold.training_examples for this session", None, ret_champ)
            )
            continue
        used = sorted(sentiment_models(rows["sentiment_model"].unique().to_list()))
        trained_on = champ.sentiment_model
        if used and (len(used) > 1 or (trained_on and used[0] != trained_on)):
            reason = f"refused: sentiment model {used} in the session, champion v{champ.version} was trained on {trained_on!r}"
            context.log.warning(f"{day}: {reason}")
            outcomes.append(_outcome(day, as_of, champ, reason, reason, None, ret_champ))
            continue
        x = rows.select(pl.col(names).cast(pl.Float64).fill_nan(None)).to_numpy().astype(np.float32)
        p_up = booster.predict(xgb.DMatrix(x, feature_names=names)).astype(np.float64)
        p_market = _predict(market_booster, rows, market_names) if market_booster is not None else np.full(rows.height, np.nan)
        now = dt.datetime.now(dt.timezone.utc)
        pred = rows.select(
            "instrument",
            "ts",
            "trade_date",
            pl.lit(name).alias("model_name"),
            pl.lit(champ.version, dtype=pl.Int32).alias("model_version"),
            pl.lit(champ.trained_through, dtype=pl.Date).alias("trained_through"),
            pl.lit(as_of, dtype=pl.Date).alias("champion_as_of"),
            pl.Series("p_up", p_up),
            pl.col(RETURN_COLUMN).cast(pl.Float64),
            pl.col(LABEL_COLUMN),
            pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("predicted_at"),
            pl.Series("p_up_market_only", p_market).fill_nan(None),
            pl.lit(champ.train_up_rate, dtype=pl.Float64).alias("p_up_majority"),
            pl.lit(ret_champ.version if ret_champ else None, dtype=pl.Int32).alias("return_model_version"),
            pl.Series(
                "fwd_return_30m_forecast",
                _predict(return_boosters[ret_champ.version], rows, return_names) if ret_champ else np.full(rows.height, np.nan),
            ).fill_nan(None),
        )
        frames.append(pred)
        scores = session_scores(pred)
        records.append(
            {
                "trade_date": day,
                "model_name": name,
                "model_version": champ.version,
                "trained_through": champ.trained_through,
                "mlflow_run_id": champ.run_id,
                **{k: scores[k] for k in ("n_rows", "n_labelled", "up_rate", "auc", "log_loss", "brier", "accuracy", "rank_ic")},
                "recorded_at": now,
            }
        )
        if scores["n_labelled"] and champ.run_id:
            to_log.append((champ.run_id, day, scores))
        outcomes.append(_outcome(day, as_of, champ, OUTCOME_PREDICTED, "", scores | session_return_scores(pred), ret_champ))
        context.log.info(
            f"{day}: v{champ.version} (trained through {champ.trained_through}) scored {pred.height:,} rows; "
            f"{scores['n_labelled']:,} labelled, OOS AUC {fmt(scores['auc'])}"
        )

    if without_champion:
        context.log.info(
            f"ml/predictions: no champion for {len(without_champion)} of {len(scope.sessions)} session(s) "
            f"({without_champion[0]}..{without_champion[-1]}): no model trained before them was promoted, so nothing "
            "is predicted there"
        )
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=PREDICTION_SCHEMA)
    record = pl.DataFrame(records, schema=RECORD_SCHEMA)
    with warehouse.transaction() as tx:
        tx.replace(PREDICTIONS_TABLE, frame.select(list(PREDICTION_SCHEMA)), scope.first, scope.last)
        tx.replace(RECORD_TABLE, record, scope.first, scope.last)
    for run_id, day, scores in to_log:
        log_oos_metrics(mlflow, run_id, day, scores)
    context.log.info(f"wrote {frame.height:,} predictions for {scope.label} in {time.perf_counter() - started:.2f}s")
    skill = champion_skill.champion_skill_result(warehouse, scope.last, config.skill_sessions)
    context.log.info(f"champion_skill: {skill.description}")
    return materialize_result(
        context, scope.sessions, _metadata(context, frame, outcomes, scope, warehouse, mlflow, client), [skill]
    )


def mlflow_load(tracking: MlflowTracking, version: int, model_name: str | None = None) -> "xgb.Booster":
    import mlflow.xgboost

    tracking.activate()
    return mlflow.xgboost.load_model(tracking.model_uri(version, model_name))


def load_market_only(client, run_id: str | None) -> "xgb.Booster | None":
    """The market-only baseline fit next to a version (None for versions trained before it was kept)."""
    import xgboost as xgb
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, MARKET_ONLY_ARTIFACT, tmp)
            booster = xgb.Booster()
            booster.load_model(path)
            return booster
    except (MlflowException, OSError):
        return None


def _predict(booster: "xgb.Booster", rows: pl.DataFrame, names: list[str]) -> np.ndarray:
    import xgboost as xgb

    x = rows.select(pl.col(names).cast(pl.Float64).fill_nan(None)).to_numpy().astype(np.float32)
    return booster.predict(xgb.DMatrix(x, feature_names=names)).astype(np.float64)


def _outcome(day, as_of, champ, outcome: str, detail: str, scores: dict | None = None, return_champ=None) -> dict:
    scores = scores or {}
    return {
        "return_version": return_champ.version if return_champ else None,
        "return_r2": scores.get("return_r2"),
        "return_rank_ic": scores.get("return_rank_ic"),
        "session": day,
        "champion_as_of": as_of,
        "model_version": champ.version if champ else None,
        "trained_through": champ.trained_through if champ else None,
        "outcome": outcome,
        "detail": detail,
        "rows": scores.get("n_rows", 0),
        "labelled": scores.get("n_labelled", 0),
        "auc": scores.get("auc"),
        "log_loss": scores.get("log_loss"),
        "accuracy": scores.get("accuracy"),
    }


def _metadata(context, frame, outcomes, scope, warehouse, tracking, client) -> dict:
    """Each session's outcome on its own partition; the run's table and the running record under ``run_``."""
    holder = alias_holder(client, tracking.registered_model_name, CHAMPION)
    per_partition = {}
    for o in outcomes:
        own = {
            "outcome": o["outcome"] if not o["detail"] else f"{o['outcome']}: {o['detail']}",
            "champion_as_of": o["champion_as_of"].isoformat(),
            "model_version": f"v{o['model_version']}" if o["model_version"] else "none",
            "trained_through": o["trained_through"].isoformat() if o["trained_through"] else "-",
            "labelled_rows": o["labelled"],
            "oos_auc": fmt(o["auc"]),
            "oos_log_loss": fmt(o["log_loss"]),
            "oos_accuracy": fmt(o["accuracy"]),
            "return_forecast_version": f"v{o['return_version']}" if o["return_version"] else "none (no return champion)",
            "oos_return_r2": fmt(o["return_r2"]),
            "oos_return_rank_ic": fmt(o["return_rank_ic"]),
        }
        if o["model_version"]:
            own["mlflow_model_version"] = dg.MetadataValue.url(tracking.version_link(o["model_version"]))
        per_partition[o["session"]] = own
    run_summary = {
        "sessions": len(outcomes),
        "sessions_predicted": sum(o["outcome"] == OUTCOME_PREDICTED for o in outcomes),
        "sessions_without_champion": sum(o["outcome"] == OUTCOME_NO_CHAMPION for o in outcomes),
        "versions_used": ", ".join(
            f"v{v}" for v in sorted({o["model_version"] for o in outcomes if o["outcome"] == OUTCOME_PREDICTED})
        ) or "none",
        "champion_alias_now": f"v{holder.version} (trained through {holder.trained_through})" if holder else "none",
    }
    meta = partition_metadata(context, frame, scope.sessions, scope.label, run_summary, per_partition)
    lines = [
        "| session | champion as of | version | trained through | outcome | rows | labelled | OOS AUC | OOS log loss | OOS accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o['session']} | {o['champion_as_of']} | {'v' + str(o['model_version']) if o['model_version'] else '-'} | "
            f"{o['trained_through'] or '-'} | {o['outcome']} | {o['rows']:,} | {o['labelled']:,} | {fmt(o['auc'])} | "
            f"{fmt(o['log_loss'])} | {fmt(o['accuracy'])} |"
        )
    meta["run_sessions_table"] = dg.MetadataValue.md("\n".join(lines))
    record = running_record(warehouse, scope.last)
    if record.is_empty():
        meta["run_oos_record"] = dg.MetadataValue.md("No out-of-sample record yet: no labelled predictions up to " + str(scope.last))
    else:
        rec = [
            "| version | trained through | sessions | labelled rows | pooled AUC | mean daily AUC | pooled log loss | pooled accuracy | pooled rank IC | sessions |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in record.iter_rows(named=True):
            rec.append(
                f"| v{r['model_version']} | {r['trained_through'] or '-'} | {r['sessions_predicted']} | {r['labelled_rows'] or 0:,} | "
                f"{fmt(r['pooled_auc'])} | {fmt(r['mean_daily_auc'])} | {fmt(r['pooled_log_loss'])} | "
                f"{fmt(r['pooled_accuracy'])} | {fmt(r['pooled_rank_ic'])} | {r['first_session']}..{r['last_session']} |"
            )
        meta["run_oos_record"] = dg.MetadataValue.md(
            f"Running out-of-sample record per version up to {scope.last} (from ml.predictions / ml.oos_record):\n\n" + "\n".join(rec)
        )
    return meta
