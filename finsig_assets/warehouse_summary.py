"""``finsig summary``: what the warehouse holds, in a form a person can read in a terminal."""

from __future__ import annotations

import argparse

from finsig_assets.one_row import one_row
from finsig_assets.p_values import format_p
from finsig_assets.warehouse import DuckDBWarehouse, Warehouse
from finsig_assets.warehouse_profiles import configured_warehouse


def summarize(warehouse: Warehouse) -> str:
    lines: list[str] = []
    with warehouse.connection() as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('bronze','silver','gold','ml','meta') ORDER BY 1, 2"
        ).fetchall()
        lines.append(f"{'table':<32} {'rows':>10}  {'sessions':>8}  first..last trade_date")
        for schema, name in tables:
            columns = {c[0] for c in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [schema, name],
            ).fetchall()}
            qualified = f'"{schema}"."{name}"'
            if "trade_date" in columns:
                n, days, first, last = one_row(
                    conn, f"SELECT count(*), count(DISTINCT trade_date), min(trade_date), max(trade_date) FROM {qualified}"
                )
                span = f"{first}..{last}" if first else "-"
            else:
                n, days, span = one_row(conn, f"SELECT count(*) FROM {qualified}")[0], "", ""
            lines.append(f"{schema + '.' + name:<32} {n:>10,}  {days!s:>8}  {span}")
        if ("bronze", "quarantine") in tables:
            reasons = conn.execute(
                "SELECT dataset, regexp_replace(reason, '[0-9.:TZ+-]{4,}', '…', 'g') AS kind, count(*) AS n "
                "FROM bronze.quarantine GROUP BY ALL ORDER BY n DESC LIMIT 12"
            ).fetchall()
            if reasons:
                lines.append("")
                lines.append("quarantine (top reasons):")
                lines += [f"  {n:>6}  {dataset:<7} {kind[:100]}" for dataset, kind, n in reasons]
        if ("ml", "model_runs") in tables:
            lines += ["", *_model_summary(conn)]
    return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"





def _model_summary(conn) -> list[str]:
    """Fold metrics of the model against its baselines, and who is champion."""
    runs = conn.execute(
        "SELECT trade_date, status, model_version, promoted, model_auc, market_only_auc, majority_auc, "
        "sign_ret_30m_auc, model_log_loss, market_only_log_loss, majority_log_loss, value_of_news_auc, news_test_p_value, "
        "return_r2, reason "
        "FROM ml.model_runs ORDER BY trade_date"
    ).fetchall()
    if not runs:
        return ["ml: no model trained yet"]
    out = ["direction model per partition -- the model for that session, trained on the sessions before it",
           "(walk-forward folds inside each training window):",
           f"  {'partition':<11} {'status':<22} {'ver':>4} {'AUC':>6} {'mkt-only':>8} {'majority':>8} "
           f"{'sign30m':>7} {'logloss':>7} {'mkt LL':>7} {'maj LL':>7} {'news+':>6} {'p':>7} {'ret R2':>7}  promoted"]
    for (day, status, version, promoted, auc, m_auc, maj_auc, s_auc, ll, m_ll, maj_ll, news, p_value, r2, reason) in runs:
        if status != "trained":
            out.append(f"  {day!s:<11} {status[:22]:<22}   — {(reason or '')[:80]}")
            continue
        out.append(
            f"  {day!s:<11} {status:<22} {version or '':>4} {_fmt(auc):>6} {_fmt(m_auc):>8} {_fmt(maj_auc):>8} "
            f"{_fmt(s_auc):>7} {_fmt(ll):>7} {_fmt(m_ll):>7} {_fmt(maj_ll):>7} {_fmt(news):>6} "
            f"{'-' if p_value is None else format_p(p_value):>7} "
            f"{_fmt(r2):>7}  {'yes' if promoted else 'no'}"
        )
    champion = conn.execute(
        "SELECT model_name, model_version, window_last FROM ml.model_runs WHERE champion_alias_moved "
        "ORDER BY trade_date DESC LIMIT 1"
    ).fetchone()
    out.append("")
    out.append(
        f"champion: {champion[0]} version {champion[1]} (trained through {champion[2]})"
        if champion else "champion: none — no version showed evidence (a paired test against the market-only model) that news adds anything"
    )
    out.append("  (p: one-sided p-value of the paired test news vs market-only; champion needs p <= 0.05. "
               "ret R2: the return regressor's out-of-sample R² against the zero forecast)")
    if ("ml", "oos_record") in {tuple(r) for r in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}:
        oos = conn.execute(
            "SELECT count(*), sum(n_labelled), avg(auc), avg(accuracy) FROM ml.oos_record"
        ).fetchone()
        if oos[0]:
            out.append(f"out-of-sample (ml/predictions): {oos[0]} sessions, {int(oos[1] or 0):,} labelled bars, "
                       f"mean AUC {_fmt(oos[2])}, mean accuracy {_fmt(oos[3])}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finsig summary", description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=None, help="a DuckDB file (default: the configured warehouse, FINSIG_WAREHOUSE)")
    args = parser.parse_args(argv)
    print(summarize(DuckDBWarehouse(database=args.database) if args.database else configured_warehouse()))
    return 0
