"""The run shape both bronze assets share: refresh the index, parse what the range needs, commit.

1. ``plan_refresh``: list the landing files (``landing_files.scan``, waiting for files still
   being written); new or changed files (size or mtime) are parsed fully — that indexes them
   (per-day byte spans, min/max timestamp, content hash) and finds their unplaceable records —
   and their rows of the run's range are kept from that same pass, so a file is never read
   twice in one run. Deleted files leave the index.
2. Unchanged files are opened only if their indexed span overlaps the run's ownership window,
   and only that byte span is read.
3. Nothing on disk fails the run: entries the scan skipped (symlinks out of the root, loops,
   unreadable or unsettled files, …) and files that fail when read (vanished, permission
   denied) are logged, counted, and quarantined as *file problems* — one row each with
   ``source_line`` 0 and an empty ``raw``: with the trade dates the index says the file holds
   in the run's range, else with a NULL trade_date. Every other file's rows are written.
4. The caller turns the placed rows into table rows and quarantine rows, and ``commit`` writes,
   in ONE transaction: the index changes (with the re-indexed files' NULL-trade_date quarantine
   rows), the file problems no partition owns, the table's trade_date range, and the dataset's
   quarantine rows of that range.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from finsig_assets import landing_files
from finsig_assets.bronze.landing_index import (
    DAYS_TABLE_SCHEMA,
    HELD_KINDS,
    INDEX_SCHEMA,
    IndexPlan,
    LandedFile,
    indexed_days,
    plan_refresh,
    spans_for_window,
    write_file_problems,
    write_index_changes,
)
from finsig_assets.bronze.quarantine import quarantine_rows, reason_summary
from finsig_assets.bronze.records import DAY_SPAN_SCHEMA, QUARANTINE_SCHEMA, UNPLACEABLE_SCHEMA, UTC_US
from finsig_assets.bronze.stale_sessions import mark_stale_sessions
from finsig_assets.landing_files import LandingReadError, SkippedEntry
from finsig_assets.partition_scope import PartitionScope
from finsig_assets.warehouse import Warehouse

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes

MAX_FILE_WARNINGS = 20
Span = tuple[int, int, int]  # byte_start, byte_end, first line
Keep = tuple[dt.date, dt.date]
WorkItem = tuple[LandedFile, Span | None]  # a file to parse, and its byte span (None: the whole file)

# A file-level problem: one quarantine row per (file, trade date), source_line 0, raw ''.
FILE_PROBLEM_SCHEMA: ColumnTypes = {
    "source_file": pl.String,
    "source_line": pl.Int64,
    "trade_date": pl.Date,
    "kind": pl.String,
    "reason": pl.String,
    "raw": pl.String,
}


@dataclass(frozen=True)
class FileCounts:
    """What parsing one file (or its span) counted."""

    lines: int
    blank_lines: int
    duplicate_lines: int = 0  # exact duplicate lines inside one news batch
    non_article_lines: int = 0
    non_article: bool = False  # a JSON file that is not an article (e.g. seen_articles.json)


@dataclass
class BatchParse:
    """Several files parsed together; every frame carries ``file``, the position in the batch.

    ``counts`` holds each file's :class:`FileCounts`, in batch order. ``digests`` holds the
    SHA-256 of files read whole (None for a span). ``failures`` holds the files that could not
    be read, by position: the frames hold nothing of them."""

    placed: pl.DataFrame
    unplaceable: pl.DataFrame
    days: pl.DataFrame
    counts: list[FileCounts]
    digests: list[str | None] = field(default_factory=list)
    failures: dict[int, LandingReadError] = field(default_factory=dict)


ParseBatchFn = Callable[[list[WorkItem], Keep], BatchParse]


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
    placed: pl.DataFrame  # placed rows in range, + source_file, file_first_seen_at
    index_rows: pl.DataFrame
    day_rows: pl.DataFrame
    unplaceable_quarantine: pl.DataFrame
    unplaceable_summary: pl.DataFrame
    replaced_paths: list[str]
    counters: dict[str, int] = field(default_factory=dict)
    parse_seconds: float = 0.0
    skipped: list[SkippedEntry] = field(default_factory=list)  # not read: scan skips + read failures
    file_problems: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FILE_PROBLEM_SCHEMA))
    unplaceable: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={**UNPLACEABLE_SCHEMA, "source_file": pl.String}))

    def skipped_by_kind(self) -> dict[str, int]:
        return landing_files.count_kinds(self.skipped)

    def counted_rejections(self) -> pl.DataFrame:
        """``kind``/``reason`` of what the run rejected outside any partition's placed records:
        unplaceable records of files indexed by this run, and one per file not read."""
        per_file = self.file_problems.unique(subset=["source_file", "kind"], keep="first", maintain_order=True)
        return pl.concat([self.unplaceable.select("kind", "reason"), per_file.select("kind", "reason")])


def _groups(items: list[WorkItem], max_files: int, max_bytes: int) -> list[list[WorkItem]]:
    """Batches of files: at most ``max_files`` files or about ``max_bytes`` bytes each."""
    out: list[list[WorkItem]] = []
    current: list[WorkItem] = []
    size = 0
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


def file_problem_rows(
    warehouse: Warehouse,
    dataset: str,
    scope: PartitionScope,
    skipped: list[SkippedEntry],
    indexed_paths: set[str],
    read_failures: set[str],
) -> pl.DataFrame:
    """One quarantine row per (file not read, trade date): the run's sessions the index says the
    file holds (for a file still there but not readable now), else one row with a NULL date."""
    placeable = [s.path for s in skipped if s.path in indexed_paths and (s.kind in HELD_KINDS or s.path in read_failures)]
    days = indexed_days(warehouse, dataset, scope.window, placeable)
    rows = []
    for entry in skipped:
        for day in days.get(entry.path, [None]) if entry.path in placeable else [None]:
            rows.append((entry.path, 0, day, entry.kind, entry.reason, ""))
    return pl.DataFrame(rows, schema=FILE_PROBLEM_SCHEMA, orient="row")


@dataclass(frozen=True)
class WorkPlan:
    """What the run reads: the index refresh plan, and the files to parse in order (the changed
    files whole, then the unchanged files' spans in the run's window)."""

    plan: IndexPlan
    spans: dict[str, Span]  # unchanged files with records in the window: their byte span
    work: list[WorkItem]
    first_seen: dict[str, dt.datetime]

    @property
    def n_indexing(self) -> int:
        """The first ``n_indexing`` items of ``work`` are the changed files, parsed whole to re-index them."""
        return len(self.plan.changed)


@dataclass
class LineTotals:
    lines: int = 0
    blank_lines: int = 0
    duplicate_lines: int = 0
    non_article_lines: int = 0
    files_with_rows: int = 0

    def add_counts(self, counts: list[FileCounts]) -> None:
        for c in counts:
            self.lines += c.lines
            self.blank_lines += c.blank_lines
            self.duplicate_lines += c.duplicate_lines
            self.non_article_lines += c.non_article_lines


@dataclass
class ParsedWork:
    """Every batch's frames and counts, gathered as the batches are parsed."""

    placed: list[pl.DataFrame] = field(default_factory=list)
    index_rows: list[pl.DataFrame] = field(default_factory=list)
    day_rows: list[pl.DataFrame] = field(default_factory=list)
    unplaceable: list[pl.DataFrame] = field(default_factory=list)
    failures: list[tuple[LandedFile, LandingReadError]] = field(default_factory=list)
    totals: LineTotals = field(default_factory=LineTotals)
    files_warned: int = 0  # files with unplaceable records (a warning each, up to MAX_FILE_WARNINGS)


