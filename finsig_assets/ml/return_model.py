"""The return regressor of a partition: reuse or train, register as ``finsig-return``, judge, alias.

Called by ``ml/direction_model`` for every partition it trains, on the very same window rows,
so both models share the window, the folds and the data hash (see
:mod:`finsig_assets.ml.return_training` for the procedure).

Champion rule, the direction model's adapted to a regression (all on the validation rows):

1. **news reduces the error**: the paired squared-error test against the market-only regressor
   (:mod:`finsig_assets.ml.loss_differential`) rejects "news adds nothing" at the same
   ``level``, over as many validation sessions (``min_test_sessions``), as the direction
   model's AUC test;
2. its out-of-sample R² against the zero forecast is above 0 (it beats predicting no move);
3. its rank IC is above 0.

A challenger is not compared with the current champion's live record here (unlike the
direction model); the aliases move like the direction model's -- ``challenger`` to every new
version, ``champion`` to a promoted one unless the alias holds a version trained through a
later session. Identical training data and configuration reuse the registered version
(:mod:`finsig_assets.ml.version_reuse`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from finsig_assets.ml.champion_history import (
    TAG_DAGSTER_RUN,
    TAG_PROMOTED,
    TAG_RTH_ONLY,
    TAG_SENTIMENT_MODEL,
    TAG_TRAINED_THROUGH,
    list_versions,
)
from finsig_assets.ml.direction_training import TrainingSettings
from finsig_assets.ml.evaluation_metrics import finite_or_none, fmt
from finsig_assets.ml.mlflow_logging import RunContext, log_market_only, register_booster
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.promotion import PromotionDecision, PromotionRules, record_decision
from finsig_assets.ml.return_training import MARKET_ONLY, MODEL, ZERO, ReturnOutcome, train_return_model
from finsig_assets.ml.training_table import FeatureSet
from finsig_assets.ml.version_reuse import TAG_CONFIG_SHA256, TAG_DATA_SHA256, registered_with

if TYPE_CHECKING:  # loaded by the steps that use them, not with the definitions
    pass


TAG_RETURN_TEST_STATISTIC = "finsig.return_test_statistic"
TAG_RETURN_TEST_P_VALUE = "finsig.return_test_p_value"
TAG_RETURN_R2 = "finsig.oos_r2"
TAG_RETURN_RANK_IC = "finsig.oos_rank_ic"
TAG_MARKET_ONLY_R2 = "finsig.market_only_oos_r2"
TAG_MARKET_ONLY_RANK_IC = "finsig.market_only_oos_rank_ic"


@dataclass(frozen=True)
class ReturnModelResult:
    version: int
    run_id: str | None
    reused: bool
    promoted: bool
    alias_moved: bool
    r2: float | None
    rank_ic: float | None
    market_only_r2: float | None
    market_only_rank_ic: float | None
    test_statistic: float | None
    test_p_value: float | None
    reasons: str

    def row_values(self) -> dict:
        return {
            "return_model_version": self.version,
            "return_promoted": self.promoted,
            "return_r2": self.r2,
            "return_rank_ic": self.rank_ic,
            "return_market_only_r2": self.market_only_r2,
            "return_market_only_rank_ic": self.market_only_rank_ic,
            "return_test_p_value": self.test_p_value,
        }

    def summary(self) -> str:
        decision = "champion" if self.promoted else "challenger only"
        how = "reused" if self.reused else "trained"
        return (
            f"v{self.version} ({how}): out-of-sample R² {fmt(self.r2)} vs market-only {fmt(self.market_only_r2)} "
            f"(zero forecast: 0), rank IC {fmt(self.rank_ic)} vs {fmt(self.market_only_rank_ic)}, "
            f"squared-error test p = {fmt(self.test_p_value)}; {decision}"
        )


def decide(outcome: ReturnOutcome, rules: PromotionRules) -> PromotionDecision:
    d = PromotionDecision(promote=False)
    model, market = outcome.scores[MODEL], outcome.scores[MARKET_ONLY]

    def check(name: str, ok: bool, text: str) -> None:
        d.checks[name] = bool(ok)
        d.reasons.append(f"{'pass' if ok else 'FAIL'}: {text}")

    t = outcome.test
    check(
        "news_reduces_error_vs_market_only",
        t.defined and t.n_clusters >= rules.min_test_sessions and t.p_value <= rules.level,
        f"news vs market-only regressor, paired test on the validation rows: {t.describe()}; needs p <= {rules.level:g} "
        f"over at least {rules.min_test_sessions} validation sessions",
    )
    check("r2_beats_zero_forecast", math.isfinite(model.r2) and model.r2 > 0, f"out-of-sample R² {fmt(model.r2)} vs zero forecast 0")
    check("rank_ic_positive", math.isfinite(model.rank_ic) and model.rank_ic > 0, f"rank IC {fmt(model.rank_ic)} (market-only {fmt(market.rank_ic)})")
    d.promote = all(d.checks.values())
    return d


def _num(value: float | None) -> str:
    return f"{value:.6g}" if value is not None and math.isfinite(value) else "nan"


def _tag_float(tags: dict[str, str], name: str) -> float | None:
    try:
        return finite_or_none(float(tags[name]))
    except (KeyError, ValueError):
        return None


def train_or_reuse(
    tracking: MlflowTracking,
    rows: pl.DataFrame,
    features: FeatureSet,
    settings: TrainingSettings,
    ctx: RunContext,
    data_hash: str,
    config_hash: str,
    rules: PromotionRules,
    fitted: ReturnOutcome | None = None,
) -> ReturnModelResult:
    """``fitted``: the fit of exactly these rows and settings made by ``ml/model_fits``, registered
    instead of fitting again."""
    client = tracking.client()
    name = tracking.return_model_name
    same = registered_with(list_versions(client, name), data_hash, config_hash)
    if same is not None:
        tags = same.tags
        return ReturnModelResult(
            version=same.version,
            run_id=same.run_id,
            reused=True,
            promoted=tags.get(TAG_PROMOTED) == "true",
            alias_moved=False,
            r2=_tag_float(tags, TAG_RETURN_R2),
            rank_ic=_tag_float(tags, TAG_RETURN_RANK_IC),
            market_only_r2=_tag_float(tags, TAG_MARKET_ONLY_R2),
            market_only_rank_ic=_tag_float(tags, TAG_MARKET_ONLY_RANK_IC),
            test_statistic=_tag_float(tags, TAG_RETURN_TEST_STATISTIC),
            test_p_value=_tag_float(tags, TAG_RETURN_TEST_P_VALUE),
            reasons=f"reused v{same.version}: same training data and configuration",
        )
    outcome = fitted if fitted is not None else train_return_model(rows, features, settings)
    decision = decide(outcome, rules)
    run_id, version = _log(tracking, outcome, ctx, settings, decision, data_hash, config_hash)
    moved = record_decision(client, name, version, ctx.window_last, decision)
    model, market = outcome.scores[MODEL], outcome.scores[MARKET_ONLY]
    return ReturnModelResult(
        version=version,
        run_id=run_id,
        reused=False,
        promoted=decision.promote,
        alias_moved=moved,
        r2=finite_or_none(model.r2),
        rank_ic=finite_or_none(model.rank_ic),
        market_only_r2=finite_or_none(market.r2),
        market_only_rank_ic=finite_or_none(market.rank_ic),
        test_statistic=finite_or_none(outcome.test.statistic),
        test_p_value=finite_or_none(outcome.test.p_value),
        reasons=decision.reasons_text(),
    )


def _log(
    tracking: MlflowTracking,
    outcome: ReturnOutcome,
    ctx: RunContext,
    settings: TrainingSettings,
    decision: PromotionDecision,
    data_hash: str,
    config_hash: str,
) -> tuple[str, int]:
    import mlflow

    tags = {
        "dagster.run_id": ctx.dagster_run_id,
        "dagster.asset_key": ctx.asset_key,
        "dagster.partition": ctx.partition.isoformat(),
        TAG_SENTIMENT_MODEL: ctx.sentiment_model or "none",
        "finsig.decision": decision.label,
        "finsig.target": "fwd_return_30m",
    }
    with tracking.start_run(run_name=f"return-{ctx.partition}", tags=tags) as run:
        mlflow.log_params(
            {
                "partition": ctx.partition.isoformat(),
                "window_first": ctx.window_first.isoformat(),
                "window_last": ctx.window_last.isoformat(),
                "window_sessions_used": len(outcome.sessions),
                "train_rows": outcome.n_rows,
                "n_trees": outcome.n_trees,
                "training_data_sha256": data_hash,
                "objective": "reg:squarederror",
            }
            | {f"train.{k}": v for k, v in settings.as_params().items()}
        )
        metrics = {
            f"cv_{who}_{m}": getattr(outcome.scores[who], m) for who in (MODEL, MARKET_ONLY, ZERO) for m in ("r2", "rank_ic", "rmse")
        } | {"return_test_statistic": outcome.test.statistic, "return_test_p_value": outcome.test.p_value}
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)})
        mlflow.log_dict({"features": outcome.features, "importance_gain": outcome.importance, "reasons": decision.reasons}, "features.json")
        log_market_only(outcome.market_only_booster)
        version, _ = register_booster(outcome.booster, outcome.input_example, tracking.return_model_name)
        client = tracking.client()
        model, market = outcome.scores[MODEL], outcome.scores[MARKET_ONLY]
        for key, value in {
            TAG_TRAINED_THROUGH: ctx.window_last.isoformat(),
            TAG_SENTIMENT_MODEL: ctx.sentiment_model or "",
            TAG_RTH_ONLY: "true" if ctx.rth_only else "false",
            TAG_DAGSTER_RUN: ctx.dagster_run_id,
            TAG_DATA_SHA256: data_hash,
            TAG_CONFIG_SHA256: config_hash,
            TAG_RETURN_R2: _num(model.r2),
            TAG_RETURN_RANK_IC: _num(model.rank_ic),
            TAG_MARKET_ONLY_R2: _num(market.r2),
            TAG_MARKET_ONLY_RANK_IC: _num(market.rank_ic),
            TAG_RETURN_TEST_STATISTIC: _num(outcome.test.statistic),
            TAG_RETURN_TEST_P_VALUE: _num(outcome.test.p_value),
            "finsig.return_test": f"{outcome.test.method}: {outcome.test.describe()}",
        }.items():
            client.set_model_version_tag(tracking.return_model_name, str(version), key, value)
        mlflow.set_tag("finsig.model_version", str(version))
        return run.info.run_id, version
