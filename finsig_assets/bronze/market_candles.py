"""``bronze/market_candles``: complete M1 candles from ``$landing/market/**/*.ndjson``.

One row per (instrument, ts) in ``bronze.market_candles``, with lineage (source_file relative to
the landing root, 1-based source_line, ingested_at = the run's time). A record's trade date is
the session whose window ``[17:00 NY previous session, 17:00 NY D)`` holds its bar open time.
Rejected lines go to ``bronze.quarantine`` with a reason; identical duplicates collapse and
conflicting ones follow ``candle_dedup``'s rule (latest collected_at, then the copy that landed
later). The run covers a range of partitions (single-run backfill) and replaces exactly that
range — candles and the range's market quarantine rows — in one transaction together with the
landing-index changes. Landing files that cannot be read (see ``ingest``) are quarantined and
counted; they never fail the run. Each partition's materialization carries its own counts; the
run's go under ``run_*`` (``run_metadata``).
"""

# No `from __future__ import annotations` here: Dagster resolves the Config and resource
# parameter annotations of the asset function at decoration time and cannot read strings.
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets import landing_files
from finsig_assets.materialization_metadata import materialize_result
from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.bronze.candle_dedup import dedup_candles
from finsig_assets.bronze.candle_records import (
    DEFAULT_INSTRUMENT,
    PLACED_SCHEMA,
    CandleSettings,
    Segment,
    iter_line_chunks,
    parse_candle_segments,
)
from finsig_assets.bronze.ingest import BatchParse, Span, collect, combine_file_days, commit
from finsig_assets.bronze.quarantine import quarantine_rows, reason_summary
from finsig_assets.bronze.records import UNPLACEABLE_SCHEMA, UTC_US
from finsig_assets.bronze.rejection_rate_check import (
    BronzeConfig,
    check_spec,
    rejection_rate_result,
    resolve_max_rejection_rate,
)
from finsig_assets.bronze.run_metadata import bronze_metadata, per_session_counts, rate
from finsig_assets.landing_files import LandedFile, LandingReadError
from finsig_assets.landing_zone import LandingZone
from finsig_assets.partition_scope import scope_of
from finsig_assets.warehouse import Warehouse, table_columns

ASSET_KEY = ["bronze", "market_candles"]
TABLE = "bronze.market_candles"
DATASET = "market"
TABLE_COLUMNS = table_columns("bronze.market_candles")  # the DDL in dbt_like_sql/tables is the contract


class MarketCandlesConfig(BronzeConfig):
    default_instrument: str = Field(
        default=DEFAULT_INSTRUMENT, description="Instrument of raw v20 lines, which do not name one."
    )
    instruments: list[str] = Field(
        default=[], description="Accepted instruments besides default_instrument; others are quarantined."
    )


PROGRESS_EVERY_LINES = 500_000
CHUNK_LINES = 50_000  # lines parsed per vectorised pass, gathered across small files


def read_market_file(landed: LandedFile, span: Span | None) -> Iterator[tuple[list[bytes], int]]:
    """The lines of a whole file, or of the byte span holding the run's days: (lines, offset) pieces.

    Raises ``LandingReadError`` when the file cannot be read. Module-level so tests can count
    which files a run opens."""
    try:
        yield from iter_line_chunks(landed.abs_path, (span[0], span[1]) if span else None, rel=landed.path)
    except OSError as exc:
        raise landing_files.read_error(landed.path, exc) from exc


