"""The run shape both bronze assets share: refresh the index, parse what the range needs, commit.

1. ``plan_refresh``: stat every landed file of the dataset; new or changed files (size or mtime)
   are parsed fully — that indexes them (per-day byte spans, min/max timestamp) and finds their
   unplaceable records — and their rows of the run's range are kept from that same pass, so a
   file is never read twice in one run. Deleted files leave the index.
2. Unchanged files are opened only if their indexed span overlaps the run's ownership window,
   and only that byte span is read.
3. The caller turns the placed rows into table rows and quarantine rows, and ``commit`` writes,
   in ONE transaction: the index changes (with the re-indexed files' NULL-trade_date quarantine
   rows), the table's trade_date range, and the dataset's quarantine rows of that range.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from finsig_assets.bronze.landing_index import (
    DAYS_TABLE_SCHEMA,
    INDEX_SCHEMA,
    LandedFile,
    plan_refresh,
    spans_for_window,
    write_index_changes,
)
from finsig_assets.bronze.quarantine import quarantine_rows, reason_summary
from finsig_assets.bronze.records import DAY_SPAN_SCHEMA, QUARANTINE_SCHEMA, UNPLACEABLE_SCHEMA
from finsig_assets.partition_scope import PartitionScope
from finsig_assets.warehouse import DuckDBWarehouse

MAX_FILE_WARNINGS = 20
Span = tuple[int, int, int]  # byte_start, byte_end, first line
Keep = tuple[dt.date, dt.date]


@dataclass
class BatchParse:
    """Several files parsed together; every frame carries ``file``, the position in the batch.

    ``counts`` holds, per file in batch order: (lines, blank_lines, duplicate_lines,
    non_article_lines, non_article)."""

    placed: pl.DataFrame
    unplaceable: pl.DataFrame
    days: pl.DataFrame
    counts: list[tuple[int, int, int, int, bool]]


ParseBatchFn = Callable[[list[tuple[LandedFile, "Span | None"]], Keep], BatchParse]


def combine_file_days(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Merge per-chunk day spans (``file`` + DAY_SPAN_SCHEMA) into one row per (file, trade_date)."""
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema={"file": pl.Int64, **DAY_SPAN_SCHEMA})
    return (
        pl.concat(parts)
        .group_by("file", "trade_date")
        .agg(
            pl.col("n_records").sum(),
            pl.col("byte_start").min(),
            pl.col("byte_end").max(),
            pl.col("line_start").min(),
            pl.col("min_ts").min(),
            pl.col("max_ts").max(),
        )
        .select(["file", *DAY_SPAN_SCHEMA])
        .sort("file", "trade_date")
    )


@dataclass
class Collected:
    dataset: str
    placed: pl.DataFrame  # placed rows in range, + source_file, file_mtime_ns
    index_rows: pl.DataFrame
    day_rows: pl.DataFrame
    unplaceable_quarantine: pl.DataFrame
    unplaceable_summary: pl.DataFrame
    replaced_paths: list[str]
    counters: dict[str, int] = field(default_factory=dict)
    parse_seconds: float = 0.0


