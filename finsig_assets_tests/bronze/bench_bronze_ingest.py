"""Benchmark: bronze/market_candles over a synthetic five-year landing zone as ONE single-run backfill.

    .venv/bin/python -m finsig_assets_tests.bronze.bench_bronze_ingest --workdir /tmp/x [--layout single|daily]

Writes ~1.7M candle lines (1,250 sessions x 1,380 bars) unless they are already there, then
reports the raw parse throughput (lines/s) and the full materialization (seconds, peak RSS).
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import dagster as dg

from finsig_assets.bronze.candle_records import CandleSettings, iter_line_chunks, parse_candle_chunk
from finsig_assets.bronze.market_candles import market_candles
from finsig_assets.landing_zone import LandingZone
from finsig_assets.trading_calendar import sessions_between
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.bronze.synthetic import write_market

FIRST = "2020-01-02"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--layout", default="single", choices=["single", "daily"])
    parser.add_argument("--sessions", type=int, default=1250)
    parser.add_argument("--shape", default="v20", choices=["v20", "flat", "mixed"])
    parser.add_argument("--skip-parse-only", action="store_true")
    args = parser.parse_args()
    # The files were just written; measure parsing, not the settle wait for files being written.
    os.environ.setdefault("FINSIG_LANDING_SETTLE_SECONDS", "0")

    work = Path(args.workdir)
    market = work / "landing" / "market"
    (work / "landing" / "news").mkdir(parents=True, exist_ok=True)
    if not market.exists():
        t = time.perf_counter()
        n = write_market(market, FIRST, args.sessions, args.layout, args.shape)
        print(f"wrote {n:,} lines in {time.perf_counter() - t:.1f}s")
    files = sorted(market.rglob("*.ndjson"))
    last = sessions_between(FIRST, "2030-12-31")[args.sessions - 1].isoformat()

    if not args.skip_parse_only:
        t, cpu = time.perf_counter(), time.process_time()
        lines = 0
        for f in files:
            for chunk_lines, offset in iter_line_chunks(f):
                chunk, _ = parse_candle_chunk(chunk_lines, lines + 1, offset, CandleSettings())
                lines += len(chunk_lines)
        dt_parse, dt_cpu = time.perf_counter() - t, time.process_time() - cpu
        print(
            f"parse only: {lines:,} lines in {dt_parse:.2f}s wall = {lines / dt_parse:,.0f} lines/s "
            f"({dt_cpu:.2f}s CPU = {lines / dt_cpu:,.0f} lines/s per core)"
        )

    db = work / "warehouse.duckdb"
    if db.exists():
        db.unlink()
    warehouse = DuckDBWarehouse(database=str(db))
    landing = LandingZone(root=str(work / "landing"))
    t, cpu = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [market_candles],
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": last},
    )
    elapsed, elapsed_cpu = time.perf_counter() - t, time.process_time() - cpu
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"materialize {FIRST}..{last}: {elapsed:.1f}s wall ({elapsed_cpu:.1f}s CPU), rows {meta.get('run_rows', meta['dagster/row_count']).value:,}, "
        f"parse {meta['run_parse_seconds'].value}s, dedup {meta['run_dedup_seconds'].value}s, write {meta['run_write_seconds'].value}s, peak RSS {rss:,.0f} MB"
    )
    t = time.perf_counter()
    dg.materialize(
        [market_candles],
        partition_key=last,
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )
    print(f"one partition afterwards (index warm): {time.perf_counter() - t:.2f}s")


if __name__ == "__main__":
    main()