@dataclass(frozen=True)
class ParsedFrames:
    """The parsed batches' frames, concatenated (empty frames of the right schema when none)."""

    placed: pl.DataFrame
    index_rows: pl.DataFrame
    day_rows: pl.DataFrame
    unplaceable: pl.DataFrame


@dataclass(frozen=True)
class NotRead:
    """Files not read: what the scan skipped, and what failed when read."""

    skipped: list[SkippedEntry]
    failed_paths: set[str]
    file_problems: pl.DataFrame


def _plan_work(
    warehouse: Warehouse,
    landing_root: Path,
    dataset: str,
    scope: PartitionScope,
    run_at: dt.datetime,
    settle: float,
    log: logging.Logger | Any,
) -> WorkPlan:
    """Refresh plan of the landing index, and the files (or spans) the run must parse."""
    plan = plan_refresh(warehouse, landing_root, dataset, settle_seconds=settle, log=log)
    log.info(
        f"bronze/{dataset} {scope.label}: {len(plan.files):,} landed files, {len(plan.changed):,} new or changed "
        f"to index, {len(plan.deleted):,} deleted, {len(plan.skipped):,} skipped"
    )
    if plan.deleted:
        log.info(
            f"bronze/{dataset}: {len(plan.deleted):,} file(s) left the landing zone and the index (e.g. {plan.deleted[0]}); "
            "their rows stay in the partitions that hold them until those are materialized again"
        )
    unchanged = {f.path: f for f in plan.unchanged}
    spans = spans_for_window(warehouse, dataset, scope.window, unchanged)
    work: list[WorkItem] = [(f, None) for f in plan.changed]
    work += [(unchanged[p], span) for p, span in spans.items()]
    return WorkPlan(plan=plan, spans=spans, work=work, first_seen=plan.first_seen(run_at))


