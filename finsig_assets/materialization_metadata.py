"""The metadata every materialization carries: row count, column schema, a markdown summary.

A run covers one partition or a range of them (single-run backfills). Dagster records one
materialization per partition and copies the run's metadata onto each; so that a partition
shows its own numbers, :func:`partition_metadata` gives every partition its own row count and
details (``context.add_asset_metadata(..., partition_key=...)``) and keeps for the shared
metadata only what is true of all of them (the column schema) and the run's totals, under
names starting with ``run_``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

from finsig_assets.checks.session_freshness import CHECK_NAME as FRESHNESS_CHECK
from finsig_assets.checks.session_freshness import freshness_result

RUN_PREFIX = "run_"
PREVIEW_MAX_PARTITIONS = 5


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
    lines += [f"| {k} | {_plain(v)} |" for k, v in rows.items()]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, dg.MetadataValue) and isinstance(value.value, (str, int, float)) else value


def typed_metadata(details: Mapping[str, Any]) -> dict[str, Any]:
    """Plain numbers and strings as typed metadata values (MetadataValue instances pass through)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, (dg.MetadataValue, dg.TableSchema)):
            out[key] = value
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        else:
            out[key] = dg.MetadataValue.float(float(value))
    return out


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
    meta |= typed_metadata(details)
    md = f"**{frame.height:,} rows** for `{scope_label}`\n\n" + markdown_table({"rows": f"{frame.height:,}", **details})
    if frame.height and preview_rows:
        md += "\n\n" + frame.head(preview_rows).to_pandas().to_markdown(index=False)
    meta["summary"] = dg.MetadataValue.md(md)
    return meta


def _run_names(details: Mapping[str, Any] | None) -> dict[str, Any]:
    return {(k if k.startswith(RUN_PREFIX) else f"{RUN_PREFIX}{k}"): v for k, v in (details or {}).items()}


def partition_metadata(
    context: dg.AssetExecutionContext | None,
    frame: pl.DataFrame,
    sessions: Sequence[Any],
    scope_label: str,
    run_summary: Mapping[str, Any] | None = None,
    per_partition: Mapping[Any, Mapping[str, Any]] | None = None,
    date_column: str = "trade_date",
    preview_rows: int = 5,
) -> dict[str, Any]:
    """The metadata of a run over ``sessions``; each partition's own numbers go on its event.

    ``frame`` holds the rows written (with ``date_column``); ``per_partition`` maps a session to
    that partition's own numbers (e.g. rejected records); ``run_summary`` holds numbers of the
    whole run (timings, files read), reported as ``run_<name>``. Returns the metadata for the
    ``MaterializeResult``. With one session, partition and run are the same thing and this is
    :func:`standard_metadata` with the run's numbers added.
    """
    per_partition = per_partition or {}
    if len(sessions) <= 1:
        own = dict(per_partition.get(sessions[0], {})) if sessions else {}
        # The partition's own numbers (and its summary) first, the run's after them.
        return standard_metadata(frame, scope_label, own, preview_rows=preview_rows) | typed_metadata(_run_names(run_summary))
    counts: dict[Any, int] = {}
    if frame.height and date_column in frame.columns:
        counts = dict(frame.group_by(date_column).len().iter_rows())
    preview = preview_rows if len(sessions) <= PREVIEW_MAX_PARTITIONS else 0
    for day in sessions:
        key = day.isoformat() if hasattr(day, "isoformat") else str(day)
        rows = int(counts.get(day, 0))
        own = dict(per_partition.get(day, {}))
        meta: dict[str, Any] = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "partition_range": dg.MetadataValue.text(key),
            **typed_metadata(own),
        }
        md = f"**{rows:,} rows** for `{key}` (one partition of a run over `{scope_label}`)\n\n"
        md += markdown_table({"rows": f"{rows:,}", **own})
        if preview and rows:
            md += "\n\n" + frame.filter(pl.col(date_column) == day).head(preview).to_pandas().to_markdown(index=False)
        meta["summary"] = dg.MetadataValue.md(md)
        if context is not None:
            context.add_asset_metadata(meta, partition_key=key)
    return {
        "dagster/column_schema": column_schema(frame),
        "run_partition_range": dg.MetadataValue.text(scope_label),
        "run_rows": dg.MetadataValue.int(frame.height),
        **typed_metadata(_run_names(run_summary)),
    }


def materialize_result(
    context: dg.AssetExecutionContext | None,
    sessions: Sequence[Any],
    metadata: Mapping[str, Any],
    check_results: Sequence[dg.AssetCheckResult] = (),
) -> dg.MaterializeResult:
    """The result of a run over ``sessions``, with each partition's own numbers shown first.

    Dagster lists a partition's metadata as the run's entries followed by the partition's own
    (``context.add_asset_metadata``), so a ranged run's shared entries would sit above the
    numbers a reader looks for. For a range, the shared ``metadata`` is therefore appended to
    every partition's own instead, and the result itself carries none.
    """
    check_results = [*check_results, *_freshness(context, sessions)]
    if context is None or len(sessions) <= 1:
        return dg.MaterializeResult(metadata=dict(metadata), check_results=check_results)
    for day in sessions:
        key = day.isoformat() if hasattr(day, "isoformat") else str(day)
        context.add_asset_metadata(dict(metadata), partition_key=key)
    return dg.MaterializeResult(check_results=check_results)


def _freshness(context: dg.AssetExecutionContext | None, sessions: Sequence[Any]) -> list[dg.AssetCheckResult]:
    """``latest_session_fresh`` for the asset being written, when it declares the check."""
    if context is None or not any(spec.name == FRESHNESS_CHECK for spec in context.assets_def.check_specs):
        return []
    return [freshness_result(context.instance, context.asset_key, dt.datetime.now(dt.timezone.utc), sessions)]
