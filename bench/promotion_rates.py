"""Benchmark: how often ``ml/direction_model`` promotes a champion, with and without news that matters.

Each case is one data set of the demo generator (``finsig demo-data``'s own code: 45 sessions,
30 articles per session, malformed lines included) with a seed and a planted news effect, run
in a fresh child process: the whole graph from the landing files to ``ml/direction_model`` and
``ml/predictions``, as ONE single-run backfill over the sessions, with the lexicon sentiment
backend and every model setting at its default (60-session window, at least 10 sessions, 4
walk-forward folds, the promotion test at one-sided 5 %). The first model trains on 10
sessions, so 35 partitions train per data set.

Reported per case, from ``ml.model_runs`` and ``ml.predictions``: trained and promoted
partitions, the first promoted one (as the n-th trained partition) and the share promoted
after it, the folds' mean AUC and value of news, the paired test's p-values, and the
out-of-sample AUC of what ``ml/predictions`` served (the champion as of the previous session)
against the market-only model served with it on the same rows.

Goals: with no effect (``--null-seeds``, news_effect 0) at most 5 % of the trained partitions
promoted, pooled over the seeds; with the planted effect ``make demo DEMO_NEWS_EFFECT=6`` uses
(``--planted-seeds``, at 30 and at 120 articles per session, ``--planted-articles``), a
champion by the 20th trained partition that stays promoted in most later ones.

    .venv/bin/python bench/promotion_rates.py                     # 5 null + 2 planted data sets
    .venv/bin/python bench/promotion_rates.py --null-seeds 1 2 --planted-seeds
    .venv/bin/python bench/promotion_rates.py --jobs 1            # one case at a time
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from demo_graph import materialize_demo  # bench/demo_graph.py (this script's folder is on sys.path)

os.environ.setdefault("FINSIG_LANDING_SETTLE_SECONDS", "0")


def run_case(seed: int, news_effect: float, sessions: int, articles: int, workdir: Path) -> dict:
    import dagster as dg

    from finsig_assets.ml.evaluation_metrics import auc

    logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    warehouse, summary = materialize_demo(
        workdir,
        dg.AssetSelection.assets("ml/direction_model").upstream() | dg.AssetSelection.assets("ml/predictions"),
        sessions, seed, news_effect, articles,
    )
    runs = warehouse.query("SELECT * FROM ml.model_runs WHERE status = 'trained' ORDER BY trade_date")
    promoted = runs["promoted"].to_list()
    first = next((i for i, p in enumerate(promoted, start=1) if p), None)
    after = promoted[first - 1 :] if first else []
    preds = warehouse.query(
        "SELECT p_up, p_up_market_only, label_up FROM ml.predictions WHERE label_up IS NOT NULL AND p_up_market_only IS NOT NULL"
    )
    y = preds["label_up"].to_numpy().astype(bool)
    pvals = runs["news_test_p_value"].drop_nulls()
    return {
        "seed": seed,
        "news_effect": news_effect,
        "sessions": sessions,
        "articles_per_session": articles,
        "trained": runs.height,
        "promoted": int(sum(promoted)),
        "first_promoted_at": first,  # n-th trained partition
        "promoted_after_first": f"{sum(after)}/{len(after)}" if after else "-",
        "fold_auc_mean": round(float(runs["model_auc"].mean()), 4),
        "fold_market_only_auc_mean": round(float(runs["market_only_auc"].mean()), 4),
        "value_of_news_mean": round(float(runs["value_of_news_auc"].mean()), 4),
        "p_value_median": round(float(pvals.median()), 4) if pvals.len() else None,
        "p_value_min": round(float(pvals.min()), 4) if pvals.len() else None,
        "oos_rows": int(y.size),
        "oos_sessions_predicted": int(
            warehouse.query("SELECT count(DISTINCT trade_date) AS n FROM ml.predictions")["n"][0]
        ),
        "oos_auc": round(auc(y, preds["p_up"].to_numpy()), 4) if y.size else None,
        "oos_market_only_auc": round(auc(y, preds["p_up_market_only"].to_numpy()), 4) if y.size else None,
        "seconds": round(time.perf_counter() - t0, 1),
        "promoted_by_partition": "".join("P" if p else "." for p in promoted),
    }


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="finsig-promotion-") as tmp:
        out = run_case(args.seed, args.news_effect, args.sessions, args.articles, Path(tmp))
    print("RESULT " + json.dumps(out))


def spawn(seed: int, effect: float, sessions: int, articles: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--seed", str(seed), "--news-effect", str(effect),
           "--sessions", str(sessions), "--articles", str(articles)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"FINSIG_HOME": tempfile.mkdtemp()})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"seed {seed} effect {effect} failed:\n{proc.stderr[-4000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--null-seeds", type=int, nargs="*", default=[11, 12, 13, 14, 15])
    p.add_argument("--planted-seeds", type=int, nargs="*", default=[21, 22])
    p.add_argument("--planted-effect", type=float, default=6.0)
    p.add_argument("--sessions", type=int, default=45)
    p.add_argument("--articles", type=int, default=30, help="articles per session for the null data sets (make demo's default)")
    p.add_argument(
        "--planted-articles", type=int, nargs="*", default=[30, 120],
        help="articles per session for the planted data sets: 30 is make demo's default, 120 what the Makefile's "
        "planted example (make demo DEMO_NEWS_EFFECT=6 DEMO_ARTICLES=120) uses",
    )
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--news-effect", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    cases = [(s, 0.0, args.articles) for s in args.null_seeds] + [
        (s, args.planted_effect, a) for a in args.planted_articles for s in args.planted_seeds
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda c: spawn(c[0], c[1], args.sessions, c[2]), cases))
    for r in results:
        print(json.dumps(r))
    null = [r for r in results if r["news_effect"] == 0]
    planted = [r for r in results if r["news_effect"] != 0]
    if null:
        trained, promoted = sum(r["trained"] for r in null), sum(r["promoted"] for r in null)
        print(
            f"NULL  ({len(null)} data sets): {promoted}/{trained} trained partitions promoted = {promoted / trained:.1%} "
            f"(goal <= 5%); OOS AUC served {[r['oos_auc'] for r in null]}; fold AUC {[r['fold_auc_mean'] for r in null]}"
        )
    for r in planted:
        print(
            f"PLANTED seed {r['seed']} effect {r['news_effect']}, {r['articles_per_session']} articles/session: first champion at trained partition {r['first_promoted_at']} "
            f"(goal <= 20), promoted after it {r['promoted_after_first']}; OOS AUC {r['oos_auc']} vs market-only "
            f"{r['oos_market_only_auc']} on {r['oos_rows']:,} rows"
        )
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
