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
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets import landing_files
from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.bronze.bronze_build import BronzeDataset, Deduplicated, build_bronze
from finsig_assets.bronze.candle_dedup import dedup_candles
from finsig_assets.bronze.candle_records import (
    DEFAULT_INSTRUMENT,
    PLACED_SCHEMA,
    CandleSettings,
    Segment,
    iter_line_chunks,
    parse_candle_segments,
)
from finsig_assets.bronze.ingest import BatchParse, Collected, FileCounts, Span, combine_file_days
from finsig_assets.bronze.records import UNPLACEABLE_SCHEMA
from finsig_assets.bronze.rejection_rate_check import BronzeConfig, check_spec
from finsig_assets.landing_files import LandedFile, LandingReadError
from finsig_assets.landing_zone import LandingZone
from finsig_assets.warehouse import Warehouse

ASSET_KEY = ["bronze", "market_candles"]
TABLE = "bronze.market_candles"
DATASET = "market"


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
        counts=[FileCounts(lines_per_file[i], blank_per_file[i]) for i in range(len(items))],
        digests=digests,
        failures=failures,
    )


def _deduplicate_candles(ok: pl.DataFrame, collected: Collected, root: Path) -> Deduplicated:
    """``candle_dedup``'s rule; in-progress candles are counted beside (never stored)."""
    dedup = dedup_candles(
        ok.select(
            "instrument", "ts", "trade_date", "open", "high", "low", "close", "volume", "collected_at",
            "source_file", "source_line", "file_first_seen_at", "byte_start", "byte_end",
        ),
        landing_root=root,
    )  # fmt: skip
    incomplete = collected.placed.filter(pl.col("status") == "incomplete").select("trade_date")
    return Deduplicated(
        kept=dedup.kept,
        losers=dedup.losers,
        losers_name="conflicting_duplicates",
        per_partition={"incomplete_candles": incomplete},
        run_counts={
            "incomplete_candles": incomplete.height,
            "identical_duplicates": dedup.identical_duplicates,
            "conflicting_duplicates": dedup.conflicting_duplicates,
        },
        log=(
            f"{dedup.identical_duplicates:,} identical + {dedup.conflicting_duplicates:,} conflicting duplicates, "
            f"{incomplete.height:,} incomplete"
        ),
    )


def _identical_duplicates(per_partition: dict, rows: pl.DataFrame) -> None:
    for counts in per_partition.values():
        counts["identical_duplicates"] = counts["accepted_records"] - counts["rows_written"] - counts["conflicting_duplicates"]


MARKET = BronzeDataset(
    dataset=DATASET,
    asset_key=ASSET_KEY,
    table=TABLE,
    sort_by=("instrument", "ts"),
    placed_schema=PLACED_SCHEMA,
    deduplicate=_deduplicate_candles,
    partition_counts=_identical_duplicates,
    hidden_counters=frozenset({"non_article_files", "non_article_lines", "duplicate_lines"}),
)


def build_market_candles(
    context: dg.AssetExecutionContext,
    config: MarketCandlesConfig,
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    settings = CandleSettings.of(config.default_instrument, config.instruments)
    return build_bronze(
        context,
        MARKET,
        lambda items, keep: parse_market_batch(items, keep, settings, context.log.info),
        warehouse,
        landing,
        config.max_rejection_rate,
        config.log_every_files,
    )


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
