"""Two processes materializing different partitions at once both succeed (DuckDB has one writer)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl

from finsig_assets_tests.sql_models.synthetic_bars import synthetic_bars, warehouse_with_bars

MATERIALIZE_ONE = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from finsig_assets.sql_models import market_features
    from finsig_assets.warehouse import DuckDBWarehouse
    result = dg.materialize(
        [market_features],
        partition_key=sys.argv[2],
        resources={"warehouse": DuckDBWarehouse(database=sys.argv[1], lock_timeout_seconds=240)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    sys.exit(0 if result.success else 1)
    """
)


def test_two_processes_materialize_different_partitions(tmp_path):
    bars = synthetic_bars("2024-06-24", "2024-06-28", seed=5)
    warehouse = warehouse_with_bars(tmp_path / "shared.duckdb", bars)
    days = ["2024-06-26", "2024-06-27"]
    # Hold the file while both start, so that both must queue for it and then overlap.
    holder = duckdb.connect(warehouse.database)
    procs = [
        subprocess.Popen([sys.executable, "-c", MATERIALIZE_ONE, warehouse.database, day],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for day in days
    ]
    time.sleep(8)
    assert all(p.poll() is None for p in procs), "a run finished while the file was held"
    holder.close()
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-3000:]
    written = warehouse.query(
        "SELECT trade_date::VARCHAR AS d, count(*) AS n FROM gold.market_features GROUP BY 1 ORDER BY 1"
    )
    expected = bars.filter(pl.col("trade_date").cast(pl.Utf8).is_in(days)).group_by("trade_date").len()
    assert written["d"].to_list() == days
    assert sorted(written["n"].to_list()) == sorted(expected["len"].to_list())
