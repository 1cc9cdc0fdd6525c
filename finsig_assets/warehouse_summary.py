"""``finsig summary``: what the warehouse holds, in a form a person can read in a terminal."""

from __future__ import annotations

import argparse

from finsig_assets import settings
from finsig_assets.warehouse import DuckDBWarehouse


def summarize(warehouse: DuckDBWarehouse) -> str:
    lines: list[str] = []
    with warehouse.connection() as conn:
        tables = conn.sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('bronze','silver','gold','ml','meta') ORDER BY 1, 2"
        ).fetchall()
        lines.append(f"{'table':<32} {'rows':>10}  {'sessions':>8}  first..last trade_date")
        for schema, name in tables:
            columns = {c[0] for c in conn.sql(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                params=[schema, name],
            ).fetchall()}
            qualified = f'"{schema}"."{name}"'
            if "trade_date" in columns:
                n, days, first, last = conn.sql(
                    f"SELECT count(*), count(DISTINCT trade_date), min(trade_date), max(trade_date) FROM {qualified}"
                ).fetchone()
                span = f"{first}..{last}" if first else "-"
            else:
                n, days, span = conn.sql(f"SELECT count(*) FROM {qualified}").fetchone()[0], "", ""
            lines.append(f"{schema + '.' + name:<32} {n:>10,}  {days!s:>8}  {span}")
        if ("bronze", "quarantine") in tables:
            reasons = conn.sql(
                "SELECT dataset, regexp_replace(reason, '[0-9.:TZ+-]{4,}', '…', 'g') AS kind, count(*) AS n "
                "FROM bronze.quarantine GROUP BY ALL ORDER BY n DESC LIMIT 12"
            ).fetchall()
            if reasons:
                lines.append("")
                lines.append("quarantine (top reasons):")
                lines += [f"  {n:>6}  {dataset:<7} {kind[:100]}" for dataset, kind, n in reasons]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finsig summary", description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=str(settings.duckdb_path()))
    args = parser.parse_args(argv)
    print(summarize(DuckDBWarehouse(database=args.database)))
    return 0
