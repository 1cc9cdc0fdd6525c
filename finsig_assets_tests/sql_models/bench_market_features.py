"""Benchmark: gold/market_features over ~1.7M synthetic bars (5 years) as ONE single-run range.

    .venv/bin/python -m finsig_assets_tests.sql_models.bench_market_features [--threads 2] [--keep DIR] [--direct]

Inserts 2020-01-02..2024-12-31 of 23-hour CFD bars (2% minutes missing) into silver, then, in a
fresh child process (so its peak RSS is the asset's alone), materializes the whole range with
``dg.materialize`` (or, with ``--direct``, calls the runner without Dagster) and prints wall
time, CPU time, per-phase timings and peak RSS. Not collected by pytest.
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

FIRST, LAST = "2020-01-02", "2024-12-31"


def prepare(database: str) -> int:
    from finsig_assets.warehouse import DuckDBWarehouse
    from finsig_assets_tests.sql_models.synthetic_bars import insert_bars, synthetic_bars

    bars = synthetic_bars(FIRST, LAST, seed=7)
    insert_bars(DuckDBWarehouse(database=database), bars)
    return bars.height


def run_direct(database: str, threads: int) -> dict:
    """The runner alone (no Dagster run/event overhead): wall and CPU seconds of compute + write."""
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.settings import sql_dir
    from finsig_assets.sql_models import load_sql_model, run_sql_model
    from finsig_assets.warehouse import DuckDBWarehouse

    model = load_sql_model(sql_dir() / "gold.market_features.sql")
    cpu0, t0 = _cpu(), time.perf_counter()
    result = run_sql_model(model, DuckDBWarehouse(database=database, threads=threads), PartitionScope.of(FIRST, LAST))
    return {
        "direct_wall_seconds": round(time.perf_counter() - t0, 2),
        "direct_cpu_seconds": round(_cpu() - cpu0, 2),
        "rows_written": result.frame.height,
        **{k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run(database: str, threads: int) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import dagster as dg

    from finsig_assets.sql_models import market_features
    from finsig_assets.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(database=database, threads=threads)
    t0 = time.perf_counter()
    result = dg.materialize(
        [market_features],
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
    )
    wall = time.perf_counter() - t0
    meta = result.asset_materializations_for_node(market_features.op.name)[0].metadata
    return {
        "materialize_wall_seconds": round(wall, 2),
        "rows_written": meta["run_rows"].value,  # a range: each partition has its own dagster/row_count
        "rows_selected_incl_warmup": meta["run_rows_selected_incl_warmup"].value,
        "asset_elapsed_seconds": meta["run_elapsed_seconds"].value,
        **{k: meta[f"run_{k}"].value for k in ("select_seconds", "python_post_seconds", "filter_seconds", "write_seconds")},
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "process_cpu_seconds": round(_cpu(), 1),
        "threads": threads,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", help="reuse/keep the warehouse in this directory")
    parser.add_argument("--direct", action="store_true", help="call the runner without Dagster")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps((run_direct if args.direct else run)(args.child, args.threads)))
        return
    directory = args.keep or tempfile.mkdtemp(prefix="finsig-bench-")
    database = os.path.join(directory, "bench.duckdb")
    if not os.path.exists(database):
        t0 = time.perf_counter()
        n = prepare(database)
        print(f"inserted {n:,} synthetic bars in {time.perf_counter() - t0:.1f}s into {database}", flush=True)
    out = subprocess.run(
        [
            sys.executable, "-m", "finsig_assets_tests.sql_models.bench_market_features",
            "--threads", str(args.threads), "--child", database, *(["--direct"] if args.direct else []),
        ],
        check=True, capture_output=True, text=True,
    )
    print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
