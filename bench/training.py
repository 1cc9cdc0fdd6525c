"""Benchmark: materialize ONE ``ml/direction_model`` partition on a 60-session window.

For each mode a fresh child process builds a throwaway warehouse and MLflow store, inserts
synthetic ``gold.training_examples`` rows for 60 sessions (all-hours: 23 h of one-minute bars a
session, ~83k rows; regular hours: 390 a session, ~23k rows) with every feature column of the
table (if it has fewer than ``--min-features``, extra market columns are added to the table
first; the model discovers them like any other), a planted news effect, and then times ``dg.materialize`` of the 60th session's partition with the
default configuration (60-session window, 4 walk-forward folds, up to 300 trees with early
stopping, ``nthread=2``). The MLflow store is created before the clock starts (a first SQLite
migration takes seconds, once per store). Peak RSS is the child's ``ru_maxrss`` (imports of
dagster, mlflow, xgboost and matplotlib included). Goal on 2 cores: under 20 s and 2 GB.

    .venv/bin/python bench/training.py                    # all-hours and regular-hours
    .venv/bin/python bench/training.py --modes rth        # one mode
    .venv/bin/python bench/training.py --news-effect 0.0  # no signal: early stopping stops sooner
    .venv/bin/python bench/training.py --nthread 1        # on a shared, oversubscribed box
    .venv/bin/python bench/training.py --split            # ml/model_fits, then ml/direction_model registering its fit

``--split`` times the two steps a multi-run backfill separates: the fit (``ml/model_fits``, the
part workers run side by side) and the registration (``ml/direction_model`` taking the stored
fit: MLflow run, version, decision, aliases -- the part that stays in session order).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # finsig_assets_tests: the synthetic examples

FIRST_SESSION = "2024-01-02"
N_SESSIONS = 60
EXTRA_MARKET_COLUMNS = [f"extra_market_{i}" for i in range(1, 41)]


def run_one(mode: str, news_effect: float, nthread: int, min_features: int, workdir: Path, split: bool = False) -> dict:
    import dagster as dg

    from finsig_assets.ml import MlflowTracking, direction_model, model_fits
    from finsig_assets_tests.ml.synthetic_examples import insert_examples, sessions_from, synthetic_examples
    from finsig_assets.ml.training_table import discover_features
    from finsig_assets.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(database=str(workdir / "bench.duckdb"))
    missing = max(0, min_features - len(discover_features(warehouse).all))
    with warehouse.connection() as conn:
        for column in EXTRA_MARKET_COLUMNS[:missing]:
            conn.execute(f"ALTER TABLE gold.training_examples ADD COLUMN IF NOT EXISTS {column} DOUBLE")
    features = discover_features(warehouse)
    sessions = sessions_from(FIRST_SESSION, N_SESSIONS)
    t0 = time.perf_counter()
    frame = synthetic_examples(sessions, features, news_effect=news_effect, seed=5, all_hours=True)
    insert_examples(warehouse, frame)
    generate_s = time.perf_counter() - t0
    rth_only = mode == "rth"
    labelled = frame.filter(frame["label_up"].is_not_null() & (frame["is_rth"] if rth_only else True))

    tracking = MlflowTracking(tracking_uri=f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}", ui_url=None)
    tracking.experiment_id()  # creates the store (migrations) before the clock starts

    partition = sessions[-1].isoformat()
    config = {"rth_only": rth_only, "nthread": nthread}

    def materialize(asset) -> float:
        t0 = time.perf_counter()
        result = dg.materialize(
            [asset],
            partition_key=partition,
            resources={"warehouse": warehouse, "mlflow": tracking},
            instance=dg.DagsterInstance.ephemeral(),
            run_config=dg.RunConfig(ops={asset.node_def.name: {"config": config}}),
        )
        assert result.success
        return time.perf_counter() - t0

    split_s = {}
    if split:
        split_s["fit_step_s"] = round(materialize(model_fits), 2)
        wall = materialize(direction_model)
        split_s["register_step_s"] = round(wall, 2)
        fit = warehouse.query("SELECT status, fit_seconds, fit_bytes FROM ml.model_fits").row(0, named=True)
        assert fit["status"] == "fitted", fit
        split_s |= {"fit_partition_s": round(fit["fit_seconds"], 2), "fit_mb": round(fit["fit_bytes"] / 1e6, 2)}
    else:
        wall = materialize(direction_model)
    run = warehouse.query("SELECT * FROM ml.model_runs").row(0, named=True)
    assert run["status"] == "trained", run
    return {
        "mode": "regular hours" if rth_only else "all hours",
        "partition": partition,
        "sessions": N_SESSIONS,
        "rows_in_table": frame.height,
        "train_rows": int(run["n_train_rows"]),
        "labelled_rows_expected": labelled.height,
        "features": int(run["n_features"]),
        "nthread": nthread,
        "seconds": json.loads(run["metrics_json"]).get("seconds", {}),
        "n_trees": int(run["n_trees"]),
        "model_auc": round(run["model_auc"], 4),
        "market_only_auc": round(run["market_only_auc"], 4),
        "decision": "champion" if run["promoted"] else "challenger only",
        "materialize_s": round(wall, 2),
        "partition_s": round(run["train_seconds"], 2),
        "generate_s": round(generate_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    } | split_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="*", choices=["all", "rth"], default=["all", "rth"])
    parser.add_argument("--news-effect", type=float, default=0.3)
    parser.add_argument("--nthread", type=int, default=2, help="XGBoost threads (the asset's default is 2)")
    parser.add_argument("--min-features", type=int, default=35)
    parser.add_argument("--split", action="store_true", help="fit in ml/model_fits, then register in ml/direction_model")
    parser.add_argument("--child", choices=["all", "rth"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        with tempfile.TemporaryDirectory(prefix="finsig-bench-training-") as tmp:
            print(json.dumps(run_one(args.child, args.news_effect, args.nthread, args.min_features, Path(tmp), args.split)))
        return 0
    for mode in args.modes:
        proc = subprocess.run(
            [
                sys.executable, __file__, "--child", mode, "--news-effect", str(args.news_effect),
                "--nthread", str(args.nthread), "--min-features", str(args.min_features),
                *(["--split"] if args.split else []),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['mode']:>13}: {r['train_rows']:>6,} training rows x {r['features']} features, "
            f"{r['sessions']} sessions -> materialize {r['materialize_s']:>5.1f} s "
            f"(partition {r['partition_s']:.1f} s), peak RSS {r['peak_rss_mb']:,} MB; "
            f"{r['n_trees']} trees, AUC {r['model_auc']} vs market-only {r['market_only_auc']} ({r['decision']}), "
            f"nthread={r['nthread']}\n{'':>15}seconds: {r['seconds']}"
            + (f"\n{'':>15}split: fit step {r['fit_step_s']} s (fitting {r['fit_partition_s']} s, {r['fit_mb']} MB stored), "
               f"register step {r['register_step_s']} s" if args.split else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