def _batch_files(group: list[WorkItem], bp: BatchParse, first_seen: dict[str, dt.datetime], indexing: list[bool]) -> pl.DataFrame:
    """One row per file of a parsed batch (``file`` is its position in the batch)."""
    digests = bp.digests or [None] * len(group)
    return pl.DataFrame(
        {
            "file": list(range(len(group))),
            "source_file": [landed.path for landed, _ in group],
            "size": [landed.size for landed, _ in group],
            "mtime_ns": [landed.mtime_ns for landed, _ in group],
            "first_seen_at": [first_seen[landed.path] for landed, _ in group],
            "content_sha256": digests,
            "indexing": indexing,
            "n_lines": [c.lines for c in bp.counts],
            "n_blank": [c.blank_lines for c in bp.counts],
            "non_article": [c.non_article for c in bp.counts],
        },
        schema={
            "file": pl.Int64,
            "source_file": pl.String,
            "size": pl.Int64,
            "mtime_ns": pl.Int64,
            "first_seen_at": UTC_US,
            "content_sha256": pl.String,
            "indexing": pl.Boolean,
            "n_lines": pl.Int64,
            "n_blank": pl.Int64,
            "non_article": pl.Boolean,
        },
    )


def _placed_rows(bp: BatchParse, files: pl.DataFrame) -> pl.DataFrame:
    """A batch's placed rows, with their file's ``source_file`` and ``file_first_seen_at``."""
    return bp.placed.join(
        files.select("file", "source_file", pl.col("first_seen_at").alias("file_first_seen_at")),
        on="file",
        how="left",
    ).drop("file")


def _index_rows(indexing: pl.DataFrame, days: pl.DataFrame, unplaceable: pl.DataFrame, dataset: str, run_at: dt.datetime) -> pl.DataFrame:
    """The landing index rows of the files a batch re-indexed."""
    per_file_days = days.group_by("file").agg(pl.col("min_ts").min(), pl.col("max_ts").max(), pl.col("n_records").sum())
    per_file_unplaceable = unplaceable.group_by("file").agg(pl.len().cast(pl.Int64).alias("n_unplaceable"))
    return (
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
            "first_seen_at",
            "content_sha256",
        )
        # polars types cast()'s argument as Mapping[str | selector | dtype, ...], which no Mapping[str, ...] matches (invariant keys)
        .cast(INDEX_SCHEMA)  # type: ignore[arg-type]
    )


def _add_indexed(
    parsed: ParsedWork, bp: BatchParse, indexing: pl.DataFrame, dataset: str, run_at: dt.datetime, log: logging.Logger | Any
) -> None:
    """Day spans, unplaceable records and index rows of the files a batch re-indexed (a warning per
    file with unplaceable records, up to MAX_FILE_WARNINGS in the run)."""
    ids = indexing["file"]
    days = bp.days.filter(pl.col("file").is_in(ids.implode()))
    unplaceable = bp.unplaceable.filter(pl.col("file").is_in(ids.implode()))
    paths = indexing.select("file", pl.col("source_file").alias("path"))
    parsed.day_rows.append(days.join(paths, on="file").with_columns(pl.lit(dataset).alias("dataset")).select(list(DAYS_TABLE_SCHEMA)))
    if unplaceable.height:
        parsed.unplaceable.append(unplaceable.join(indexing.select("file", "source_file"), on="file").drop("file"))
        per_path = unplaceable.join(indexing.select("file", "source_file"), on="file").group_by("source_file").len()
        for path, n in per_path.sort("source_file").iter_rows():
            parsed.files_warned += 1
            if parsed.files_warned <= MAX_FILE_WARNINGS:
                log.warning(f"bronze/{dataset}: {path} has {n:,} record(s) with no usable timestamp (quarantined with a NULL trade_date)")
    parsed.index_rows.append(_index_rows(indexing, days, unplaceable, dataset, run_at))


