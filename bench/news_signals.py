"""Benchmark: silver/news_sentiment and gold/news_signals at a realistic news volume, ONE single-run backfill.

A demo landing zone of ``--sessions`` sessions (default 60) of one-minute candles (~1,380 bars a
session, overnight CFD hours included) and ``--articles-per-session`` generated articles
(default 2,500: about 80% are English and 5% of those syndicated copies, so ~1,900-2,000
English, non-duplicate articles a session reach silver/news_sentiment; their available_at
values lie on the generator's 15-minute grid, so many are tied) is ingested into a throwaway
warehouse. Then, each in a fresh child process, so that its peak RSS (``ru_maxrss``, imports of
Dagster, DuckDB and polars included; the RSS before the materialization is reported beside it) is
its own:

1. ``silver/news_sentiment`` with the lexicon backend (``FINSIG_SENTIMENT_BACKEND=lexicon``);
2. ``gold/news_signals`` with the query of ``--query``: ``new`` is dbt_like_sql/gold.news_signals.sql
   (running sums read back with ASOF joins: linear in bars + articles), ``old`` the former
   bars x 24-h-articles join, kept as finsig_assets_tests/gold/news_signals_quadratic_reference.sql.

Each is materialized over all sessions as one run (``dagster/asset_partition_range_*`` tags),
on DuckDB's default threads (the machine's cores) and the warehouse's default 3 GB memory limit.
Reported: wall seconds, seconds per session, peak RSS; for gold/news_signals also a few sums of
its output, which are equal for both queries. The upstream assets (bronze and silver candles and
articles) are timed too, for context only.

Measured on the 2-core dev box, shared with a running test suite (the old query took 163 to
280 s across three runs); 60 sessions, 84,726 bars, 120,047 English articles (8,487 distinct
available_at):

    silver/news_sentiment (lexicon)   6 s    (~0.1 s/session)    peak RSS 650-690 MB
    gold/news_signals, old query      163-280 s (2.7-4.7 s/session, all of it the SELECT)
                                               peak RSS 452-455 MB (228 MB before the run)
    gold/news_signals, new query      2.3-2.5 s (~40 ms/session; the SELECT 0.5-0.7 s, the
                                               rest Dagster, the write and the checks)
                                               peak RSS 455-457 MB (228 MB before the run)

(120 sessions, new query: 3.0 s, SELECT 0.8 s, peak RSS 595 MB.) The whole script takes 4-5
minutes with both queries, about 1.5 of them with ``--query new``.

    .venv/bin/python bench/news_signals.py                          # 60 sessions, old and new query
    .venv/bin/python bench/news_signals.py --query new              # the linear query only
    .venv/bin/python bench/news_signals.py --sessions 20 --query old new
    .venv/bin/python bench/news_signals.py --articles-per-session 250   # a tenth of the feed
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

FIRST_SESSION = "2024-01-02"
REPO = Path(__file__).resolve().parents[1]
REFERENCE_SQL = REPO / "finsig_assets_tests" / "gold" / "news_signals_quadratic_reference.sql"
# The generated files are complete before bronze runs (no writer is active): no settle wait.
os.environ.setdefault("FINSIG_LANDING_SETTLE_SECONDS", "0")


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def materialize(assets: list, resources: dict, first: str, last: str, run_metadata: str | None = None):
    """Seconds of one single-run backfill over first..last (and, if named, a ``run_*`` metadata value)."""
    import dagster as dg

    t0 = time.perf_counter()
    result = dg.materialize(
        assets,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    seconds = time.perf_counter() - t0
    assert result.success, f"{[a.key.to_user_string() for a in assets]} failed"
    if run_metadata is None:
        return seconds
    event = result.get_asset_materialization_events()[0]
    value = event.materialization.metadata.get(run_metadata)
    return seconds, (value.value if value is not None else None)


def prepare(workdir: Path, n_sessions: int, articles_per_session: int) -> dict:
    """Landing zone, then bronze and silver candles and articles (everything news_sentiment reads)."""
    from finsig_assets.bronze import market_candles
    from finsig_assets.bronze import news_articles as bronze_news
    from finsig_assets.demo_data import write_demo_landing
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.silver import market_bars
    from finsig_assets.silver import news_articles as silver_news
    from finsig_assets.warehouse import DuckDBWarehouse

    t0 = time.perf_counter()
    summary = write_demo_landing(
        workdir / "landing",
        first_session=FIRST_SESSION,
        n_sessions=n_sessions,
        seed=11,
        articles_per_session=articles_per_session,
    )
    generate_s = time.perf_counter() - t0
    first, last = summary.first_session, summary.last_session
    resources = {
        "warehouse": DuckDBWarehouse(database=str(workdir / "bench.duckdb")),
        "landing": LandingZone(root=str(workdir / "landing")),
    }
    upstream = {}
    for asset in (market_candles, market_bars, bronze_news, silver_news):
        upstream[asset.key.to_user_string()] = round(materialize([asset], resources, first, last), 1)
    shutil.rmtree(workdir / "landing")  # ~11 MB of news files a session: not needed any more
    counts = resources["warehouse"].query(
        "SELECT (SELECT count(*) FROM silver.market_bars) AS bars, "
        "(SELECT count(*) FROM silver.news_articles WHERE is_english AND NOT is_syndicated_duplicate) AS english"
    ).row(0, named=True)
    return {
        "first": first,
        "last": last,
        "sessions": len(summary.sessions),
        "articles_generated": summary.n_articles,
        "bars": int(counts["bars"]),
        "english_articles": int(counts["english"]),
        "generate_s": round(generate_s, 1),
        "upstream_s": upstream,
    }


def run_sentiment(workdir: Path, first: str, last: str) -> dict:
    from finsig_assets.sentiment.backend_selection import SentimentResource
    from finsig_assets.sentiment.news_sentiment import news_sentiment
    from finsig_assets.warehouse import DuckDBWarehouse

    assert os.environ.get("FINSIG_SENTIMENT_BACKEND") == "lexicon"
    warehouse = DuckDBWarehouse(database=str(workdir / "bench.duckdb"))
    rss_before = peak_rss_mb()
    seconds = materialize([news_sentiment], {"warehouse": warehouse, "sentiment": SentimentResource()}, first, last)
    rows = warehouse.query(
        "SELECT count(*) AS n, count(DISTINCT available_at) AS t FROM silver.news_sentiment"
    ).row(0, named=True)
    return {
        "asset": "silver/news_sentiment",
        "seconds": round(seconds, 2),
        "rows": int(rows["n"]),
        "distinct_available_at": int(rows["t"]),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def signals_asset(query: str, workdir: Path):
    from finsig_assets import settings
    from finsig_assets.sql_models import build_sql_asset, load_sql_model

    if query == "new":
        return build_sql_asset(load_sql_model(settings.sql_dir() / "gold.news_signals.sql"))
    root = workdir / "reference_sql"  # the former SQL as a model file of its own (same key, DDL)
    if not root.exists():
        shutil.copytree(settings.sql_dir() / "tables", root / "tables")
        shutil.copy(REFERENCE_SQL, root / "gold.news_signals.sql")
    return build_sql_asset(load_sql_model(root / "gold.news_signals.sql"))


def run_signals(query: str, workdir: Path, first: str, last: str) -> dict:
    from finsig_assets.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(database=str(workdir / "bench.duckdb"))
    asset = signals_asset(query, workdir)
    rss_before = peak_rss_mb()
    seconds, select_seconds = materialize([asset], {"warehouse": warehouse}, first, last, "run_select_seconds")
    sums = warehouse.query(
        "SELECT count(*) AS rows, sum(news_count_15m)::BIGINT AS n15, sum(news_count_240m)::BIGINT AS n240, "
        "round(sum(news_sentiment_mean_1440m), 6)::DOUBLE AS mean_1440m, "
        "round(sum(news_decayed_sentiment), 6)::DOUBLE AS decayed, count(sentiment_model) AS with_model "
        "FROM gold.news_signals"
    ).row(0, named=True)
    return {
        "asset": f"gold/news_signals ({query})",
        "seconds": round(seconds, 2),
        "select_seconds": select_seconds,  # the SELECT alone (the rest: Dagster, write, checks)
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "output": sums,
    }


def child(args: argparse.Namespace) -> dict:
    workdir = Path(args.workdir)
    if args.child == "prepare":
        return prepare(workdir, args.sessions, args.articles_per_session)
    if args.child == "sentiment":
        return run_sentiment(workdir, args.first, args.last)
    return run_signals(args.child.removeprefix("signals-"), workdir, args.first, args.last)


def spawn(step: str, workdir: Path, extra: list[str]) -> dict:
    env = os.environ | {"FINSIG_SENTIMENT_BACKEND": "lexicon"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, "--workdir", str(workdir), *extra],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        print(proc.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"{step} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--articles-per-session", type=int, default=2500, help="generated (~80%% English)")
    parser.add_argument("--query", nargs="*", choices=["old", "new"], default=["old", "new"])
    parser.add_argument(
        "--child", choices=["prepare", "sentiment", "signals-old", "signals-new"], help=argparse.SUPPRESS
    )
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--first", help=argparse.SUPPRESS)
    parser.add_argument("--last", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args)))
        return 0

    with tempfile.TemporaryDirectory(prefix="finsig-bench-news-") as tmp:
        workdir = Path(tmp)
        sizes = ["--sessions", str(args.sessions), "--articles-per-session", str(args.articles_per_session)]
        prep = spawn("prepare", workdir, sizes)
        n = prep["sessions"]
        print(
            f"{n} sessions {prep['first']}..{prep['last']}: {prep['bars']:,} bars, "
            f"{prep['articles_generated']:,} articles generated, {prep['english_articles']:,} English non-duplicate "
            f"({prep['english_articles'] / n:,.0f} a session); generation {prep['generate_s']} s, "
            f"upstream {prep['upstream_s']}"
        )
        span = ["--first", prep["first"], "--last", prep["last"]]
        results = [spawn("sentiment", workdir, span)]
        results += [spawn(f"signals-{q}", workdir, span) for q in args.query]
        for r in results:
            extra = r.get("output") or {"rows": r["rows"], "distinct_available_at": r["distinct_available_at"]}
            select = f"  SELECT {r['select_seconds']:.2f} s" if r.get("select_seconds") is not None else ""
            print(
                f"{r['asset']:>26}: {r['seconds']:>7.1f} s  ({1000 * r['seconds'] / n:>6.0f} ms/session){select}  "
                f"peak RSS {r['peak_rss_mb']:>5,} MB (before the run {r['rss_before_mb']:,} MB)  {extra}"
            )
        outputs = [r["output"] for r in results if "output" in r]
        if len(outputs) == 2:
            print(f"{'':>26}  old and new outputs' sums {'agree' if outputs[0] == outputs[1] else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
