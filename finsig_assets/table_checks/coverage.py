"""``one_row_per_<schema>_<table>``: exactly one row of the table per upstream row of the range.

Rows are matched on the key columns and ``trade_date`` with anti-joins both ways: *missing*
are upstream rows (e.g. silver bars) with no row in the table, *extra* are rows of the table
with no upstream row. Both must be zero and the row counts equal (which also rules out two
rows for one upstream row). ``where`` narrows the upstream rows the table should cover, e.g.
``is_rth OR NOT $rth_only`` for training examples that keep regular-hours bars by default;
it is SQL from the model file's header (like the model itself), with bound parameters only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from finsig_assets.table_checks.base import (
    EXAMPLES,
    CheckDefinitionError,
    TableCheck,
    Verdict,
    examples_markdown,
    identifier,
    join_on,
    key_text,
    named_parameters,
    plural,
    query_frame,
    query_row,
    table_name,
)


@dataclass(frozen=True)
class OneRowPer(TableCheck):
    table: str
    upstream: str
    keys: tuple[str, ...]
    where: str | None = None

    def __post_init__(self) -> None:
        table_name(self.table)
        table_name(self.upstream)
        if self.upstream == self.table:
            raise CheckDefinitionError(f"one_row_per({self.upstream}) on {self.table} itself checks nothing")
        if not self.keys:
            raise CheckDefinitionError("one_row_per needs the key columns to match rows on")
        for column in self.keys:
            identifier(column)
        if self.where is not None and (not self.where.strip() or ";" in self.where):
            raise CheckDefinitionError(f"one_row_per WHERE {self.where!r} is not one boolean expression")

    @property
    def name(self) -> str:
        return "one_row_per_" + self.upstream.replace(".", "_")

    @property
    def upstream_label(self) -> str:
        return f"{self.upstream} rows" + (f" where {self.where.strip()}" if self.where else "")

    @property
    def description(self) -> str:
        keys = ", ".join(self.keys)
        return (
            f"{self.table} holds exactly one row per {self.upstream} row"
            f"{' where ' + self.where.strip() if self.where else ''} in the run's partition range, "
            f"matched on ({keys}, trade_date): none missing, none extra."
        )

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, self.upstream)

    def _ctes(self) -> str:
        cols = ", ".join(self.keys)
        on = self.keys + ("trade_date",)
        return f"""
WITH expected AS (
    SELECT {cols}, trade_date FROM {self.upstream}
    WHERE trade_date BETWEEN $first_date AND $last_date AND ({self.where or 'TRUE'})
),
actual AS (
    SELECT {cols}, trade_date FROM {self.table}
    WHERE trade_date BETWEEN $first_date AND $last_date
),
missing AS (SELECT e.* FROM expected AS e ANTI JOIN actual AS a ON {join_on(on, 'e', 'a')}),
extra AS (SELECT a.* FROM actual AS a ANTI JOIN expected AS e ON {join_on(on, 'a', 'e')})"""

    def counts_sql(self) -> str:
        return f"""{self._ctes()}
SELECT
    (SELECT count(*) FROM expected) AS expected_rows,
    (SELECT count(*) FROM actual) AS actual_rows,
    (SELECT count(*) FROM missing) AS missing_rows,
    (SELECT count(*) FROM extra) AS extra_rows
"""

    def examples_sql(self) -> str:
        return f"""{self._ctes()}
(SELECT 'missing' AS problem, {key_text(self.keys)} AS key, trade_date::VARCHAR AS trade_date
 FROM missing ORDER BY ALL LIMIT {EXAMPLES})
UNION ALL
(SELECT 'extra', {key_text(self.keys)}, trade_date::VARCHAR FROM extra ORDER BY ALL LIMIT {EXAMPLES})
"""

    def queries(self) -> tuple[str, ...]:
        return (self.counts_sql(), self.examples_sql())

    def bound_label(self, values: Mapping[str, Any]) -> str:
        """The upstream rows in words, with the values the WHERE was bound to (``rth_only=True``)."""
        params = sorted(named_parameters(self.counts_sql()) & set(re.findall(r"\$([a-z_][a-z0-9_]*)", self.where or "")))
        bound = ", ".join(f"{name}={values[name]}" for name in params)
        return self.upstream_label + (f" ({bound})" if bound else "")

    def evaluate(self, conn: duckdb.DuckDBPyConnection, values: Mapping[str, Any], label: str) -> Verdict:
        c = {k: int(v) for k, v in query_row(conn, self.counts_sql(), values).items()}
        upstream_label = self.bound_label(values)
        surplus = c["actual_rows"] - c["expected_rows"] + c["missing_rows"] - c["extra_rows"]
        passed = c["missing_rows"] == 0 and c["extra_rows"] == 0 and c["actual_rows"] == c["expected_rows"]
        where = f"{self.table} {label}"
        if passed:
            description = (
                f"{where}: {plural(c['actual_rows'], 'row')} for {c['expected_rows']:,} {upstream_label}: "
                "none missing, none extra."
            )
        else:
            parts = []
            if c["missing_rows"]:
                parts.append(f"{plural(c['missing_rows'], self.upstream + ' row')} without a row here (missing)")
            if c["extra_rows"]:
                parts.append(f"{plural(c['extra_rows'], 'row')} with no {self.upstream} row (extra)")
            if surplus > 0:
                parts.append(f"{plural(surplus, 'surplus row')} repeating an upstream row")
            description = (
                f"{where}: {'; '.join(parts)}; {plural(c['actual_rows'], 'row')} for "
                f"{c['expected_rows']:,} expected ({upstream_label})."
            )
        metadata: dict[str, Any] = {**c, "upstream": upstream_label}
        if not passed:
            metadata["examples"] = examples_markdown(query_frame(conn, self.examples_sql(), values))
        return Verdict(passed=passed, description=description, metadata=metadata)