def parse_market_batch(
    items: list[tuple[LandedFile, Span | None]],
    keep,
    settings: CandleSettings,
    progress: Callable[[str], None] | None = None,
) -> BatchParse:
    """Parse files (whole, or the span of the run's days) in chunks of ~50k lines that may mix
    several small files, so per-file overhead stays small whatever the landing layout.

    A file that cannot be read (or fails part-way) is reported in ``failures`` and nothing of it
    is returned; the other files are unaffected."""
    placed, unplaceable, days = [], [], []
    lines_per_file = [0] * len(items)
    blank_per_file = [0] * len(items)
    digests: list[str | None] = [None] * len(items)
    failures: dict[int, LandingReadError] = {}
    pending: list[bytes] = []
    segments: list[Segment] = []
    parsed = 0
    next_report = PROGRESS_EVERY_LINES

    def flush() -> None:
        nonlocal pending, segments, parsed, next_report
        if not pending:
            return
        chunk, chunk_days = parse_candle_segments(pending, segments, settings, keep)
        if chunk.placed.height:
            placed.append(chunk.placed)
        if chunk.unplaceable.height:
            unplaceable.append(chunk.unplaceable)
        days.append(chunk_days)
        for file, n in (chunk.stats.blank_by_file or {}).items():
            blank_per_file[int(file)] += int(n)
        parsed += len(pending)
        pending, segments = [], []
        if progress and parsed >= next_report:
            progress(f"bronze/market: {parsed:,} lines parsed")
            next_report += PROGRESS_EVERY_LINES

    for file, (landed, span) in enumerate(items):
        line = span[2] if span else 1
        digest = hashlib.sha256() if span is None else None
        try:
            for piece, offset in read_market_file(landed, span):
                if digest is not None:
                    digest.update(b"".join(piece))
                segments.append(Segment(file, line, offset, len(piece)))
                pending.extend(piece)
                line += len(piece)
                lines_per_file[file] += len(piece)
                if len(pending) >= CHUNK_LINES:
                    flush()
        except LandingReadError as err:
            failures[file] = err
            continue
        digests[file] = digest.hexdigest() if digest is not None else None
    flush()

    # Unplaceable records and day spans only count when a file is indexed (read whole).
    whole = [i for i, (_, span) in enumerate(items) if span is None and i not in failures]
    unplaceable_frame = (
        pl.concat(unplaceable).filter(pl.col("file").is_in(whole))
        if unplaceable
        else pl.DataFrame(schema={"file": pl.Int64, **UNPLACEABLE_SCHEMA})
    )
    empty = [
        {"file": i, "source_line": 1, "kind": "empty_file",
         "reason": f"empty file ({items[i][0].size} bytes, {lines_per_file[i]} blank lines, no candles)", "raw": ""}
        for i in whole
        if lines_per_file[i] == blank_per_file[i]
    ]
    if empty:
        # Nothing but blank lines (or 0 bytes): a candle file with no candles is suspicious.
        extra = pl.DataFrame(empty, schema={"file": pl.Int64, **UNPLACEABLE_SCHEMA})
        unplaceable_frame = pl.concat([unplaceable_frame, extra])
    placed_frame = pl.concat(placed) if placed else pl.DataFrame(schema={"file": pl.Int64, **PLACED_SCHEMA})
    days_frame = combine_file_days(days)
    if failures:
        failed = list(failures)
        placed_frame = placed_frame.filter(~pl.col("file").is_in(failed))
        days_frame = days_frame.filter(~pl.col("file").is_in(failed))
        for i in failed:
            lines_per_file[i] = blank_per_file[i] = 0
    return BatchParse(
        placed=placed_frame,
        unplaceable=unplaceable_frame,
        days=days_frame,
        counts=[(lines_per_file[i], blank_per_file[i], 0, 0, False) for i in range(len(items))],
        digests=digests,
        failures=failures,
    )


