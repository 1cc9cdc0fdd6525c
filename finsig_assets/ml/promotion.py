"""Champion / challenger: who gets the aliases, and why (MLflow 3 aliases, not stages).

- ``challenger`` always moves to the newest version (the one just trained).
- A version is *promoted* when, on the walk-forward folds of its own window (validation rows,
  out of sample for every model compared; fold values weighted by rows):

  1. its AUC beats the market-only XGBoost's AUC by at least ``margin_auc`` -- news must add
     something measurable, or the extra columns are not worth their risk;
  2. its AUC beats the majority class's AUC (0.5) by at least ``margin_auc``;
  3. (``require_log_loss_beats_majority``) its log loss is below the majority class's, which
     predicts the training up-rate -- its probabilities are better than knowing nothing;
  4. once a champion exists (the champion as of the end of the previous session,
     :func:`finsig_assets.ml.champion_history.champion_as_of`), it does not do worse than the
     champion's recent out-of-sample record: on the champion's last ``champion_record_sessions``
     predicted sessions up to this partition, taken from ``ml.predictions``. Where the
     candidate's validation folds cover the same rows, both AUCs are computed on exactly those
     rows (candidate: its fold prediction; champion: its live prediction -- both out of
     sample); otherwise the candidate's fold AUC is compared with the champion's pooled
     record. "Worse" means *measurably* worse: the challenger fails when
     ``candidate < champion - max(champion_tolerance_auc, 2 * se)``, where ``se`` is the standard
     error of the AUC difference (Hanley-McNeil for each AUC, combined as if independent --
     conservative, since on the same rows the two are positively correlated). A record of one
     session (~360 rows, se ~0.04) is too short to tell two good models apart, and a fixed
     tolerance would block equally good challengers half of the time; over the default 20
     sessions se shrinks to ~0.01. A champion without a usable record (fewer than
     ``min_record_rows`` labelled rows, or one class) does not block.

- ``champion`` moves to a promoted version unless the live alias already holds a version
  trained through a *later* session (retraining an old partition must not roll the live
  champion back). The decision, every check with its numbers, and whether the alias moved are
  written as version tags (``finsig.*``) and returned for the materialization metadata.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from mlflow import MlflowClient

from finsig_assets.ml import baselines
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
from finsig_assets.ml.evaluation_metrics import Scores, auc, auc_standard_error, fmt

_TAG_LIMIT = 5000


@dataclass(frozen=True)
class PromotionRules:
    margin_auc: float = 0.01
    require_log_loss_beats_majority: bool = True
    champion_tolerance_auc: float = 0.005
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
    se_diff: float = 0.0  # standard error of candidate - champion AUC


@dataclass
class PromotionDecision:
    promote: bool
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "champion" if self.promote else "challenger only"

    def reasons_text(self) -> str:
        return "; ".join(self.reasons)


def compare_with_champion(
    champion: RegisteredVersion,
    champion_preds: pl.DataFrame,
    candidate_oos: pl.DataFrame,
    candidate_auc: float,
    rules: PromotionRules,
) -> ChampionComparison:
    """The champion's recent record against the candidate (see rule 4 in the module docstring).

    ``champion_preds``: its labelled predictions (instrument, ts, trade_date, p_up, label_up);
    ``candidate_oos``: the candidate's fold predictions (instrument, ts, label_up, p_model).
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
        c, k = auc(y_same, same["p_up"].to_numpy()), auc(y_same, same["p_model"].to_numpy())
        return ChampionComparison(
            champion.version,
            champion.trained_through,
            "same rows",
            same.height,
            tuple(sorted(set(same["trade_date"].to_list()))),
            c,
            k,
            _se_diff(c, k, y_same),
        )
    c = auc(y_champ, champion_preds["p_up"].to_numpy())
    return ChampionComparison(
        champion.version,
        champion.trained_through,
        "pooled",
        champion_preds.height,
        sessions,
        c,
        candidate_auc,
        _se_diff(c, candidate_auc, y_champ),
    )


def _se_diff(champion_auc: float, candidate_auc: float, y: np.ndarray) -> float:
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    se = [auc_standard_error(a, n_pos, n_neg) for a in (champion_auc, candidate_auc)]
    se = [s for s in se if np.isfinite(s)]
    return float(np.sqrt(sum(s * s for s in se))) if se else 0.0


def decide_promotion(
    scores: dict[str, Scores], rules: PromotionRules, champion: ChampionComparison | None
) -> PromotionDecision:
    model = scores[baselines.MODEL]
    market = scores[baselines.MARKET_ONLY]
    majority = scores[baselines.MAJORITY]
    d = PromotionDecision(promote=False)

    def check(name: str, ok: bool, text: str) -> None:
        d.checks[name] = bool(ok)
        d.reasons.append(f"{'pass' if ok else 'FAIL'}: {text}")

    m_auc = model.auc
    if not np.isfinite(m_auc):
        check("model_auc_defined", False, "the model's fold AUC is undefined (validation rows hold one class)")
    else:
        mk = market.auc if np.isfinite(market.auc) else 0.5
        check(
            "beats_market_only",
            m_auc >= mk + rules.margin_auc,
            f"AUC {fmt(m_auc)} vs market-only {fmt(mk)} + margin {rules.margin_auc:g} "
            f"(value of news {m_auc - mk:+.4f})",
        )
        mj = majority.auc if np.isfinite(majority.auc) else 0.5
        check(
            "beats_majority",
            m_auc >= mj + rules.margin_auc,
            f"AUC {fmt(m_auc)} vs majority class {fmt(mj)} + margin {rules.margin_auc:g}",
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
    elif champion.basis == "no usable record":
        check(
            "champion_record",
            True,
            f"champion v{champion.version} has no usable out-of-sample record yet "
            f"({champion.n_rows} labelled rows < {rules.min_record_rows} or one class)",
        )
    else:
        c, k = champion.champion_auc, champion.candidate_auc
        allowance = max(rules.champion_tolerance_auc, 2 * champion.se_diff)
        ok = c is not None and k is not None and np.isfinite(k) and k >= c - allowance
        span = f"{champion.sessions[0]}..{champion.sessions[-1]}" if champion.sessions else "n/a"
        check(
            "champion_record",
            ok,
            f"vs champion v{champion.version}'s out-of-sample record ({champion.basis}, {champion.n_rows} rows, "
            f"{span}): AUC {fmt(k)} vs {fmt(c)} - allowance {allowance:.4f} "
            f"(max of tolerance {rules.champion_tolerance_auc:g} and 2 x se {champion.se_diff:.4f})",
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
    client.set_registered_model_alias(model_name, CHALLENGER, v)
    moved = False
    if decision.promote:
        holder = alias_holder(client, model_name, CHAMPION)
        if holder is None or holder.trained_through is None or holder.trained_through <= trained_through:
            client.set_registered_model_alias(model_name, CHAMPION, v)
            moved = True
    client.set_model_version_tag(model_name, v, TAG_ALIAS_MOVED, "true" if moved else "false")
    return moved
