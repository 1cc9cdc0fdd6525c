"""``champion_skill``: does the served model beat its baselines out of sample, lately?

The number that matters is the record of the predictions actually served -- each session scored
by the champion as of the end of the session before, never seen in training -- over the last
``sessions`` sessions with labels. On exactly those rows it compares the champion's pooled AUC
and log loss with the two baselines served next to it (:mod:`finsig_assets.ml.direction_training`
fits them on the same window): the market-only XGBoost (what the news adds) and the majority
class (the window's up-rate as the probability: what any skill at all adds).

It passes when the champion's AUC is above the market-only model's and above 0.5, and its log
loss is below the majority baseline's; otherwise it WARNs -- "no skill" is something users must
see, not an error in the data, so nothing is blocked. When no champion has served anything (no
version passed the promotion rules) it also WARNs: the system has no model to offer. Served
predictions whose labels are not in yet have no record to judge; the check passes and says so.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl

from finsig_assets.materialization_metadata import markdown_table
from finsig_assets.ml.evaluation_metrics import auc, fmt, log_loss
from finsig_assets.warehouse import Warehouse

CHECK_NAME = "champion_skill"
ASSET_KEY = dg.AssetKey(["ml", "predictions"])

_RECENT_SQL = """
WITH sessions AS (
    SELECT DISTINCT trade_date FROM ml.predictions
    WHERE trade_date <= $through AND label_up IS NOT NULL
    ORDER BY trade_date DESC
    LIMIT $sessions
)
SELECT p.trade_date, p.model_version, p.p_up, p.p_up_market_only, p.p_up_majority, p.label_up
FROM ml.predictions p JOIN sessions USING (trade_date)
WHERE p.label_up IS NOT NULL
"""


def check_spec() -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=ASSET_KEY,
        description="The served champion's out-of-sample record over the last sessions: AUC above the market-only "
        "model's and 0.5, log loss below the majority class's, on the same rows. WARN when it has no skill.",
    )


def _pooled(frame: pl.DataFrame, column: str) -> tuple[float, float, int]:
    rows = frame.filter(pl.col(column).is_not_null())
    if rows.is_empty():
        return float("nan"), float("nan"), 0
    y = rows["label_up"].to_numpy().astype(float)
    p = rows[column].to_numpy().astype(float)
    return auc(y, p), log_loss(y, p), rows.height


def champion_skill_result(warehouse: Warehouse, through: dt.date, sessions: int) -> dg.AssetCheckResult:
    record = warehouse.query(_RECENT_SQL, {"through": through, "sessions": sessions})
    if record.is_empty():
        served = warehouse.query("SELECT count(*) AS n FROM ml.predictions WHERE trade_date <= ?", [through])["n"][0]
        if not served:
            return dg.AssetCheckResult(
                check_name=CHECK_NAME,
                asset_key=ASSET_KEY,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"no champion: no version of the model has passed the promotion rules, so nothing has been "
                f"served up to {through} (see ml/direction_model's decisions)",
                metadata={"sessions": dg.MetadataValue.int(0)},
            )
        return dg.AssetCheckResult(
            check_name=CHECK_NAME,
            asset_key=ASSET_KEY,
            passed=True,
            description=f"no out-of-sample record yet: the champion's predictions up to {through} have no labels yet",
            metadata={"sessions": dg.MetadataValue.int(0)},
        )
    model_auc, model_ll, n = _pooled(record, "p_up")
    market_auc, market_ll, n_market = _pooled(record, "p_up_market_only")
    _, majority_ll, n_majority = _pooled(record, "p_up_majority")
    first, last = record["trade_date"].min(), record["trade_date"].max()
    n_sessions = record["trade_date"].n_unique()
    versions = ", ".join(f"v{v}" for v in sorted(record["model_version"].unique().to_list()))
    failures = []
    if not model_auc > 0.5:
        failures.append(f"AUC {fmt(model_auc)} is not above 0.5")
    if n_market == n and not model_auc > market_auc:
        failures.append(f"AUC {fmt(model_auc)} is not above the market-only model's {fmt(market_auc)}: the news adds nothing")
    if n_majority == n and not model_ll < majority_ll:
        failures.append(f"log loss {fmt(model_ll)} is not below the majority class's {fmt(majority_ll)}")
    missing = []
    if n_market < n:
        missing.append(f"market-only baseline served for {n_market:,} of {n:,} rows")
    if n_majority < n:
        missing.append(f"majority baseline known for {n_majority:,} of {n:,} rows")
    span = f"{n_sessions} session(s) {first}..{last}, {n:,} labelled rows, {versions}"
    if failures:
        description = f"NO SKILL over {span}: " + "; ".join(failures)
    else:
        description = (
            f"skill over {span}: AUC {fmt(model_auc)} vs market-only {fmt(market_auc)}, "
            f"log loss {fmt(model_ll)} vs majority {fmt(majority_ll)}"
        )
    if missing:
        description += " (" + "; ".join(missing) + ")"
    table = markdown_table(
        {
            "champion AUC": fmt(model_auc),
            "market-only AUC (same rows)": fmt(market_auc),
            "champion log loss": fmt(model_ll),
            "market-only log loss": fmt(market_ll),
            "majority log loss": fmt(majority_ll),
            "labelled rows": f"{n:,}",
            "sessions": f"{n_sessions} ({first}..{last})",
            "versions": versions,
        }
    )
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        asset_key=ASSET_KEY,
        passed=not failures,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "sessions": dg.MetadataValue.int(n_sessions),
            "labelled_rows": dg.MetadataValue.int(n),
            "champion_auc": _num(model_auc),
            "market_only_auc": _num(market_auc),
            "champion_log_loss": _num(model_ll),
            "majority_log_loss": _num(majority_ll),
            "record": dg.MetadataValue.md(table),
        },
    )


def _num(value: float) -> dg.MetadataValue:
    return dg.MetadataValue.float(float(value)) if np.isfinite(value) else dg.MetadataValue.text("n/a")
