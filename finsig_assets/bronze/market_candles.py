"""``bronze/market_candles``: complete M1 candles from ``$landing/market/**/*.ndjson``.

One row per (instrument, ts) in ``bronze.market_candles``, with lineage (source_file relative to
the landing root, 1-based source_line, ingested_at = the run's time). A record's trade date is
the session whose window ``[17:00 NY previous session, 17:00 NY D)`` holds its bar open time.
Rejected lines go to ``bronze.quarantine`` with a reason; identical duplicates collapse and
conflicting ones follow ``candle_dedup``'s rule. The run covers a range of partitions (single-run
backfill) and replaces exactly that range — candles and the range's market quarantine rows —
in one transaction together with the landing-index changes.
"""

# No `from __future__ import annotations` here: Dagster resolves the Config and resource
# parameter annotations of the asset function at decoration time and cannot read strings.
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

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
from finsig_assets.bronze.landing_index import LandedFile
from finsig_assets.bronze.quarantine import counts_by_kind, quarantine_rows, reason_summary, reasons_markdown
from finsig_assets.bronze.records import UNPLACEABLE_SCHEMA, UTC_US
from finsig_assets.bronze.rejection_rate_check import (
    BronzeConfig,
    check_spec,
    rejection_rate_result,
    resolve_max_rejection_rate,
)
from finsig_assets.landing_zone import LandingZone
from finsig_assets.materialization_metadata import standard_metadata
from finsig_assets.partition_scope import scope_of
from finsig_assets.warehouse import DuckDBWarehouse, table_columns

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

    Module-level so tests can count which files a run opens."""
    try:
        yield from iter_line_chunks(landed.abs_path, (span[0], span[1]) if span else None)
    except OSError as exc:
        raise RuntimeError(f"cannot read landed file {landed.path}: {exc}") from exc


def parse_market_batch(
    items: list[tuple[LandedFile, Span | None]],
    keep,
    settings: CandleSettings,
    progress: Callable[[str], None] | None = None,
) -> BatchParse:
    """Parse files (whole, or the span of the run's days) in chunks of ~50k lines that may mix
    several small files, so per-file overhead stays small whatever the landing layout."""
    placed, unplaceable, days = [], [], []
    lines_per_file = [0] * len(items)
    blank_per_file = [0] * len(items)
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
        for piece, offset in read_market_file(landed, span):
            segments.append(Segment(file, line, offset, len(piece)))
            pending.extend(piece)
            line += len(piece)
            lines_per_file[file] += len(piece)
            if len(pending) >= CHUNK_LINES:
                flush()
    flush()

    # Unplaceable records and day spans only count when a file is indexed (read whole).
    whole = [i for i, (_, span) in enumerate(items) if span is None]
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
    return BatchParse(
        placed=pl.concat(placed) if placed else pl.DataFrame(schema={"file": pl.Int64, **PLACED_SCHEMA}),
        unplaceable=unplaceable_frame,
        days=combine_file_days(days),
        counts=[(lines_per_file[i], blank_per_file[i], 0, 0, False) for i in range(len(items))],
    )


def build_market_candles(
    context: dg.AssetExecutionContext,
    config: MarketCandlesConfig,
    warehouse: DuckDBWarehouse,
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
    incomplete = int((status == "incomplete").sum())
    del placed, status

    t_dedup = time.perf_counter()
    dedup = dedup_candles(
        ok.select(
            "instrument", "ts", "trade_date", "open", "high", "low", "close", "volume", "collected_at",
            "source_file", "source_line", "file_mtime_ns", "byte_start", "byte_end",
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
    write_seconds = commit(warehouse, collected, TABLE, rows, quarantine, scope)

    summary = reason_summary(rejected)
    counts = counts_by_kind(summary)
    n_rejected = rejected.height
    rate = n_rejected / (accepted + n_rejected) if accepted + n_rejected else 0.0
    context.log.info(
        f"bronze/market_candles {scope.label}: {rows.height:,} rows, {n_rejected:,} rejected, "
        f"{dedup.identical_duplicates:,} identical + {dedup.conflicting_duplicates:,} conflicting duplicates, "
        f"{incomplete:,} incomplete, parse {collected.parse_seconds:.1f}s, write {write_seconds:.1f}s"
    )
    details = {
        "rows_written": rows.height,
        **collected.counters,
        "accepted_records": accepted,
        "rejected_records": n_rejected,
        "rejection_rate": rate,
        "incomplete_candles": incomplete,
        "identical_duplicates": dedup.identical_duplicates,
        "conflicting_duplicates": dedup.conflicting_duplicates,
        "quarantine_rows_written": quarantine.height,
        "parse_seconds": round(collected.parse_seconds, 3),
        "dedup_seconds": round(dedup_seconds, 3),
        "write_seconds": round(write_seconds, 3),
    }
    for key in ("non_article_files", "non_article_lines", "duplicate_lines"):
        details.pop(key, None)
    t_meta = time.perf_counter()
    metadata = standard_metadata(rows, scope.label, details)
    metadata["rejected_by_reason"] = dg.MetadataValue.json(counts)
    metadata["rejections"] = dg.MetadataValue.md(reasons_markdown(summary))
    metadata["unplaceable_by_reason"] = dg.MetadataValue.json(counts_by_kind(collected.unplaceable_summary))
    check = rejection_rate_result(
        ASSET_KEY, accepted, summary, threshold, scope.label, unplaceable=collected.counters["unplaceable_records"]
    )
    context.log.debug(f"metadata {time.perf_counter() - t_meta:.2f}s")
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


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
    warehouse: DuckDBWarehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    return build_market_candles(context, config, warehouse, landing)