def _parse_work(
    work_plan: WorkPlan,
    parse_batch: ParseBatchFn,
    keep: Keep,
    dataset: str,
    run_at: dt.datetime,
    log: logging.Logger | Any,
    log_every: int,
    batch_files: int,
    batch_bytes: int,
) -> ParsedWork:
    """Parse the work in batches, keeping the placed rows of the range and the re-indexed files' index rows."""
    parsed = ParsedWork()
    work, n_indexing = work_plan.work, work_plan.n_indexing
    done = next_log = 0
    position = 0
    for group in _groups(work, batch_files, batch_bytes):
        bp = parse_batch(group, keep)
        parsed.failures += [(group[i][0], err) for i, err in sorted(bp.failures.items())]
        indexing = [position + i < n_indexing and i not in bp.failures for i in range(len(group))]
        files = _batch_files(group, bp, work_plan.first_seen, indexing)
        position += len(group)
        parsed.totals.add_counts(bp.counts)
        if bp.placed.height:
            parsed.totals.files_with_rows += bp.placed["file"].n_unique()
            parsed.placed.append(_placed_rows(bp, files))
        indexed = files.filter(pl.col("indexing"))
        if indexed.height:
            _add_indexed(parsed, bp, indexed, dataset, run_at, log)
        done += len(group)
        if log_every and done >= next_log + log_every:
            next_log = done - done % log_every
            log.info(
                f"bronze/{dataset}: parsed {done:,}/{len(work):,} files ({min(done, n_indexing):,} indexed), "
                f"{parsed.totals.lines:,} lines"
            )
    if parsed.files_warned > MAX_FILE_WARNINGS:
        log.warning(f"bronze/{dataset}: {parsed.files_warned - MAX_FILE_WARNINGS:,} more file(s) with unplaceable records")
    return parsed


def _concat_frames(parsed: ParsedWork, placed_schema: ColumnTypes) -> ParsedFrames:
    placed = (
        pl.concat(parsed.placed, how="vertical")
        if parsed.placed
        else pl.DataFrame(schema={**placed_schema, "source_file": pl.String, "file_first_seen_at": UTC_US})
    )
    return ParsedFrames(
        placed=placed,
        index_rows=pl.concat(parsed.index_rows) if parsed.index_rows else pl.DataFrame(schema=INDEX_SCHEMA),
        day_rows=pl.concat(parsed.day_rows) if parsed.day_rows else pl.DataFrame(schema=DAYS_TABLE_SCHEMA),
        unplaceable=(
            pl.concat(parsed.unplaceable, how="vertical")
            if parsed.unplaceable
            else pl.DataFrame(schema={**UNPLACEABLE_SCHEMA, "source_file": pl.String})
        ),
    )


def _files_not_read(
    warehouse: Warehouse,
    dataset: str,
    scope: PartitionScope,
    plan: IndexPlan,
    failures: list[tuple[LandedFile, LandingReadError]],
    log: logging.Logger | Any,
) -> NotRead:
    """What the scan skipped and what failed when read, logged (never silent) and as file problem rows."""
    failed_paths = {landed.path for landed, _ in failures}
    skipped = plan.skipped + [err.skipped() for _, err in failures]
    for i, entry in enumerate(skipped):
        if i < MAX_FILE_WARNINGS:
            log.warning(f"bronze/{dataset}: {entry.path} not read ({entry.kind}): {entry.reason}")
    if len(skipped) > MAX_FILE_WARNINGS:
        log.warning(f"bronze/{dataset}: {len(skipped) - MAX_FILE_WARNINGS:,} more landing entries not read")
    indexed_paths = set(plan.indexed["path"].to_list())
    problems = file_problem_rows(warehouse, dataset, scope, skipped, indexed_paths, failed_paths)
    return NotRead(skipped=skipped, failed_paths=failed_paths, file_problems=problems)