def build_market_candles(
    context: dg.AssetExecutionContext,
    config: MarketCandlesConfig,
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    run_at = dt.datetime.now(dt.timezone.utc)
    settings = CandleSettings.of(config.default_instrument, config.instruments)
    threshold = resolve_max_rejection_rate(config.max_rejection_rate)
    root = Path(landing.root)

    collected = collect(
        dataset=DATASET,
        warehouse=warehouse,
        landing_root=root,
        scope=scope,
        parse_batch=lambda items, keep: parse_market_batch(items, keep, settings, context.log.info),
        placed_schema=PLACED_SCHEMA,
        run_at=run_at,
        log=context.log,
        log_every=config.log_every_files,
    )
    placed = collected.placed
    status = placed["status"]
    ok = placed.filter(status == "ok")
    rejected = placed.filter(status == "rejected")
    incomplete = placed.filter(status == "incomplete").select("trade_date")
    accepted_days = ok.select("trade_date")
    del placed, status

    t_dedup = time.perf_counter()
    dedup = dedup_candles(
        ok.select(
            "instrument", "ts", "trade_date", "open", "high", "low", "close", "volume", "collected_at",
            "source_file", "source_line", "file_first_seen_at", "byte_start", "byte_end",
        ),
        landing_root=root,
    )
    accepted = ok.height
    del ok
    dedup_seconds = time.perf_counter() - t_dedup
    rows = (
        dedup.kept.with_columns(pl.lit(run_at).cast(UTC_US).alias("ingested_at"))
        .select(TABLE_COLUMNS)
        .sort("instrument", "ts")
    )
    quarantine = pl.concat(
        [
            quarantine_rows(DATASET, rejected, run_at),
            quarantine_rows(DATASET, dedup.losers, run_at),
        ]
    )
    write_seconds = commit(warehouse, collected, TABLE, rows, quarantine, scope, run_at)

    summary = reason_summary(rejected)
    counted = reason_summary(pl.concat([rejected.select("kind", "reason"), collected.counted_rejections()]))
    n_rejected = rejected.height
    unplaceable = collected.counters["unplaceable_records"]
    files_not_read = len(collected.skipped)
    check = rejection_rate_result(
        ASSET_KEY, accepted, counted, threshold, scope.label,
        placed_rejected=n_rejected, unplaceable=unplaceable, files_not_read=files_not_read,
    )
    n_counted = n_rejected + unplaceable + files_not_read
    context.log.info(
        f"bronze/market_candles {scope.label}: {rows.height:,} rows, {n_rejected:,} rejected, "
        f"{unplaceable:,} unplaceable, {files_not_read:,} file(s) not read, "
        f"{dedup.identical_duplicates:,} identical + {dedup.conflicting_duplicates:,} conflicting duplicates, "
        f"{incomplete.height:,} incomplete, parse {collected.parse_seconds:.1f}s, write {write_seconds:.1f}s"
    )

    t_meta = time.perf_counter()
    problems = collected.file_problems.filter(pl.col("trade_date").is_not_null())
    per_partition = per_session_counts(
        scope.sessions,
        rows_written=rows,
        accepted_records=accepted_days,
        rejected_records=rejected,
        incomplete_candles=incomplete,
        conflicting_duplicates=dedup.losers,
        files_not_read=problems,
    )
    for counts in per_partition.values():
        counts["identical_duplicates"] = counts["accepted_records"] - counts["rows_written"] - counts["conflicting_duplicates"]
        counts["rejection_rate"] = rate(counts["rejected_records"], counts["accepted_records"])
        counts["quarantine_rows_written"] = counts["rejected_records"] + counts["conflicting_duplicates"] + counts["files_not_read"]
    run_summary = {
        **{k: v for k, v in collected.counters.items() if k not in ("non_article_files", "non_article_lines", "duplicate_lines")},
        "accepted_records": accepted,
        "rejected_records": n_rejected,
        "rejection_rate": rate(n_counted, accepted),
        "incomplete_candles": incomplete.height,
        "identical_duplicates": dedup.identical_duplicates,
        "conflicting_duplicates": dedup.conflicting_duplicates,
        "quarantine_rows_written": quarantine.height + collected.file_problems.height,
        "parse_seconds": round(collected.parse_seconds, 3),
        "dedup_seconds": round(dedup_seconds, 3),
        "write_seconds": round(write_seconds, 3),
    }
    metadata = bronze_metadata(
        context, rows, scope, collected,
        per_partition=per_partition, run_summary=run_summary, placed_summary=summary, counted_summary=counted,
    )
    context.log.debug(f"metadata {time.perf_counter() - t_meta:.2f}s")
    return materialize_result(context, scope.sessions, metadata, [check])


@trading_day_asset(
    key=ASSET_KEY,
    check_specs=[check_spec(ASSET_KEY)],
    description=(
        "Complete OANDA M1 candles (raw v20 and flattened shapes) from $FINSIG_LANDING_DIR/market, one row "
        "per (instrument, ts), with file/line lineage. Bad lines go to bronze.quarantine with a reason."
    ),
)
def market_candles(
    context: dg.AssetExecutionContext,
    config: MarketCandlesConfig,
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    return build_market_candles(context, config, warehouse, landing)
