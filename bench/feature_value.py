"""Benchmark: which market features earn their place in the direction model, out of sample.

One data set of the demo generator (``finsig demo-data``'s own code, malformed lines included)
runs through the graph to ``gold/training_examples`` as one single-run backfill (lexicon
sentiment). Its labelled regular-hours rows are then predicted walk-forward, the way the model
partitions are: every ``--step`` sessions a model is trained on the ``--window`` sessions
before, with the asset's default settings (its walk-forward folds pick the number of trees, as
``ml/direction_model`` does), and predicts the next ``--step`` sessions it never saw. Every
candidate feature set is trained and scored on exactly the same rows.

The candidates: the feature set the model had before the catalogue grew (``BASE``: the
original market features and every news feature), ``BASE`` plus each new group, ``BASE`` less
each original group, everything, and ``BASE`` without news as a positive control -- the demo
plants its effect in the news (``--news-effect``), so dropping news must lose measurably, or
the data set is too small to judge anything.

Each set is compared with ``BASE`` on the same rows by two one-sided paired tests that cluster
by session (neighbouring 30-minute labels overlap): the AUC (session-clustered DeLong,
:mod:`finsig_assets.ml.auc_inference`) and the Brier score (Diebold-Mariano on squared errors,
:mod:`finsig_assets.ml.loss_differential`). With several seeds (independent data sets) the
per-seed statistics are pooled (Stouffer: ``z = sum z_k / sqrt(K)``), and the verdict holds the
family of comparisons at 5 % (Holm over the sets and both directions, per metric): with 16
comparisons, one "significant" difference at a single 5 % test is what noise gives.

A group earns its place when adding it makes the model better (AUC or Brier) after that
correction; removing a group the model had shows whether it mattered.

    .venv/bin/python bench/feature_value.py                          # seeds 7 11 13, 160 sessions, effect 6
    .venv/bin/python bench/feature_value.py --seeds 3 --sessions 100
    .venv/bin/python bench/feature_value.py --json results.json
    .venv/bin/python bench/feature_value.py --warehouse ~/.finsig/warehouse.duckdb   # your own data

The demo's prices carry no market signal by construction (a random walk with a planted news
drift), so on the demo a market feature can only show that it costs nothing or hurts. Whether
one helps on real candles is for ``--warehouse``: it reads ``gold.training_examples`` of an
existing warehouse instead of building a data set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from demo_graph import materialize_demo  # bench/demo_graph.py (this script's folder is on sys.path)

os.environ.setdefault("FINSIG_LANDING_SETTLE_SECONDS", "0")

# Market columns by group: ORIGINAL groups are the features the model had before the catalogue
# grew; NEW groups are the rest of the replaced system's catalogue. Every market column of the
# table must fall in exactly one group (checked), so a column added later is not silently left
# out of the measurement.
ORIGINAL = {
    "returns 1-60 min": r"ret_(1|5|15|30|60)m",
    "volatility estimators": r"(realized_vol_\d+|parkinson_vol_30|garman_klass_vol_30|rogers_satchell_vol_30|yang_zhang_vol_30)",
    "rsi_14": r"rsi_14",
    "macd": r"macd(_signal|_hist)?",
    "bollinger": r"bb_(position|width)_20",
    "atr_14": r"atr_14",
    "volume_z_60": r"volume_z_60",
    "session clock": r"(minute_of_session|minutes_to_close)",
}
NEW = {
    "returns 120-360 min": r"ret_(120|240|360)m",
    "rsi_20": r"rsi_20",
    "price levels (sma, ema, vwap)": r"(sma_\d+|ema_\d+|vwap_30)",
    "momentum and roc": r"(momentum_10|roc_10)",
    "adx_14": r"adx_14",
    "range, volume ratios, amihud": r"(hl_range|volume_ratio_\d+|amihud_30)",
    "vol of vol": r"vol_of_vol_30",
}
LEVEL = 0.05


def group_columns(market: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for name, pattern in {**ORIGINAL, **NEW}.items():
        groups[name] = [c for c in market if re.fullmatch(pattern, c)]
        for c in groups[name]:
            if c in owner:
                raise SystemExit(f"{c} is in two groups: {owner[c]!r} and {name!r}")
            owner[c] = name
    orphans = [c for c in market if c not in owner]
    if orphans:
        raise SystemExit(f"market columns in no group of bench/feature_value.py: {orphans}")
    return groups


def build_examples(workdir: Path, sessions: int, seed: int, news_effect: float, articles: int):
    import dagster as dg

    from finsig_assets.ml.training_table import discover_features, read_labelled_examples

    warehouse, summary = materialize_demo(
        workdir, dg.AssetSelection.assets("gold/training_examples").upstream(), sessions, seed, news_effect, articles
    )
    features = discover_features(warehouse)
    first, last = (dt.date.fromisoformat(str(d)) for d in (summary.first_session, summary.last_session))
    frame = read_labelled_examples(warehouse, first, last, features, rth_only=True).sort("ts")
    return frame, features


def walk_forward(frame, candidates: dict[str, list[str]], window: int, step: int, nthread: int):
    """Out-of-sample probabilities of every candidate on the same rows, and those rows' labels."""
    import xgboost as xgb

    from finsig_assets.ml.direction_training import TrainingSettings, feature_matrix, fit_on_folds, window_folds
    from finsig_assets.ml.training_table import LABEL_COLUMN

    settings = TrainingSettings(nthread=nthread)
    days = sorted(set(frame["trade_date"].to_list()))
    session = np.array(frame["trade_date"].to_list())
    y_all = frame[LABEL_COLUMN].to_numpy().astype(np.float32)
    predicted = {name: [] for name in candidates}
    rows: list[np.ndarray] = []
    for start in range(window, len(days), step):
        train_days, test_days = set(days[start - window : start]), set(days[start : start + step])
        train_idx = np.flatnonzero([d in train_days for d in session])
        test_idx = np.flatnonzero([d in test_days for d in session])
        train = frame[train_idx]
        folds = window_folds(train, settings)
        rows.append(test_idx)
        for name, columns in candidates.items():
            x = feature_matrix(frame, columns)
            best, _, _ = fit_on_folds(x[train_idx], y_all[train_idx], folds, columns, settings)
            n_trees = max(1, int(round(float(np.median(best)))))
            dtrain = xgb.DMatrix(x[train_idx], y_all[train_idx], feature_names=columns)
            booster = xgb.train(settings.xgb_params(), dtrain, num_boost_round=n_trees)
            predicted[name].append(booster.predict(xgb.DMatrix(x[test_idx], feature_names=columns)))
        print(f"  trained on {min(train_days)}..{max(train_days)}, predicted {min(test_days)}..{max(test_days)} "
              f"({test_idx.size:,} rows)", file=sys.stderr, flush=True)
    idx = np.concatenate(rows)
    return {name: np.concatenate(p) for name, p in predicted.items()}, y_all[idx].astype(bool), session[idx]