def _counters(work_plan: WorkPlan, frames: ParsedFrames, totals: LineTotals, not_read: NotRead) -> dict[str, int]:
    """The run's file and line counts, with the index totals after this refresh (unchanged and held
    rows as they were, plus the new versions)."""
    plan, spans, failed_paths = work_plan.plan, work_plan.spans, not_read.failed_paths
    kept_paths = [f.path for f in plan.unchanged] + plan.held + [f.path for f in plan.changed if f.path in failed_paths]
    surviving = plan.indexed.filter(pl.col("path").is_in(kept_paths))
    # polars' cast() typing: see _index_rows.
    surviving_rows = surviving.select(frames.index_rows.columns).cast(INDEX_SCHEMA)  # type: ignore[arg-type]
    after = pl.concat([surviving_rows, frames.index_rows])
    return {
        "files_landed": len(plan.files),
        "files_indexed": len(plan.changed) - len(failed_paths & {f.path for f in plan.changed}),
        "files_new": len(plan.new),
        "files_deleted": len(plan.deleted),
        "files_read_for_range": len(spans),
        "files_parsed": len(plan.changed) + len(spans) - len(failed_paths),
        "files_outside_range": len(plan.unchanged) - len(spans),
        "files_not_read": len(not_read.skipped),
        "files_with_rows_in_range": totals.files_with_rows,
        "lines_read": totals.lines,
        "blank_lines": totals.blank_lines,
        "unplaceable_records": frames.unplaceable.height,
        "unplaceable_total": int(after["n_unplaceable"].sum() or 0),
        "non_article_files": int(after["non_article"].sum() or 0),
        "non_article_lines": totals.non_article_lines,
        "duplicate_lines": totals.duplicate_lines,
    }


def collect(
    *,
    dataset: str,
    warehouse: Warehouse,
    landing_root: Path,
    scope: PartitionScope,
    parse_batch: ParseBatchFn,
    placed_schema: ColumnTypes,
    run_at: dt.datetime,
    log: logging.Logger | Any,
    log_every: int = 500,
    batch_files: int = 2000,
    batch_bytes: int = 256 << 20,
    settle_seconds: float | None = None,
) -> Collected:
    """Plan the refresh, parse what the range needs, account for the files not read, count."""
    started = time.perf_counter()
    settle = landing_files.settle_seconds() if settle_seconds is None else settle_seconds
    work_plan = _plan_work(warehouse, landing_root, dataset, scope, run_at, settle, log)
    keep: Keep = (scope.first, scope.last)
    parsed = _parse_work(work_plan, parse_batch, keep, dataset, run_at, log, log_every, batch_files, batch_bytes)
    frames = _concat_frames(parsed, placed_schema)
    not_read = _files_not_read(warehouse, dataset, scope, work_plan.plan, parsed.failures, log)
    counters = _counters(work_plan, frames, parsed.totals, not_read)
    plan = work_plan.plan
    return Collected(
        dataset=dataset,
        placed=frames.placed,
        index_rows=frames.index_rows,
        day_rows=frames.day_rows,
        unplaceable_quarantine=quarantine_rows(dataset, frames.unplaceable, run_at, placed=False),
        unplaceable_summary=reason_summary(frames.unplaceable),
        replaced_paths=[f.path for f in plan.changed if f.path not in not_read.failed_paths] + plan.deleted,
        counters=counters,
        parse_seconds=time.perf_counter() - started,
        skipped=not_read.skipped,
        file_problems=not_read.file_problems,
        unplaceable=frames.unplaceable,
    )


def commit(
    warehouse: Warehouse,
    collected: Collected,
    table: str,
    rows: pl.DataFrame,
    quarantine: pl.DataFrame,
    scope: PartitionScope,
    run_at: dt.datetime | None = None,
) -> float:
    """Index changes + file problems + the range's table rows + the range's quarantine rows
    (to which the file problems placed in the range are added), in one transaction."""
    started = time.perf_counter()
    run_at = run_at or dt.datetime.now(dt.timezone.utc)
    problems = collected.file_problems
    placed_problems = quarantine_rows(collected.dataset, problems.filter(pl.col("trade_date").is_not_null()), run_at)
    unplaced_problems = quarantine_rows(collected.dataset, problems.filter(pl.col("trade_date").is_null()), run_at, placed=False)
    parts = [q for q in (quarantine, placed_problems) if q.height]
    # polars' cast() typing: see _index_rows.
    typed = [q.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA) for q in parts]  # type: ignore[arg-type]
    quarantine = pl.concat(typed) if parts else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    with warehouse.transaction() as tx:
        mark_stale_sessions(tx, collected.dataset, collected.replaced_paths, collected.day_rows, scope, run_at)
        write_index_changes(
            tx,
            collected.dataset,
            collected.replaced_paths,
            collected.index_rows,
            collected.day_rows,
            collected.unplaceable_quarantine,
        )
        write_file_problems(tx, collected.dataset, unplaced_problems)
        tx.replace(table, rows, scope.first, scope.last)
        tx.replace("bronze.quarantine", quarantine, scope.first, scope.last, dataset=collected.dataset)
    return time.perf_counter() - started
