"""Benchmark: writing a pure-SQL model (no python_post) through a polars frame vs. INSERT ... SELECT.

A throwaway DuckDB warehouse is filled with ``--sessions`` sessions (default 250, a year) of
synthetic one-minute bars for ``--instruments`` instruments (~1,380 bars a session each: 23-hour
CFD days, 2% of minutes missing), ``--articles-per-session`` scored articles in
silver.news_sentiment (default 2,000, uniform over each session's window), and
gold.market_features with random values in every column its DDL declares (that model has a Python
step and is not what is measured). Then, for gold/news_signals and gold/training_examples (the two
pure-SQL models), the whole range as ONE run (the model's ``chunk_sessions`` apply), each way
``--repeat`` times, alternating, each in a fresh child process so that its peak RSS is its own:

- ``frame`` (before): ``compute_sql_model`` (the SELECT fetched into polars through Arrow, the
  range kept, the columns checked), ``Transaction.replace`` of the frame, ``result_metadata``
  from the frame -- what ``run_sql_model`` did for every model, and still does for one with a
  Python step;
- ``sql`` (after): ``run_sql_model``: inside the range's replace transaction one
  ``INSERT INTO <table> BY NAME SELECT ...`` per chunk, then ``result_metadata`` from the
  written range read back in SQL (counts, instruments, preview rows).

Timed: those calls only (imports and the warehouse's first open excluded). Reported per model and
way: wall seconds (median and min), peak RSS (``VmHWM``; the RSS before the run beside it),
rows written. Both ways write the same rows (checked: count and a checksum of the table).

Measured on the 2-core dev box, shared with other runs (250 sessions, 703,367 bars, 500,000
articles; three repeats, median / min seconds, peak RSS):

    gold.news_signals       frame 24.5 / 21.3 s  3.51 GB    INSERT ... SELECT 23.4 / 11.6 s  3.61 GB
    gold.training_examples  frame 2.01 / 1.95 s   834 MB    INSERT ... SELECT 2.04 / 1.99 s  1,009 MB

(news_signals varied from 11.6 to 38.9 s either way with the machine's load: its SELECT is the
time.) About 7 minutes in all.

    .venv/bin/python bench/sql_model_write.py                        # 250 sessions, 2 instruments
    .venv/bin/python bench/sql_model_write.py --sessions 60 --repeat 5
    .venv/bin/python bench/sql_model_write.py --threads 2            # DuckDB threads (0: all cores)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST_SESSION = "2024-01-02"
MODELS = ("gold.news_signals", "gold.training_examples")
INSTRUMENTS = ("SPX500_USD", "NAS100_USD", "US30_USD", "DE30_EUR")


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MB. Not ``ru_maxrss``: a child
    started by exec keeps its parent's peak there (here the parent that built the warehouse)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(database: Path, sessions: int, instruments: int, articles_per_session: int) -> dict:
    import numpy as np
    import polars as pl

    sys.path.insert(0, str(REPO))
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import load_sql_model, run_sql_model
    from finsig_assets.trading_calendar import assign_trade_dates, session_frame
    from finsig_assets.warehouse import DuckDBWarehouse, table_schema
    from finsig_assets_tests.sql_models.synthetic_bars import synthetic_bars

    calendar = session_frame().filter(pl.col("trade_date") >= pl.lit(FIRST_SESSION).str.to_date()).head(sessions)
    first, last = calendar["trade_date"][0], calendar["trade_date"][-1]
    bars = pl.concat([synthetic_bars(first, last, instrument=name, seed=i) for i, name in enumerate(INSTRUMENTS[:instruments])])
    rng = np.random.default_rng(0)

    starts = calendar["window_start"].dt.epoch("us").to_numpy()
    ends = calendar["window_end"].dt.epoch("us").to_numpy()
    session = np.repeat(np.arange(len(calendar)), articles_per_session)
    at_us = starts[session] + (rng.random(session.size) * (ends[session] - starts[session])).astype(np.int64)
    at_us = at_us // 1_000_000 * 1_000_000  # whole seconds: many ties, as a real feed has
    p = rng.dirichlet([2.0, 2.0, 3.0], session.size)
    articles = assign_trade_dates(
        pl.DataFrame(
            {
                "article_id": [f"a{i}" for i in range(session.size)],
                "sentiment_model": "lexicon:LM@bench",
                "text_mode": "headline",
                "p_positive": p[:, 0], "p_negative": p[:, 1], "p_neutral": p[:, 2],
                "sentiment": p[:, 0] - p[:, 1],
                "confidence": p.max(axis=1),
                "n_chunks": pl.Series(np.ones(session.size, dtype=np.int32)),
                "available_at": pl.Series(at_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "text_sha256": [f"h{i}" for i in range(session.size)],
            }
        ),
        "available_at",
    )

    features = {name: kind for name, kind in table_schema("gold.market_features") if name not in ("instrument", "ts", "trade_date")}
    market = bars.select("instrument", "ts", "trade_date").with_columns(
        **{name: pl.Series(rng.normal(size=bars.height)) for name, kind in features.items() if kind == "DOUBLE"}
    )
    warehouse = DuckDBWarehouse(database=str(database), lock_timeout_seconds=60)
    with warehouse.transaction() as tx:
        tx.replace("silver.market_bars", bars)
        tx.replace("silver.news_sentiment", articles)
        tx.replace("gold.market_features", market)
    # training_examples reads gold.news_signals: fill it once before anything is measured.
    run_sql_model(load_sql_model(REPO / "dbt_like_sql" / "gold.news_signals.sql"), warehouse, PartitionScope.of(first, last))
    return {"first": str(first), "last": str(last), "bars": bars.height, "articles": articles.height}


def child(way: str, table: str, database: str, first: str, last: str, threads: int) -> None:
    sys.path.insert(0, str(REPO))
    from finsig_assets.partition_scope import PartitionScope
    from finsig_assets.sql_models import compute_sql_model, load_sql_model, run_sql_model
    from finsig_assets.sql_models.runner import result_metadata
    from finsig_assets.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(database=database, lock_timeout_seconds=60, threads=threads)
    model = load_sql_model(REPO / "dbt_like_sql" / f"{table}.sql")
    scope = PartitionScope.of(first, last)
    with warehouse.connection() as conn:  # the first open checks the schema: not part of either way
        conn.execute("SELECT 1")
    rss_before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    if way == "frame":
        run = compute_sql_model(model, warehouse, scope)
        with warehouse.transaction() as tx:
            tx.replace(model.table, run.frame, scope.first, scope.last)
    else:
        run = run_sql_model(model, warehouse, scope)
    meta = result_metadata(run)
    seconds = time.perf_counter() - t0
    with warehouse.connection() as conn:
        rows, checksum = conn.execute(f"SELECT count(*), sum(hash(t)) FROM {model.table} AS t").fetchone()
    print(json.dumps({
        "seconds": seconds, "rss_before_mb": rss_before, "rss_peak_mb": _status_mb("VmHWM"), "rows": rows,
        "checksum": str(checksum), "run_rows": meta["run_rows"].value, "chunks": len(run.chunks),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--instruments", type=int, default=2, choices=range(1, len(INSTRUMENTS) + 1))
    parser.add_argument("--articles-per-session", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default, all cores)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--child", nargs=5, metavar=("WAY", "TABLE", "DATABASE", "FIRST", "LAST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, threads=args.threads)
        return

    with tempfile.TemporaryDirectory(prefix="finsig-sql-write-") as tmp:
        database = Path(tmp) / "bench.duckdb"
        os.environ["FINSIG_HOME"] = tmp  # nothing of the user's home is read or written
        env = dict(os.environ)
        t0 = time.perf_counter()
        size = build(database, args.sessions, args.instruments, args.articles_per_session)
        print(f"warehouse: {args.sessions} sessions {size['first']}..{size['last']}, {size['bars']:,} bars, "
              f"{size['articles']:,} articles ({time.perf_counter() - t0:.0f} s to build)", flush=True)
        results: dict[tuple[str, str], list[dict]] = {}
        for table in args.models:
            for _ in range(args.repeat):
                for way in ("frame", "sql"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--threads", str(args.threads), "--child", way, table, str(database),
                         size["first"], size["last"]],
                        capture_output=True, text=True, env=env, check=False,
                    )
                    if out.returncode:
                        raise SystemExit(f"{way} {table} failed:\n{out.stderr[-3000:]}")
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    results.setdefault((table, way), []).append(result)
                    print(f"  {table:24} {way:5} {result['seconds']:6.2f} s  peak RSS {result['rss_peak_mb']:5.0f} MB "
                          f"(before {result['rss_before_mb']:.0f})  {result['rows']:,} rows", flush=True)
        print()
        print(f"{'model':24} {'way':5} {'median s':>9} {'min s':>7} {'peak RSS MB':>12} {'rows':>10} {'chunks':>6}")
        for (table, way), runs in results.items():
            print(f"{table:24} {way:5} {statistics.median(r['seconds'] for r in runs):9.2f} {min(r['seconds'] for r in runs):7.2f} "
                  f"{max(r['rss_peak_mb'] for r in runs):12.0f} {runs[0]['rows']:>10,} {runs[0]['chunks']:>6}")
        for table in args.models:
            sums = {r["checksum"] for way in ("frame", "sql") for r in results[(table, way)]}
            rows = {r["rows"] for way in ("frame", "sql") for r in results[(table, way)]}
            print(f"{table}: both ways wrote the same rows: {len(sums) == 1 and len(rows) == 1}")


if __name__ == "__main__":
    main()
