"""The metadata of a bronze run: each partition its own counts, the run its totals.

A run covers a range of sessions (single-run backfills). Counts that belong to a session —
rows, accepted, rejected, duplicates — are grouped by trade date and go on that partition's
materialization (``materialization_metadata.partition_metadata``); counts that belong to the run
— files listed, indexed, not read, records with no usable timestamp, timings — are named
``run_<name>``. The ``rejection_rate`` check stays one result per run, over the whole range.

A partition's ``rejection_rate`` is over the records placed in it; ``run_rejection_rate`` (the
check's rate) also counts the records with no usable timestamp in files the run indexed and
the landing files it could not read, which belong to no partition.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl

from finsig_assets.bronze.ingest import Collected
from finsig_assets.bronze.quarantine import counts_by_kind, reasons_markdown
from finsig_assets.materialization_metadata import column_schema, partition_metadata
from finsig_assets.partition_scope import PartitionScope

MAX_LISTED_FILES = 20


def per_session_counts(sessions: Sequence[dt.date], **frames: pl.DataFrame) -> dict[dt.date, dict[str, int]]:
    """``{session: {name: rows of frames[name] with that trade_date}}`` (0 where none)."""
    out = {day: {name: 0 for name in frames} for day in sessions}
    for name, frame in frames.items():
        if not frame.height:
            continue
        for day, n in frame.group_by("trade_date").len().iter_rows():
            if day in out:
                out[day][name] = int(n)
    return out


def rate(rejected: int, accepted: int) -> float:
    return rejected / (accepted + rejected) if accepted + rejected else 0.0


def files_not_read_markdown(collected: Collected, top: int = MAX_LISTED_FILES) -> str:
    if not collected.skipped:
        return "_every landing file was read_"
    lines = ["| path | kind | reason |", "|---|---|---|"]
    for entry in collected.skipped[:top]:
        path, reason = (text.replace("|", "\\|").replace("\n", " ") for text in (entry.path, entry.reason))
        lines.append(f"| {path} | {entry.kind} | {reason} |")
    if len(collected.skipped) > top:
        lines.append(f"| _{len(collected.skipped) - top:,} more_ | | |")
    return "\n".join(lines)


def bronze_metadata(
    context: dg.AssetExecutionContext | None,
    rows: pl.DataFrame,
    scope: PartitionScope,
    collected: Collected,
    *,
    per_partition: Mapping[dt.date, Mapping[str, Any]],
    run_summary: Mapping[str, Any],
    placed_summary: pl.DataFrame,
    counted_summary: pl.DataFrame,
    preview: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Per-partition metadata (through ``context``) and the run's metadata (returned).

    ``placed_summary`` summarises the rejections placed in the range; ``counted_summary``
    everything the check counts (those, plus unplaceable records and files not read).
    ``preview`` is the frame shown (default ``rows``); the column schema is always ``rows``'."""
    meta = partition_metadata(
        context,
        rows if preview is None else preview,
        scope.sessions,
        scope.label,
        run_summary=run_summary,
        per_partition=per_partition,
    )
    if len(scope.sessions) <= 1:  # a range's partitions show the definition's columns (the DDL)
        meta["dagster/column_schema"] = column_schema(rows)
    meta["run_rejected_by_reason"] = dg.MetadataValue.json(counts_by_kind(placed_summary))
    meta["run_rejections"] = dg.MetadataValue.md(reasons_markdown(counted_summary))
    meta["run_unplaceable_by_reason"] = dg.MetadataValue.json(counts_by_kind(collected.unplaceable_summary))
    meta["run_files_not_read_by_reason"] = dg.MetadataValue.json(collected.skipped_by_kind())
    meta["run_files_not_read_list"] = dg.MetadataValue.md(files_not_read_markdown(collected))
    return meta
