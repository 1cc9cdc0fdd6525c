"""The warehouse tables a model's SQL reads, from DuckDB's own parser.

A model's upstream assets are the tables its SELECT reads (``silver.market_bars`` is the asset
``silver/market_bars``), so the runner derives them from the statement rather than trusting a
hand-kept list: ``json_serialize_sql`` gives DuckDB's parse tree, whose ``BASE_TABLE`` nodes are
every table reference. Names without a schema must be the statement's own CTEs or a relation
the runner registers (``calendar_sessions``); anything else is an error, since it could not be
mapped to an asset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from finsig_assets.one_row import one_row
from finsig_assets.warehouse import scratch_catalog


class UnqualifiedTable(ValueError):
    """The SQL reads a table by a bare name that is neither a CTE nor a registered relation."""


def tables_read(sql: str, registered: Iterable[str] = ()) -> list[str]:
    """``schema.table`` of every table the statement reads, sorted, each once."""
    with scratch_catalog() as conn:
        # A literal, not a parameter: binding a value makes DuckDB 1.5 import pandas and pyarrow,
        # and models are loaded when the definitions are.
        text = sql.replace("'", "''")
        tree = json.loads(one_row(conn, f"SELECT json_serialize_sql('{text}')")[0])
    if tree.get("error"):
        raise ValueError(f"SQL does not parse: {tree.get('error_message', tree)}")
    references: set[tuple[str, str]] = set()
    ctes: set[str] = set()
    _walk(tree, references, ctes)
    allowed = {name.lower() for name in (*ctes, *registered)}
    bare = sorted(table for schema, table in references if not schema and table.lower() not in allowed)
    if bare:
        raise UnqualifiedTable(
            f"reads {', '.join(bare)} without a schema: name warehouse tables as <schema>.<table> "
            "(e.g. silver.market_bars) so that the asset they come from is known"
        )
    return sorted({f"{schema}.{table}" for schema, table in references if schema})


def _walk(node: Any, references: set[tuple[str, str]], ctes: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            references.add((node.get("schema_name") or "", node.get("table_name") or ""))
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes.update(entry["key"] for entry in cte_map.get("map", []) if isinstance(entry, dict) and "key" in entry)
        for value in node.values():
            _walk(value, references, ctes)
    elif isinstance(node, list):
        for value in node:
            _walk(value, references, ctes)