def compare(predictions: dict, y: np.ndarray, clusters: np.ndarray, reference: str) -> list[dict]:
    from finsig_assets.ml.auc_inference import paired_auc_test
    from finsig_assets.ml.evaluation_metrics import auc
    from finsig_assets.ml.loss_differential import paired_loss_test

    out = []
    base = predictions[reference]
    for name, p in predictions.items():
        row = {"set": name, "auc": auc(y, p), "brier": float(np.mean((y - p) ** 2))}
        if name != reference:
            better = paired_auc_test(y, p, base, clusters)
            worse = paired_auc_test(y, base, p, clusters)
            brier_better = paired_loss_test(y.astype(float), p, base, clusters)
            brier_worse = paired_loss_test(y.astype(float), base, p, clusters)
            row |= {
                "auc_vs_base": better.difference,
                "auc_se": better.standard_error,
                "p_auc_better": better.p_value,
                "p_auc_worse": worse.p_value,
                "brier_reduction": brier_better.mean_difference,
                "p_brier_better": brier_better.p_value,
                "p_brier_worse": brier_worse.p_value,
            }
        out.append(row)
    return out


P_KEYS = ("p_auc_better", "p_auc_worse", "p_brier_better", "p_brier_worse")


def pooled(per_seed: list[list[dict]]) -> list[dict]:
    """Stouffer's combination of the seeds' one-sided p-values (independent data sets), per set."""
    from scipy.stats import norm

    out = []
    for rows in zip(*per_seed):
        row = {"set": rows[0]["set"], "auc": float(np.mean([r["auc"] for r in rows])),
               "brier": float(np.mean([r["brier"] for r in rows]))}
        if "p_auc_better" in rows[0]:
            row["auc_vs_base"] = float(np.mean([r["auc_vs_base"] for r in rows]))
            for key in P_KEYS:
                z = sum(float(norm.isf(min(max(r[key], 1e-300), 1 - 1e-16))) for r in rows) / math.sqrt(len(rows))
                row[key] = float(norm.sf(z))
        out.append(row)
    return out


def holm(rows: list[dict]) -> list[dict]:
    """Holm's step-down over every compared set and both directions, per metric: family-wise 5 %."""
    for metric in ("auc", "brier"):
        keys = [f"p_{metric}_better", f"p_{metric}_worse"]
        tests = sorted((r[k], i, k) for i, r in enumerate(rows) if keys[0] in r for k in keys)
        m, rejecting = len(tests), True
        for rank, (p, i, k) in enumerate(tests):
            rejecting = rejecting and p <= LEVEL / (m - rank)
            rows[i][f"{k}_rejected"] = rejecting
    return rows


