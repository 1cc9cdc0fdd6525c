"""Benchmark: landing candles → bronze → silver → gold market features as ONE single-run backfill.

Three modes, each size (default 1 and 5 years of demo candles) in a fresh child process with its
own landing zone, warehouse and Dagster instance:

- in-process (default): ``bronze/market_candles``, ``silver/market_bars`` and
  ``gold/market_features`` each materialized over the whole range in one run with
  ``dagster.materialize``; wall time per asset, rows/s, peak RSS. Budget on 2 cores: 5 years
  (~1.7M candles) in under 120 s and 3 GB.
- ``--cli``: the command a user types, timed from start to exit (interpreter start-up, code
  location import, run, steps, every partition's bookkeeping)::

      dagster asset materialize -m finsig_assets.definitions --select '*gold/market_features' \
          --partition-range FIRST...LAST

  in a home made like ``make demo``'s (``finsig init-instance``: SQLite instance, pools), with
  ``--executor in_process`` (the default), ``multiprocess`` (each step in its own process) or
  ``forkserver`` (multiprocess, steps forked from a server that preloaded the code location).
- ``--one-session``: the history (the sizes) is built in-process first, recorded in the same
  instance; then one more session lands and the same command runs for that one partition
  (``--partition``): bronze -> silver -> gold for a new session on top of years of history. Its
  time should not grow with the history.

    .venv/bin/python bench/market_pipeline.py                          # 1 and 5 years, in-process
    .venv/bin/python bench/market_pipeline.py --years 1 --cli          # the user's command
    .venv/bin/python bench/market_pipeline.py --years 1 --cli --executor multiprocess
    .venv/bin/python bench/market_pipeline.py --years 1 5 --one-session
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SELECTION = "*gold/market_features"

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


def _home_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINSIG_", "DAGSTER_", "MLFLOW_"))}
    env |= {
        "FINSIG_HOME": str(workdir / "home"),
        "DAGSTER_HOME": str(workdir / "home" / "dagster"),
        "FINSIG_LANDING_SETTLE_SECONDS": "0",
        "PYTHONWARNINGS": "ignore",
    }
    return env


def _materialize_command(partition_args: list[str], executor: str) -> list[str]:
    execution = {"multiprocess": {"start_method": {"forkserver": {}}}} if executor == "forkserver" else {executor: {}}
    run_config = {"execution": {"config": execution}, "loggers": {"console": {"config": {"log_level": "INFO"}}}}
    return [
        str(BIN / "dagster"), "asset", "materialize", "-m", "finsig_assets.definitions", "--select", SELECTION,
        *partition_args, "--config-json", json.dumps(run_config),
    ]  # fmt: skip


# Runs the command and writes its wall time and peak RSS. A process of its own, because a child
# forked from the benchmark (which may hold years of history in memory) reports the benchmark's
# pages as its own peak until it has exec'd.
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
open(sys.argv[1], "w").write(json.dumps({"wall_s": round(wall, 2), "peak_rss_mb": round(peak), "returncode": code}))
"""


def _timed(command: list[str], env: dict[str, str], log: Path) -> dict:
    """Wall time and the largest process's peak RSS of one command, as a user runs it."""
    figures = log.with_suffix(".json")
    with log.open("w") as out:
        subprocess.run([sys.executable, "-c", _MEASURE, str(figures), *command], env=env, stdout=out, stderr=subprocess.STDOUT)
    result = json.loads(figures.read_text())
    if result.pop("returncode") != 0:
        raise SystemExit(f"{' '.join(command)} failed; its output:\n{log.read_text()[-4000:]}")
    return result


def _gold_rows(env: dict[str, str]) -> int:
    import duckdb

    path = Path(env["FINSIG_HOME"]) / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM gold.market_features").fetchall()[0][0])


def _land_next_session(landing: Path, after: str) -> str:
    """The session after ``after``, written aside and moved into ``landing`` (as a collector drops it)."""
    from finsig_assets.demo_data import write_demo_landing
    from finsig_assets.trading_calendar import next_session

    day = next_session(after).isoformat()
    staging = landing / ".next-session"
    write_demo_landing(staging, first_session=day, n_sessions=1, seed=12, articles_per_session=0, malformed=False)
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = landing / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging)
    return day


