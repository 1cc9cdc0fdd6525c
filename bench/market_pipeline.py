"""Benchmark: landing candles → bronze → silver → gold market features as ONE single-run backfill.

For each size (default 1 and 5 years of demo candles) a fresh child process generates the
landing zone, materializes ``bronze/market_candles``, ``silver/market_bars`` and
``gold/market_features`` over the whole range in one run, and reports wall time per asset,
rows/s and its peak RSS. Budget on 2 cores: 5 years (~1.7M candles) in under 120 s and 3 GB.

    .venv/bin/python bench/market_pipeline.py            # 1 and 5 years
    .venv/bin/python bench/market_pipeline.py --years 1  # one size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SESSIONS_PER_YEAR = 252
FIRST_SESSION = "2020-01-02"
# The generated files are complete before bronze runs (no writer is active): no settle wait.
os.environ.setdefault("FINSIG_LANDING_SETTLE_SECONDS", "0")


def run_one(years: float, workdir: Path) -> dict:
    import dagster as dg

    from finsig_assets.bronze import market_candles
    from finsig_assets.demo_data import write_demo_landing
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.silver import market_bars
    from finsig_assets.sql_models import market_features
    from finsig_assets.warehouse import DuckDBWarehouse

    n_sessions = int(round(years * SESSIONS_PER_YEAR))
    landing = workdir / "landing"
    started = time.perf_counter()
    summary = write_demo_landing(
        landing, first_session=FIRST_SESSION, n_sessions=n_sessions, seed=11, articles_per_session=0
    )
    generate_s = time.perf_counter() - started
    first, last = summary.first_session, summary.last_session

    resources = {
        "warehouse": DuckDBWarehouse(database=str(workdir / "bench.duckdb")),
        "landing": LandingZone(root=str(landing)),
    }
    instance = dg.DagsterInstance.ephemeral()
    timings = {}
    pipeline_started = time.perf_counter()
    for asset in (market_candles, market_bars, market_features):
        t0 = time.perf_counter()
        result = dg.materialize(
            [asset],
            resources=resources,
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
        assert result.success, f"{asset.key.to_user_string()} failed"
        timings[asset.key.to_user_string()] = round(time.perf_counter() - t0, 2)
    wall = time.perf_counter() - pipeline_started
    rows = resources["warehouse"].query("SELECT count(*) AS n FROM gold.market_features")["n"][0]
    return {
        "years": years,
        "sessions": n_sessions,
        "candles": summary.n_candles,
        "gold_rows": int(rows),
        "generate_s": round(generate_s, 1),
        "pipeline_wall_s": round(wall, 1),
        "per_asset_s": timings,
        "candles_per_s": round(summary.n_candles / wall),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, nargs="*", default=[1, 5])
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        with tempfile.TemporaryDirectory(prefix="finsig-bench-") as tmp:
            print(json.dumps(run_one(args.child, Path(tmp))))
        return 0
    for years in args.years:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(years)], check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(
            f"{r['years']:>4} y  {r['sessions']:>5} sessions  {r['candles']:>9,} candles  "
            f"pipeline {r['pipeline_wall_s']:>6.1f} s  ({r['candles_per_s']:,} candles/s)  "
            f"peak RSS {r['peak_rss_mb']:,} MB  per asset {r['per_asset_s']}  [generation {r['generate_s']} s]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