def verdict(row: dict) -> str:
    if "p_auc_better" not in row:
        return "reference"
    better = row.get("p_auc_better_rejected") or row.get("p_brier_better_rejected")
    worse = row.get("p_auc_worse_rejected") or row.get("p_brier_worse_rejected")
    return "better" if better and not worse else "worse" if worse and not better else "mixed" if better else "no difference"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    print(f"{'feature set':36} {'AUC':>7} {'dAUC':>8} {'p(better)':>9} {'p(worse)':>9} {'Brier':>8} "
          f"{'p(better)':>9} {'p(worse)':>9}  verdict (Holm, family-wise {LEVEL:.0%})")
    for row in rows:
        fmt = lambda key: f"{row[key]:9.3f}" if key in row and math.isfinite(row[key]) else f"{'-':>9}"  # noqa: E731
        d = f"{row['auc_vs_base']:+8.4f}" if "auc_vs_base" in row else f"{'-':>8}"
        print(f"{row['set']:36} {row['auc']:7.4f} {d} {fmt('p_auc_better')} {fmt('p_auc_worse')} {row['brier']:8.5f} "
              f"{fmt('p_brier_better')} {fmt('p_brier_worse')}  {verdict(row)}")


def existing_examples(path: Path):
    """Every labelled regular-hours row of an existing warehouse's gold.training_examples."""
    from finsig_assets.ml.training_table import TABLE, LABEL_COLUMN, discover_features, read_labelled_examples
    from finsig_assets.warehouse import DuckDBWarehouse

    if not path.is_file():
        raise SystemExit(f"--warehouse {path}: no such file (a finsig DuckDB warehouse, e.g. $FINSIG_HOME/warehouse.duckdb)")
    warehouse = DuckDBWarehouse(database=str(path))
    features = discover_features(warehouse)
    with warehouse.connection() as conn:
        first, last = conn.execute(f"SELECT min(trade_date), max(trade_date) FROM {TABLE} WHERE {LABEL_COLUMN} IS NOT NULL").fetchone()
    if first is None:
        raise SystemExit(f"--warehouse {path}: {TABLE} has no labelled row")
    return read_labelled_examples(warehouse, first, last, features, rth_only=True).sort("ts"), features


def one_data_set(args: argparse.Namespace, seed: int) -> tuple[list[dict], dict[str, list[str]]]:
    t0 = time.perf_counter()
    if args.warehouse:
        frame, features = existing_examples(args.warehouse.expanduser())
    else:
        with tempfile.TemporaryDirectory(prefix="finsig-feature-value-") as tmp:
            os.environ["FINSIG_HOME"] = tmp
            frame, features = build_examples(Path(tmp), args.sessions, seed, args.news_effect, args.articles)
    built = time.perf_counter() - t0
    market, news = list(features.market), list(features.news)
    groups = group_columns(market)
    base_market = [c for g in ORIGINAL for c in groups[g]]
    ordered = lambda cols: [c for c in market if c in set(cols)]  # noqa: E731  (table order)
    candidates = {"BASE": ordered(base_market) + news}
    for g in NEW:
        candidates[f"+ {g}"] = ordered(base_market + groups[g]) + news
    for g in ORIGINAL:
        candidates[f"- {g}"] = ordered([c for c in base_market if c not in groups[g]]) + news
    candidates["all market features"] = market + news
    candidates["- news (positive control)"] = ordered(base_market)
    print(f"seed {seed}: {frame.height:,} labelled regular-hours rows in {frame['trade_date'].n_unique()} sessions, "
          f"{len(market)} market + {len(news)} news features; built in {built:.0f}s", file=sys.stderr)
    predictions, y, clusters = walk_forward(frame, candidates, args.window, args.step, args.nthread)
    print(f"seed {seed}: out of sample {y.size:,} rows in {len(set(clusters))} sessions "
          f"(news effect {args.news_effect}, {args.articles} articles/session)", file=sys.stderr)
    return compare(predictions, y, clusters, "BASE"), groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=160)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 13], help="one data set per seed")
    parser.add_argument("--news-effect", type=float, default=6.0)
    parser.add_argument("--articles", type=int, default=30, help="articles per session")
    parser.add_argument("--window", type=int, default=60, help="training sessions (the asset's default)")
    parser.add_argument("--step", type=int, default=10, help="sessions predicted by each model")
    parser.add_argument("--nthread", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--warehouse", type=Path, help="measure on this warehouse's gold.training_examples instead of demo data")
    args = parser.parse_args()
    if args.warehouse:
        args.seeds = ["(warehouse)"]
    logging.disable(logging.WARNING)

    t0 = time.perf_counter()
    per_seed, groups = [], {}
    for seed in args.seeds:
        rows, groups = one_data_set(args, seed)
        per_seed.append(holm(rows))
        print_table(f"seed {seed}: one-sided tests against BASE on the same rows, clustered by session", rows)
    if len(per_seed) > 1:
        print_table(f"pooled over seeds {args.seeds} (Stouffer)", holm(pooled(per_seed)))
    print(f"\n{time.perf_counter() - t0:.0f}s in all")
    if args.json:
        args.json.write_text(json.dumps({
            "args": {k: str(v) for k, v in vars(args).items()}, "groups": groups,
            "per_seed": {seed: [r | {"verdict": verdict(r)} for r in rows] for seed, rows in zip(args.seeds, per_seed)},
            "pooled": [r | {"verdict": verdict(r)} for r in holm(pooled(per_seed))] if len(per_seed) > 1 else None,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
