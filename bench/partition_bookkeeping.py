"""Benchmark: what a single-run backfill records per partition, with no data work at all.

An asset over N daily partitions that computes nothing and gives each partition its own
metadata (as finsig's assets do) is materialized as one single-run backfill, in a fresh
instance of each storage:

- ``dagster``: Dagster's default SQLite storage (what a ``dagster.yaml`` without ``storage:`` gets);
- ``finsig``: the storage ``finsig init-instance`` configures (:mod:`finsig_assets.sqlite_storage`).

It reports the run's wall time (run creation included: the planned events) and the cost per
partition, i.e. per planned and materialization event pair.

    .venv/bin/python bench/partition_bookkeeping.py               # 252 partitions (a year)
    .venv/bin/python bench/partition_bookkeeping.py --partitions 1260
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_one(storage: str, n: int, home: Path) -> dict:
    import dagster as dg

    from finsig_assets.instance_setup import write_instance_config

    home.mkdir(parents=True)
    if storage == "finsig":
        write_instance_config(home)
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    partitions = dg.DailyPartitionsDefinition(start_date="2020-01-01")
    keys = partitions.get_partition_keys()[:n]

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def nothing(context):
        for key in context.partition_keys:
            context.add_asset_metadata({"dagster/row_count": 1_000, "partition": key}, partition_key=key)
        return dg.MaterializeResult()

    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            [nothing],
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        wall = time.perf_counter() - started
        assert result.success and len(instance.get_materialized_partitions(nothing.key)) == n
    return {"storage": storage, "partitions": n, "wall_s": round(wall, 2), "ms_per_partition": round(1000 * wall / n, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=252)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory(prefix="finsig-bookkeeping-") as tmp:
            print(json.dumps(run_one(args.child[0], int(args.child[1]), Path(tmp) / "dagster")))
        return 0
    for storage in ("dagster", "finsig"):
        env = {k: v for k, v in os.environ.items() if k != "DAGSTER_EVENT_BATCH_SIZE"}
        out = subprocess.run(
            [sys.executable, __file__, "--child", storage, str(args.partitions)], env=env, check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"{r['storage']:>7} storage: {r['partitions']:,} partitions in one run  {r['wall_s']:6.2f} s  {r['ms_per_partition']:5.1f} ms per partition")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
