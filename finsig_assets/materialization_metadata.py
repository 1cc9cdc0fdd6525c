"""The metadata every materialization carries: row count, column schema, a markdown summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl


def sql_type(dtype: pl.DataType) -> str:
    """The DuckDB type a polars column is stored as, so the UI shows the table's own types."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    return {
        pl.Float64: "DOUBLE", pl.Float32: "FLOAT", pl.Int64: "BIGINT", pl.Int32: "INTEGER",
        pl.Int16: "SMALLINT", pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT", pl.Boolean: "BOOLEAN",
        pl.String: "VARCHAR", pl.Date: "DATE",
    }.get(dtype.base_type(), str(dtype))


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type(dtype)) for name, dtype in frame.schema.items()])


def markdown_table(rows: Mapping[str, Any], headers: tuple[str, str] = ("measure", "value")) -> str:
    lines = [f"| {headers[0]} | {headers[1]} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows.items()]
    return "\n".join(lines)


def standard_metadata(
    frame: pl.DataFrame,
    scope_label: str,
    summary: Mapping[str, Any] | None = None,
    preview_rows: int = 5,
) -> dict[str, Any]:
    """Row count, schema, the partition range, and a markdown summary with a short preview."""
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": column_schema(frame),
        "partition_range": dg.MetadataValue.text(scope_label),
    }
    details = dict(summary or {})
    for key, value in details.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            meta[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            meta[key] = dg.MetadataValue.int(value)
        else:
            meta[key] = dg.MetadataValue.float(float(value))
    md = f"**{frame.height:,} rows** for `{scope_label}`\n\n" + markdown_table({"rows": f"{frame.height:,}", **details})
    if frame.height and preview_rows:
        md += "\n\n" + frame.head(preview_rows).to_pandas().to_markdown(index=False)
    meta["summary"] = dg.MetadataValue.md(md)
    return meta
