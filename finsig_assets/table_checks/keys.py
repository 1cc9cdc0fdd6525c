"""``unique_non_null_keys``: every key of the range is set and appears once in the whole table.

Uniqueness is judged against the whole table, not just the range: an ``article_id`` written by
this run that still has a row in another partition is a duplicate too (the stale copy would be
counted twice downstream). Only the key columns are scanned outside the range. ``trade_date``
must be set on every row of the table (a row without one belongs to no partition, so no
re-materialization would ever replace it).
"""

from __future__ import annotations

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
    plural,
    query_frame,
    query_row,
    table_name,
)

NAME = "unique_non_null_keys"


@dataclass(frozen=True)
class UniqueKeys(TableCheck):
    table: str
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        table_name(self.table)
        if not self.keys:
            raise CheckDefinitionError("unique_keys needs at least one column")
        for column in self.keys:
            identifier(column)
        if len(set(self.keys)) != len(self.keys):
            raise CheckDefinitionError(f"unique_keys lists a column twice: {', '.join(self.keys)}")

    @property
    def name(self) -> str:
        return NAME

    @property
    def key_label(self) -> str:
        return f"({', '.join(self.keys)})" if len(self.keys) > 1 else self.keys[0]

    @property
    def description(self) -> str:
        return (
            f"Every {self.key_label} of {self.table} written for the run's partition range is non-NULL and "
            "appears once in the whole table, and no row of the table lacks a trade_date."
        )

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table,)

    def _ctes(self) -> str:
        keys = ", ".join(self.keys)
        t_keys = ", ".join(f"t.{k}" for k in self.keys)
        return f"""
WITH in_range AS (
    SELECT {keys}, trade_date FROM {self.table}
    WHERE trade_date BETWEEN $first_date AND $last_date
),
repeated AS (
    SELECT {t_keys}, count(*) AS copies, list(DISTINCT t.trade_date ORDER BY t.trade_date) AS trade_dates
    FROM {self.table} AS t
    SEMI JOIN (SELECT DISTINCT {keys} FROM in_range) AS r ON {join_on(self.keys, 't', 'r')}
    GROUP BY ALL
    HAVING count(*) > 1
)"""

    def _null_key(self) -> str:
        return " OR ".join(f"{k} IS NULL" for k in self.keys)

    def counts_sql(self) -> str:
        return f"""{self._ctes()}
SELECT
    (SELECT count(*) FROM in_range) AS rows_checked,
    (SELECT count(*) FROM in_range WHERE {self._null_key()}) AS null_key_rows,
    (SELECT count(*) FROM repeated) AS duplicate_keys,
    (SELECT coalesce(sum(copies - 1), 0) FROM repeated)::BIGINT AS duplicate_rows,
    (SELECT count(*) FROM {self.table} WHERE trade_date IS NULL) AS null_trade_date_rows
"""

    def examples_sql(self) -> str:
        return f"""{self._ctes()}
(SELECT 'duplicate key' AS problem, {key_text(self.keys)} AS key,
        format('{{}} rows, trade_date {{}}', copies, trade_dates::VARCHAR) AS detail
 FROM repeated ORDER BY key LIMIT {EXAMPLES})
UNION ALL
(SELECT 'NULL in key', {key_text(self.keys)}, format('trade_date {{}}', trade_date)
 FROM in_range WHERE {self._null_key()} ORDER BY 2 LIMIT {EXAMPLES})
UNION ALL
(SELECT 'no trade_date', {key_text(self.keys)}, ''
 FROM {self.table} WHERE trade_date IS NULL ORDER BY 2 LIMIT {EXAMPLES})
"""

    def queries(self) -> tuple[str, ...]:
        return (self.counts_sql(), self.examples_sql())

    def evaluate(self, conn: duckdb.DuckDBPyConnection, values: Mapping[str, Any], label: str) -> Verdict:
        counts = {k: int(v) for k, v in query_row(conn, self.counts_sql(), values).items()}
        problems = counts["duplicate_keys"] + counts["null_key_rows"] + counts["null_trade_date_rows"]
        where = f"{self.table} {label}"
        if not problems:
            description = (
                f"{where}: {plural(counts['rows_checked'], 'row')}, every {self.key_label} set and unique "
                "in the table, every row has a trade_date."
            )
        else:
            parts = []
            if counts["duplicate_keys"]:
                parts.append(
                    f"{plural(counts['duplicate_keys'], 'key')} {self.key_label} "
                    f"{'appears' if counts['duplicate_keys'] == 1 else 'appear'} more than once "
                    f"({plural(counts['duplicate_rows'], 'surplus row')})"
                )
            if counts["null_key_rows"]:
                parts.append(f"{plural(counts['null_key_rows'], 'row')} with a NULL in {self.key_label}")
            if counts["null_trade_date_rows"]:
                parts.append(f"{plural(counts['null_trade_date_rows'], 'row')} of the table without a trade_date")
            description = f"{where}: {'; '.join(parts)}; {plural(counts['rows_checked'], 'row')} in the range."
        metadata: dict[str, Any] = {**counts, "key_columns": ", ".join(self.keys)}
        if problems:
            metadata["examples"] = examples_markdown(query_frame(conn, self.examples_sql(), values))
        return Verdict(passed=not problems, description=description, metadata=metadata)
