"""Champion / challenger: who gets the aliases, and why (MLflow 3 aliases, not stages).

- ``challenger`` always moves to the newest version (the one just trained).
- A version is *promoted* only on evidence. On the walk-forward validation rows of its own
  window (out of sample for every model compared):

  1. **news adds something**: a paired, one-sided test of its AUC against the market-only
     XGBoost's on exactly the same rows rejects "news adds nothing" at ``level`` (default 5 %).
     The test is DeLong's with a session-clustered variance, stratified by fold
     (:mod:`finsig_assets.ml.auc_inference`): neighbouring 30-minute labels overlap, so rows
     are not independent evidence; sessions are. A fixed AUC margin, the rule this replaces,
     let fold noise through on 1 to 5 partitions in 36 of data where news had no effect at all.
     The test needs at least ``min_test_sessions`` (8) validation sessions: with fewer clusters a
     cluster-robust variance is itself too noisy to be evidence (on generated data without any
     effect, before the fold degrees of freedom were counted, 8 of 10 false promotions came from
     windows with 5 to 7 validation sessions);
  2. (``require_log_loss_beats_majority``) its log loss is below the majority class's, which
     predicts the training up-rate -- its probabilities are better than knowing nothing;
  3. once a champion exists (the champion as of the end of the previous session,
     :func:`finsig_assets.ml.champion_history.champion_as_of`), it is not *measurably* worse
     than the champion's recent out-of-sample record: the champion's last
     ``champion_record_sessions`` predicted sessions up to this partition, from
     ``ml.predictions`` -- or, where those are not written yet (a single-run backfill trains
     every partition before it predicts), the same predictions recomputed from the rows the
     champion served (:func:`finsig_assets.ml.oos_record.recomputed_record`). Where the candidate's validation folds cover the same rows, both AUCs
     are computed on exactly those rows (candidate: its fold prediction; champion: its live
     prediction -- both out of sample) and compared with the paired clustered test; otherwise
     the candidate's fold AUC and the champion's pooled record are compared as independent
     samples. The candidate fails when "the champion is better" is significant at
     ``champion_level`` (``0`` never blocks). A champion without a usable record (fewer than
     ``min_record_rows`` labelled rows, or one class) does not block.

- ``champion`` moves to a promoted version unless the live alias already holds a version
  trained through a *later* session (retraining an old partition must not roll the live
  champion back). The decision, every check with its numbers, the test's statistic and
  p-value, and whether the alias moved are written as version tags (``finsig.*``) and returned
  for the materialization metadata.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from finsig_assets.ml import baselines
from finsig_assets.ml.auc_inference import PairedAucTest, auc_estimate, paired_auc_test, unpaired_auc_test
from finsig_assets.ml.champion_history import (
    CHALLENGER,
    CHAMPION,
    TAG_ALIAS_MOVED,
    TAG_DECISION,
    TAG_PROMOTED,
    TAG_REASONS,
    RegisteredVersion,
    alias_holder,
)
from finsig_assets.ml.evaluation_metrics import Scores, fmt

if TYPE_CHECKING:  # mlflow loads in the steps that use the registry, not with the definitions
    from mlflow import MlflowClient

_TAG_LIMIT = 5000
TAG_NEWS_TEST_STATISTIC = "finsig.news_test_statistic"
TAG_NEWS_TEST_P_VALUE = "finsig.news_test_p_value"
TAG_NEWS_TEST = "finsig.news_test"


@dataclass(frozen=True)
class PromotionRules:
    level: float = 0.05
    min_test_sessions: int = 8
    require_log_loss_beats_majority: bool = True
    champion_level: float = 0.05
    champion_record_sessions: int = 20
    min_record_rows: int = 100


@dataclass(frozen=True)
class ChampionComparison:
    version: int
    trained_through: dt.date | None
    basis: str  # "same rows" | "pooled" | "no usable record"
    n_rows: int
    sessions: tuple[dt.date, ...]
    champion_auc: float | None
    candidate_auc: float | None
    # One-sided: the champion's AUC above the candidate's (None without a usable record).
    test: PairedAucTest | None = None


@dataclass
class PromotionDecision:
    promote: bool
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    news_test: PairedAucTest | None = None

    @property
    def label(self) -> str:
        return "champion" if self.promote else "challenger only"

    def reasons_text(self) -> str:
        return "; ".join(self.reasons)


def compare_with_champion(
    champion: RegisteredVersion,
    champion_preds: pl.DataFrame,
    candidate_oos: pl.DataFrame,
    rules: PromotionRules,
) -> ChampionComparison:
    """The champion's recent record against the candidate (see rule 3 in the module docstring).

    ``champion_preds``: its labelled predictions (instrument, ts, trade_date, p_up, label_up);
    ``candidate_oos``: the candidate's fold predictions (instrument, ts, trade_date, fold, label_up, p_model).
    """
    sessions = tuple(sorted(set(champion_preds["trade_date"].to_list()))) if champion_preds.height else ()

    def usable(y: np.ndarray) -> bool:
        return y.size >= rules.min_record_rows and 0 < y.sum() < y.size

    y_champ = champion_preds["label_up"].to_numpy().astype(bool) if champion_preds.height else np.array([], bool)
    if not usable(y_champ):
        return ChampionComparison(champion.version, champion.trained_through, "no usable record", int(y_champ.size), sessions, None, None)
    same = champion_preds.join(
        candidate_oos.select("instrument", "ts", pl.col("p_model")), on=["instrument", "ts"], how="inner"
    )
    y_same = same["label_up"].to_numpy().astype(bool)
    if usable(y_same):
        test = paired_auc_test(
            y_same, same["p_up"].to_numpy(), same["p_model"].to_numpy(), clusters=same["trade_date"].to_physical().to_numpy()
        )
        return ChampionComparison(
            champion.version,
            champion.trained_through,
            "same rows",
            same.height,
            tuple(sorted(set(same["trade_date"].to_list()))),
            test.auc_a,
            test.auc_b,
            test,
        )
    champ_est = auc_estimate(y_champ, champion_preds["p_up"].to_numpy(), champion_preds["trade_date"].to_physical().to_numpy())
    cand_est = auc_estimate(
        candidate_oos["label_up"].to_numpy().astype(bool),
        candidate_oos["p_model"].to_numpy(),
        candidate_oos["trade_date"].to_physical().to_numpy(),
        folds=candidate_oos["fold"].to_numpy(),
    )
    return ChampionComparison(
        champion.version,
        champion.trained_through,
        "pooled",
        champion_preds.height,
        sessions,
        champ_est.auc,
        cand_est.auc,
        unpaired_auc_test(champ_est, cand_est),
    )


def decide_promotion(
    scores: dict[str, Scores],
    test: PairedAucTest,  # the model against market-only on the validation rows (TrainingOutcome.news_test)
    rules: PromotionRules,
    champion: ChampionComparison | None,
) -> PromotionDecision:
    model = scores[baselines.MODEL]
    majority = scores[baselines.MAJORITY]
    d = PromotionDecision(promote=False, news_test=test)

    def check(name: str, ok: bool, text: str) -> None:
        d.checks[name] = bool(ok)
        d.reasons.append(f"{'pass' if ok else 'FAIL'}: {text}")

    m_auc = model.auc
    if not np.isfinite(m_auc):
        check("model_auc_defined", False, "the model's fold AUC is undefined (validation rows hold one class)")
    else:
        check(
            "news_adds_to_market_only",
            test.defined and test.n_clusters >= rules.min_test_sessions and test.p_value <= rules.level,
            f"news vs market-only, paired test on the validation rows: {test.describe()}; "
            f"needs p <= {rules.level:g} over at least {rules.min_test_sessions} validation sessions",
        )
    if rules.require_log_loss_beats_majority:
        ok = np.isfinite(model.log_loss) and np.isfinite(majority.log_loss) and model.log_loss < majority.log_loss
        check(
            "log_loss_beats_majority",
            ok,
            f"log loss {fmt(model.log_loss)} vs majority class {fmt(majority.log_loss)}",
        )
    if champion is None:
        check("champion_record", True, "no champion yet: nothing to defend")
    elif champion.basis == "no usable record" or champion.test is None:
        check(
            "champion_record",
            True,
            f"champion v{champion.version} has no usable out-of-sample record yet "
            f"({champion.n_rows} labelled rows < {rules.min_record_rows} or one class)",
        )
    else:
        t = champion.test
        worse = t.defined and t.p_value < rules.champion_level
        span = f"{champion.sessions[0]}..{champion.sessions[-1]}" if champion.sessions else "n/a"
        check(
            "champion_record",
            not worse,
            f"vs champion v{champion.version}'s out-of-sample record ({champion.basis}, {champion.n_rows:,} rows, {span}): "
            f"champion {t.describe()}; the candidate fails only if the champion is better at p < {rules.champion_level:g}",
        )
    d.promote = all(d.checks.values())
    return d


def record_decision(
    client: MlflowClient,
    model_name: str,
    version: int,
    trained_through: dt.date,
    decision: PromotionDecision,
) -> bool:
    """Tag the version, move ``challenger`` to it and ``champion`` if earned; True if champion moved."""
    v = str(version)
    client.set_model_version_tag(model_name, v, TAG_PROMOTED, "true" if decision.promote else "false")
    client.set_model_version_tag(model_name, v, TAG_DECISION, decision.label)
    client.set_model_version_tag(model_name, v, TAG_REASONS, decision.reasons_text()[:_TAG_LIMIT])
    t = decision.news_test
    if t is not None:
        client.set_model_version_tag(model_name, v, TAG_NEWS_TEST_STATISTIC, _num(t.statistic))
        client.set_model_version_tag(model_name, v, TAG_NEWS_TEST_P_VALUE, _num(t.p_value))
        client.set_model_version_tag(model_name, v, TAG_NEWS_TEST, f"{t.method}: {t.describe()}"[:_TAG_LIMIT])
    client.set_registered_model_alias(model_name, CHALLENGER, v)
    moved = False
    if decision.promote:
        holder = alias_holder(client, model_name, CHAMPION)
        if holder is None or holder.trained_through is None or holder.trained_through <= trained_through:
            client.set_registered_model_alias(model_name, CHAMPION, v)
            moved = True
    client.set_model_version_tag(model_name, v, TAG_ALIAS_MOVED, "true" if moved else "false")
    return moved


def _num(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else "nan"
