"""What a bronze run does, for either dataset: collect, deduplicate, commit, rate, report.

Both bronze assets follow the same steps, and the guarantees live in the steps, so they are
written once here: the run's files are collected (``ingest.collect``: the landing index, the
parse, unreadable files quarantined), the placed records split into accepted and rejected, the
accepted deduplicated by the dataset's rule, the rows and quarantine rows committed with the
index changes in one transaction (``ingest.commit``), the rejection rate checked over every
record counted (placed, unplaceable, files not read), and each partition given its own counts.

A dataset says only what differs (:class:`BronzeDataset`): how a batch of files is parsed, how
copies are deduplicated and what that adds to the counts, how rows sort, and which collector
counters its run summary leaves out.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl

from finsig_assets.bronze.ingest import BatchParse, Collected, collect, commit
from finsig_assets.bronze.quarantine import quarantine_rows, reason_summary
from finsig_assets.bronze.records import UTC_US
from finsig_assets.bronze.rejection_rate_check import rejection_rate_result, resolve_max_rejection_rate
from finsig_assets.bronze.run_metadata import bronze_metadata, per_session_counts, rate
from finsig_assets.landing_zone import LandingZone
from finsig_assets.materialization_metadata import materialize_result
from finsig_assets.partition_scope import scope_of
from finsig_assets.warehouse import Warehouse, table_columns

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes


@dataclass
class Deduplicated:
    """A dataset's deduplication of the accepted records.

    ``losers``: copies that go to quarantine (counted per partition as ``losers_name``);
    ``per_partition``: more frames counted per partition (name -> frame with trade_date), listed
    before the losers; ``run_counts``: numbers for the run summary; ``log``: the run log's
    dataset-specific part."""

    kept: pl.DataFrame
    losers: pl.DataFrame
    losers_name: str
    per_partition: dict[str, pl.DataFrame] = field(default_factory=dict)
    run_counts: dict[str, int] = field(default_factory=dict)
    log: str = ""


@dataclass(frozen=True)
class BronzeDataset:
    dataset: str  # 'market' | 'news': the landing folder and the quarantine's dataset
    asset_key: Sequence[str]
    table: str
    sort_by: tuple[str, ...]
    placed_schema: ColumnTypes
    deduplicate: Callable[[pl.DataFrame, Collected, Path], Deduplicated]  # (accepted records, collected, landing root)
    # Counts the partitions add from their own numbers and rows (e.g. identical duplicates by
    # difference), given {session: counts} and the rows written.
    partition_counts: Callable[[dict[Any, dict[str, Any]], pl.DataFrame], None] | None = None
    hidden_counters: frozenset[str] = frozenset()
    preview: Callable[[pl.DataFrame], pl.DataFrame] | None = None

    @property
    def name(self) -> str:
        return "/".join(self.asset_key)


def build_bronze(
    context: dg.AssetExecutionContext,
    spec: BronzeDataset,
    parse_batch: Callable[..., BatchParse],
    warehouse: Warehouse,
    landing: LandingZone,
    max_rejection_rate: float | None,
    log_every_files: int,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    run_at = dt.datetime.now(dt.timezone.utc)
    threshold = resolve_max_rejection_rate(max_rejection_rate)
    root = Path(landing.root)

    collected = collect(
        dataset=spec.dataset,
        warehouse=warehouse,
        landing_root=root,
        scope=scope,
        parse_batch=parse_batch,
        placed_schema=spec.placed_schema,
        run_at=run_at,
        log=context.log,
        log_every=log_every_files,
    )
    placed = collected.placed
    ok = placed.filter(pl.col("status") == "ok")
    rejected = placed.filter(pl.col("status") == "rejected")
    accepted_days = ok.select("trade_date")
    accepted = ok.height

    t_dedup = time.perf_counter()
    dedup = spec.deduplicate(ok, collected, root)
    del placed, ok  # five years of candles: no more copies in memory than needed
    dedup_seconds = time.perf_counter() - t_dedup
    rows = (
        dedup.kept.with_columns(pl.lit(run_at).cast(UTC_US).alias("ingested_at"))
        .select(table_columns(spec.table))
        .sort(*spec.sort_by)
    )
    quarantine = pl.concat([quarantine_rows(spec.dataset, rejected, run_at), quarantine_rows(spec.dataset, dedup.losers, run_at)])
    write_seconds = commit(warehouse, collected, spec.table, rows, quarantine, scope, run_at)

    summary = reason_summary(rejected)
    counted = reason_summary(pl.concat([rejected.select("kind", "reason"), collected.counted_rejections()]))
    n_rejected = rejected.height
    unplaceable = collected.counters["unplaceable_records"]
    files_not_read = len(collected.skipped)
    check = rejection_rate_result(
        spec.asset_key, accepted, counted, threshold, scope.label,
        placed_rejected=n_rejected, unplaceable=unplaceable, files_not_read=files_not_read,
    )  # fmt: skip
    context.log.info(
        f"{spec.name} {scope.label}: {rows.height:,} rows, {n_rejected:,} rejected, "
        f"{unplaceable:,} unplaceable, {files_not_read:,} file(s) not read, {dedup.log}, "
        f"parse {collected.parse_seconds:.1f}s, write {write_seconds:.1f}s"
    )

    # Counts per session, to which the rejection rate (a float) is added below.
    per_partition: dict[dt.date, dict[str, Any]] = per_session_counts(
        scope.sessions,
        rows_written=rows,
        accepted_records=accepted_days,
        rejected_records=rejected,
        **dedup.per_partition,
        **{dedup.losers_name: dedup.losers},
        files_not_read=collected.file_problems.filter(pl.col("trade_date").is_not_null()),
    )
    if spec.partition_counts is not None:
        spec.partition_counts(per_partition, rows)
    for counts in per_partition.values():
        counts["rejection_rate"] = rate(counts["rejected_records"], counts["accepted_records"])
        counts["quarantine_rows_written"] = counts["rejected_records"] + counts[dedup.losers_name] + counts["files_not_read"]
    run_summary = {
        **{k: v for k, v in collected.counters.items() if k not in spec.hidden_counters},
        "accepted_records": accepted,
        "rejected_records": n_rejected,
        "rejection_rate": rate(n_rejected + unplaceable + files_not_read, accepted),
        **dedup.run_counts,
        "quarantine_rows_written": quarantine.height + collected.file_problems.height,
        "parse_seconds": round(collected.parse_seconds, 3),
        "dedup_seconds": round(dedup_seconds, 3),
        "write_seconds": round(write_seconds, 3),
    }
    metadata = bronze_metadata(
        context, rows, scope, collected,
        per_partition=per_partition, run_summary=run_summary, placed_summary=summary, counted_summary=counted,
        **({"preview": spec.preview(rows)} if spec.preview else {}),
    )  # fmt: skip
    return materialize_result(context, scope.sessions, metadata, [check])