def _groups(items: list, max_files: int, max_bytes: int) -> list[list]:
    """Batches of files: at most ``max_files`` files or about ``max_bytes`` bytes each."""
    out, current, size = [], [], 0
    for item in items:
        landed, span = item
        current.append(item)
        size += (span[1] - span[0]) if span else landed.size
        if len(current) >= max_files or size >= max_bytes:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def collect(
    *,
    dataset: str,
    warehouse: DuckDBWarehouse,
    landing_root: Path,
    scope: PartitionScope,
    parse_batch: ParseBatchFn,
    placed_schema: dict[str, pl.DataType],
    run_at: dt.datetime,
    log: logging.Logger | Any,
    log_every: int = 500,
    batch_files: int = 2000,
    batch_bytes: int = 256 << 20,
) -> Collected:
    started = time.perf_counter()
    plan = plan_refresh(warehouse, landing_root, dataset)
    keep: Keep = (scope.first, scope.last)
    log.info(
        f"bronze/{dataset} {scope.label}: {len(plan.files):,} landed files, {len(plan.changed):,} new or changed "
        f"to index, {len(plan.deleted):,} deleted"
    )
    if plan.deleted:
        log.info(
            f"bronze/{dataset}: {len(plan.deleted):,} file(s) left the landing zone and the index (e.g. {plan.deleted[0]}); "
            "their rows stay in the partitions that hold them until those are materialized again"
        )
    unchanged = {f.path: f for f in plan.unchanged}
    spans = spans_for_window(warehouse, dataset, scope.window, unchanged)
    work = [(f, None) for f in plan.changed] + [(unchanged[p], span) for p, span in spans.items()]
    n_indexing = len(plan.changed)

    placed_frames: list[pl.DataFrame] = []
    index_frames: list[pl.DataFrame] = []
    day_frames: list[pl.DataFrame] = []
    unplaceable_frames: list[pl.DataFrame] = []
    totals = dict(lines=0, blank_lines=0, duplicate_lines=0, non_article_lines=0, files_with_rows=0)
    done = next_log = 0
    position = 0
    warned = 0
    for group in _groups(work, batch_files, batch_bytes):
        bp = parse_batch(group, keep)
        files = pl.DataFrame(
            {
                "file": list(range(len(group))),
                "source_file": [landed.path for landed, _ in group],
                "size": [landed.size for landed, _ in group],
                "mtime_ns": [landed.mtime_ns for landed, _ in group],
                "indexing": [position + i < n_indexing for i in range(len(group))],
                "n_lines": [c[0] for c in bp.counts],
                "n_blank": [c[1] for c in bp.counts],
                "non_article": [bool(c[4]) for c in bp.counts],
            },
            schema={
                "file": pl.Int64,
                "source_file": pl.String,
                "size": pl.Int64,
                "mtime_ns": pl.Int64,
                "indexing": pl.Boolean,
                "n_lines": pl.Int64,
                "n_blank": pl.Int64,
                "non_article": pl.Boolean,
            },
        )
        position += len(group)
        for c in bp.counts:
            totals["lines"] += c[0]
            totals["blank_lines"] += c[1]
            totals["duplicate_lines"] += c[2]
            totals["non_article_lines"] += c[3]
        if bp.placed.height:
            totals["files_with_rows"] += bp.placed["file"].n_unique()
            placed_frames.append(
                bp.placed.join(
                    files.select("file", "source_file", pl.col("mtime_ns").alias("file_mtime_ns")), on="file", how="left"
                ).drop("file")
            )
        indexing = files.filter(pl.col("indexing"))
        if indexing.height:
            ids = indexing["file"]
            days = bp.days.filter(pl.col("file").is_in(ids.implode()))
            unplaceable = bp.unplaceable.filter(pl.col("file").is_in(ids.implode()))
            paths = indexing.select("file", pl.col("source_file").alias("path"))
            day_frames.append(
                days.join(paths, on="file").with_columns(pl.lit(dataset).alias("dataset")).select(list(DAYS_TABLE_SCHEMA))
            )
            if unplaceable.height:
                unplaceable_frames.append(unplaceable.join(indexing.select("file", "source_file"), on="file").drop("file"))
                for path, n in (
                    unplaceable.join(indexing.select("file", "source_file"), on="file")
                    .group_by("source_file")
                    .len()
                    .sort("source_file")
                    .iter_rows()
                ):
                    warned += 1
                    if warned <= MAX_FILE_WARNINGS:
                        log.warning(
                            f"bronze/{dataset}: {path} has {n:,} record(s) with no usable timestamp "
                            "(quarantined with a NULL trade_date)"
                        )
            per_file_days = days.group_by("file").agg(
                pl.col("min_ts").min(), pl.col("max_ts").max(), pl.col("n_records").sum()
            )
            per_file_unplaceable = unplaceable.group_by("file").agg(pl.len().cast(pl.Int64).alias("n_unplaceable"))
            index_frames.append(
                indexing.join(per_file_days, on="file", how="left")
                .join(per_file_unplaceable, on="file", how="left")
                .select(
                    pl.lit(dataset).alias("dataset"),
                    pl.col("source_file").alias("path"),
                    "size",
                    "mtime_ns",
                    "min_ts",
                    "max_ts",
                    "n_lines",
                    pl.col("n_records").fill_null(0),
                    pl.col("n_unplaceable").fill_null(0),
                    "n_blank",
                    "non_article",
                    pl.lit(run_at).alias("indexed_at"),
                )
                .cast(INDEX_SCHEMA)
            )
        done += len(group)
        if log_every and done >= next_log + log_every:
            next_log = done - done % log_every
            log.info(
                f"bronze/{dataset}: parsed {done:,}/{len(work):,} files ({min(done, n_indexing):,} indexed), "
                f"{totals['lines']:,} lines"
            )

    if warned > MAX_FILE_WARNINGS:
        log.warning(f"bronze/{dataset}: {warned - MAX_FILE_WARNINGS:,} more file(s) with unplaceable records")
    placed = pl.concat(placed_frames, how="vertical") if placed_frames else pl.DataFrame(
        schema={**placed_schema, "source_file": pl.String, "file_mtime_ns": pl.Int64}
    )
    index_frame = pl.concat(index_frames) if index_frames else pl.DataFrame(schema=INDEX_SCHEMA)
    unplaceable = (
        pl.concat(unplaceable_frames, how="vertical")
        if unplaceable_frames
        else pl.DataFrame(schema={**UNPLACEABLE_SCHEMA, "source_file": pl.String})
    )

    # Index totals after this refresh (unchanged rows as they were, plus the new versions).
    surviving = plan.indexed.filter(pl.col("path").is_in([f.path for f in plan.unchanged]))
    after = pl.concat([surviving.select(index_frame.columns).cast(INDEX_SCHEMA), index_frame])
    counters = {
        "files_landed": len(plan.files),
        "files_indexed": len(plan.changed),
        "files_new": len(plan.new),
        "files_deleted": len(plan.deleted),
        "files_read_for_range": len(spans),
        "files_parsed": len(plan.changed) + len(spans),
        "files_skipped": len(plan.unchanged) - len(spans),
        "files_with_rows_in_range": totals["files_with_rows"],
        "lines_read": totals["lines"],
        "blank_lines": totals["blank_lines"],
        "unplaceable_records": unplaceable.height,
        "unplaceable_total": int(after["n_unplaceable"].sum() or 0),
        "non_article_files": int(after["non_article"].sum() or 0),
        "non_article_lines": totals["non_article_lines"],
        "duplicate_lines": totals["duplicate_lines"],
    }
    return Collected(
        dataset=dataset,
        placed=placed,
        index_rows=index_frame,
        day_rows=pl.concat(day_frames) if day_frames else pl.DataFrame(schema=DAYS_TABLE_SCHEMA),
        unplaceable_quarantine=quarantine_rows(dataset, unplaceable, run_at, placed=False),
        unplaceable_summary=reason_summary(unplaceable),
        replaced_paths=[f.path for f in plan.changed] + plan.deleted,
        counters=counters,
        parse_seconds=time.perf_counter() - started,
    )


def commit(
    warehouse: DuckDBWarehouse,
    collected: Collected,
    table: str,
    rows: pl.DataFrame,
    quarantine: pl.DataFrame,
    scope: PartitionScope,
) -> float:
    """Index changes + the range's table rows + the range's quarantine rows, in one transaction."""
    started = time.perf_counter()
    if quarantine.height == 0:
        quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    with warehouse.transaction() as tx:
        write_index_changes(
            tx,
            collected.dataset,
            collected.replaced_paths,
            collected.index_rows,
            collected.day_rows,
            collected.unplaceable_quarantine,
        )
        tx.replace(table, rows, scope.first, scope.last)
        tx.replace("bronze.quarantine", quarantine, scope.first, scope.last, dataset=collected.dataset)
    return time.perf_counter() - started
