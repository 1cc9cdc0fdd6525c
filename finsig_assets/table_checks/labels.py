"""``labels_within_session``: a label only where its horizon stays inside its own session.

Re-derived from ``silver.market_bars`` and ``calendar_sessions``, independently of the model's
SQL (which counts gaps cumulatively; this looks the gaps up directly), for every row of the
range whose return or label is set. A row violates the rule, for each reason that applies, when

- ``no_bar_at_horizon``: no bar of the instrument opens exactly at ``ts + horizon``;
- ``horizon_in_next_session``: that bar belongs to another ``trade_date`` (the 17:00 cut);
- ``crosses_close`` / ``crosses_early_close``: ``ts`` is before the session's regular-hours
  close and ``ts + horizon`` at or after it (13:00 New York on early closes);
- ``gap_over_max``: a bar in ``(ts, ts + horizon]`` follows a gap longer than
  ``$max_gap_minutes``;
- ``label_up_disagrees``: the boolean label is not ``return > 0`` (or only one of them is set);
- ``return_disagrees``: the return is not ``ln(close at ts + horizon / close at ts)`` of the
  silver bars (1e-9).

``$horizon_minutes`` and ``$max_gap_minutes`` are the run's own config values, so a run with
another horizon is checked against that horizon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from finsig_assets.table_checks.base import (
    TableCheck,
    Verdict,
    identifier,
    plural,
    query_frame,
    query_row,
    table_name,
)

NAME = "labels_within_session"
REASONS = (
    "no_bar_at_horizon",
    "horizon_in_next_session",
    "crosses_close",
    "crosses_early_close",
    "gap_over_max",
    "label_up_disagrees",
    "return_disagrees",
)


@dataclass(frozen=True)
class LabelsWithinSession(TableCheck):
    table: str
    return_column: str
    label_column: str
    bars: str = "silver.market_bars"

    def __post_init__(self) -> None:
        table_name(self.table)
        table_name(self.bars)
        identifier(self.return_column)
        identifier(self.label_column)

    @property
    def name(self) -> str:
        return NAME

    @property
    def description(self) -> str:
        return (
            f"In {self.table}, {self.return_column} and {self.label_column} are set only where the bar at "
            f"ts + horizon_minutes exists in {self.bars} in the same trade_date, the horizon does not reach the "
            "regular-hours close (early closes included) and no bar inside it follows a gap over "
            f"max_gap_minutes; re-derived in SQL from {self.bars} and the calendar, with the value checked too."
        )

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, self.bars)

    def _ctes(self) -> str:
        ret, up = self.return_column, self.label_column
        horizon = "to_minutes($horizon_minutes)"
        return f"""
WITH bars AS (
    SELECT instrument, ts, trade_date, close, gap_minutes
    FROM {self.bars}
    WHERE ts >= $window_start AND ts < $window_end + {horizon}
),
big_gaps AS (
    SELECT instrument, ts FROM bars WHERE gap_minutes > $max_gap_minutes
),
in_range AS (
    SELECT instrument, ts, trade_date, {ret} AS ret, {up} AS up
    FROM {self.table}
    WHERE trade_date BETWEEN $first_date AND $last_date
),
labelled AS (
    SELECT * FROM in_range WHERE ret IS NOT NULL OR up IS NOT NULL
),
judged AS (
    SELECT l.instrument, l.ts, l.trade_date,
        list_filter([
            CASE WHEN h.ts IS NULL THEN 'no_bar_at_horizon' END,
            CASE WHEN h.trade_date <> l.trade_date THEN 'horizon_in_next_session' END,
            CASE WHEN l.ts < s.rth_close AND l.ts + {horizon} >= s.rth_close
                 THEN CASE WHEN s.is_early_close THEN 'crosses_early_close' ELSE 'crosses_close' END END,
            CASE WHEN EXISTS (
                     SELECT 1 FROM big_gaps AS g
                     WHERE g.instrument = l.instrument AND g.ts > l.ts AND g.ts <= l.ts + {horizon})
                 THEN 'gap_over_max' END,
            CASE WHEN l.up IS DISTINCT FROM (l.ret > 0) THEN 'label_up_disagrees' END,
            CASE WHEN c.ts IS NULL OR abs(l.ret - ln(h.close / c.close)) > 1e-9 THEN 'return_disagrees' END
        ], lambda r: r IS NOT NULL) AS reasons
    FROM labelled AS l
    LEFT JOIN bars AS c ON c.instrument = l.instrument AND c.ts = l.ts
    LEFT JOIN bars AS h ON h.instrument = l.instrument AND h.ts = l.ts + {horizon}
    LEFT JOIN calendar_sessions AS s ON s.trade_date = l.trade_date
)"""

    def counts_sql(self) -> str:
        return f"""{self._ctes()}
SELECT
    (SELECT count(*) FROM in_range) AS rows_checked,
    (SELECT count(*) FROM labelled) AS labelled_rows,
    (SELECT count(*) FROM judged WHERE len(reasons) > 0) AS violating_rows
"""

    def reasons_sql(self) -> str:
        return f"""{self._ctes()}
SELECT reason, count(*) AS rows,
       list(format('{{}} {{}}', instrument, ts::VARCHAR) ORDER BY ts)[1:3] AS examples
FROM (SELECT unnest(reasons) AS reason, instrument, ts FROM judged)
GROUP BY reason
ORDER BY rows DESC, reason
"""

    def queries(self) -> tuple[str, ...]:
        return (self.counts_sql(), self.reasons_sql())

    def evaluate(self, conn: duckdb.DuckDBPyConnection, values: Mapping[str, Any], label: str) -> Verdict:
        c = {k: int(v) for k, v in query_row(conn, self.counts_sql(), values).items()}
        horizon, max_gap = values["horizon_minutes"], values["max_gap_minutes"]
        where = f"{self.table} {label}"
        metadata: dict[str, Any] = {
            **c,
            "horizon_minutes": horizon,
            "max_gap_minutes": max_gap,
            "labels_withheld": c["rows_checked"] - c["labelled_rows"],
        }
        if not c["violating_rows"]:
            description = (
                f"{where}: {plural(c['labelled_rows'], 'labelled row')} of {c['rows_checked']:,}; every label ends "
                f"at a bar {horizon} min later in its own session, before the regular-hours close, with no gap "
                f"over {max_gap} min, and equals the silver bars' return."
            )
            return Verdict(passed=True, description=description, metadata=metadata)
        reasons = query_frame(conn, self.reasons_sql(), values)
        counts = dict(zip(reasons["reason"].to_list(), reasons["rows"].to_list()))
        description = (
            f"{where}: {plural(c['violating_rows'], 'labelled row')} of {c['labelled_rows']:,} "
            f"{'breaks' if c['violating_rows'] == 1 else 'break'} the horizon rule "
            f"({', '.join(f'{r} {n:,}' for r, n in counts.items())}; horizon {horizon} min, max gap {max_gap} min)."
        )
        table = reasons.with_columns(pl.col("examples").list.join("; "))
        metadata["violations_by_reason"] = {r: int(n) for r, n in counts.items()}
        metadata["violations"] = markdown_reasons(table)
        return Verdict(passed=False, description=description, metadata=metadata)


def markdown_reasons(frame: pl.DataFrame) -> dg.MetadataValue:
    lines = ["| reason | rows | examples |", "|---|---|---|"]
    lines += [f"| {r} | {n:,} | {e} |" for r, n, e in frame.select("reason", "rows", "examples").iter_rows()]
    return dg.MetadataValue.md("\n".join(lines))

