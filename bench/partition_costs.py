"""Benchmark: what one partition of each asset costs, in each warehouse profile.

A demo home (``--sessions`` sessions, ``--articles`` English articles per session, lexicon
sentiment) goes through the user's command for the whole graph::

    dagster asset materialize -m finsig_assets.definitions --select '*' --partition-range FIRST...LAST

once per profile: ``duckdb`` (one file) and ``ducklake`` (a catalog database created on the local
PostgreSQL and dropped afterwards, data files under the home). Each step's wall time comes from
the run's own step statistics (Dagster's event log) and is divided by the partitions it covered:
seconds per session for bronze, silver and gold, per 1,000 articles for sentiment, per model
partition for ``ml/direction_model`` (its window is ``--window`` sessions here; for the default
60-session window see ``bench/training.py``). ``docs/scale-out.md`` turns these into a sizing.

    .venv/bin/python bench/partition_costs.py                       # both profiles, 20 sessions x 1,000 articles
    .venv/bin/python bench/partition_costs.py --profiles duckdb --sessions 40 --json bench/out/partition_costs.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finsig_assets import settings  # noqa: E402
from finsig_assets_tests.integration.live_dagster import finsig_env, run_cli  # noqa: E402

PER_ARTICLES = {"silver__news_articles", "silver__news_sentiment", "bronze__news_articles"}


def run_profile(profile: str, args, workdir: Path) -> dict:
    from finsig_assets.instance_setup import open_instance
    from finsig_assets_tests.ducklake_catalog import temporary_lake

    home = workdir / profile
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="0", FINSIG_EXECUTOR="in_process")
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(args.sessions), "--home-settings",
             "--articles-per-session", str(args.articles), "--seed", "3"], env)
    settings.write_home_settings(
        {"FINSIG_MODEL_WINDOW_SESSIONS": str(args.window), "FINSIG_MODEL_MIN_SESSIONS": str(max(3, args.window // 2))}, home
    )
    first, last = settings.home_settings(home)["FINSIG_DEMO_RANGE"].split("...")
    with temporary_lake(workdir / f"{profile}-lake") if profile == "ducklake" else _nothing() as lake:
        if lake is not None:
            env |= {"FINSIG_WAREHOUSE": "ducklake", "FINSIG_DUCKLAKE_CATALOG": lake.catalog,
                    "FINSIG_DUCKLAKE_DATA_PATH": lake.data_path}
        run_cli(["finsig_assets.cli", "init-instance"], env)
        started = time.perf_counter()
        run_cli(["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", "*",
                 "--partition-range", f"{first}...{last}"], env, timeout=3600)
        wall = time.perf_counter() - started
    instance = open_instance(home / "dagster")
    try:
        (run,) = instance.get_runs()
        stats = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)}
    finally:
        instance.dispose()
    from finsig_assets.trading_calendar import sessions_between

    sessions = len(sessions_between(first, last))
    articles = sessions * args.articles
    steps = {}
    for step, seconds in sorted(stats.items()):
        if step in PER_ARTICLES:
            steps[step] = {"seconds": round(seconds, 2), "per_1000_articles_s": round(seconds / articles * 1000, 3)}
        else:
            steps[step] = {"seconds": round(seconds, 2), "per_partition_s": round(seconds / sessions, 3)}
    return {"profile": profile, "sessions": sessions, "articles": articles, "wall_s": round(wall, 1), "steps": steps}


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="*", choices=["duckdb", "ducklake"], default=["duckdb", "ducklake"])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--articles", type=int, default=1000, help="English articles per session")
    parser.add_argument("--window", type=int, default=10, help="ml/direction_model's training window (sessions)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="finsig-partition-costs-") as tmp:
        for profile in args.profiles:
            result = run_profile(profile, args, Path(tmp))
            results.append(result)
            print(f"\n{profile}: {result['sessions']} sessions, {result['articles']:,} articles, whole graph {result['wall_s']} s")
            for step, figures in result["steps"].items():
                unit = "per 1,000 articles" if "per_1000_articles_s" in figures else "per partition"
                per = figures.get("per_1000_articles_s", figures.get("per_partition_s"))
                print(f"  {step:<28} {figures['seconds']:>8.2f} s   {per:>7.3f} s {unit}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raise SystemExit(main())