def run_cli(years: float, workdir: Path, executor: str, one_session: bool) -> dict:
    from finsig_assets.demo_data import write_demo_landing

    env = _home_env(workdir)
    os.environ.update({k: env[k] for k in ("FINSIG_HOME", "DAGSTER_HOME", "FINSIG_LANDING_SETTLE_SECONDS")})
    n_sessions = int(round(years * SESSIONS_PER_YEAR))
    landing = Path(env["FINSIG_HOME"]) / "landing"
    summary = write_demo_landing(landing, first_session=FIRST_SESSION, n_sessions=n_sessions, seed=11, articles_per_session=0)
    subprocess.run([str(BIN / "finsig"), "init-instance"], env=env, check=True, capture_output=True)
    out = {"years": years, "sessions": n_sessions, "candles": summary.n_candles, "executor": executor}
    if not one_session:
        partition = ["--partition-range", f"{summary.first_session}...{summary.last_session}"]
        out |= _timed(_materialize_command(partition, executor), env, workdir / "cli.log")
        out["gold_rows"] = _gold_rows(env)
        return out
    # The history, recorded in the same instance the command then uses.
    import dagster as dg

    from finsig_assets.definitions import defs

    t0 = time.perf_counter()
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=dg.AssetSelection.from_coercible(SELECTION).resolve(defs.resolve_asset_graph())
    )
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": summary.first_session, "dagster/asset_partition_range_end": summary.last_session},
            run_config={"execution": {"config": {"in_process": {}}}},
        )
    assert result.success, "building the history failed"
    out["history_s"] = round(time.perf_counter() - t0, 1)
    day = _land_next_session(landing, summary.last_session)
    before = _gold_rows(env)
    out |= {"session": day} | _timed(_materialize_command(["--partition", day], executor), env, workdir / "cli.log")
    out["new_gold_rows"] = _gold_rows(env) - before
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, nargs="*", default=[1, 5])
    parser.add_argument("--cli", action="store_true", help="time the user's `dagster asset materialize` command")
    parser.add_argument("--one-session", action="store_true", help="one new session on top of --years of history (CLI)")
    parser.add_argument(
        "--executor",
        choices=["in_process", "multiprocess", "forkserver"],
        default="in_process",
        help="forkserver: multiprocess with Dagster's forkserver start method (the code location preloaded)",
    )
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    cli = args.cli or args.one_session
    if args.child is not None:
        with tempfile.TemporaryDirectory(prefix="finsig-bench-") as tmp:
            result = run_cli(args.child, Path(tmp), args.executor, args.one_session) if cli else run_one(args.child, Path(tmp))
            print(json.dumps(result))
        return 0
    for years in args.years:
        flags = [*(["--cli"] if args.cli else []), *(["--one-session"] if args.one_session else []), "--executor", args.executor]
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(years), *flags], check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        if args.one_session:
            print(
                f"{r['years']:>4} y of history ({r['sessions']:,} sessions, built in {r['history_s']} s)  one new session "
                f"{r['session']}: `dagster asset materialize --partition` {r['wall_s']:.1f} s wall  ({r['new_gold_rows']:,} "
                f"gold rows)  peak RSS {r['peak_rss_mb']:,} MB  executor {r['executor']}"
            )
        elif args.cli:
            print(
                f"{r['years']:>4} y  {r['sessions']:>5} sessions  {r['candles']:>9,} candles  `dagster asset materialize` "
                f"{r['wall_s']:>6.1f} s wall  peak RSS {r['peak_rss_mb']:,} MB  ({r['gold_rows']:,} gold rows)  executor {r['executor']}"
            )
        else:
            print(
                f"{r['years']:>4} y  {r['sessions']:>5} sessions  {r['candles']:>9,} candles  "
                f"pipeline {r['pipeline_wall_s']:>6.1f} s  ({r['candles_per_s']:,} candles/s)  "
                f"peak RSS {r['peak_rss_mb']:,} MB  per asset {r['per_asset_s']}  [generation {r['generate_s']} s]"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
