"""Benchmark: the model backfill on Celery workers (FINSIG_EXECUTOR=celery) with 1 and with 2 workers.

The user's command over a demo home, timed from start to exit::

    dagster asset materialize -m finsig_assets.definitions --select '*ml/predictions' \\
        --partition-range FIRST...LAST

in three fresh copies of one demo home (same files, same settings, ``finsig init-instance``):

- ``local``: the default profile, every step in the run's process (the baseline);
- ``celery x1``: one worker on the queues ``dagster`` and ``gpu`` (``-c 1``);
- ``celery x2``: that worker and a second one on ``dagster`` only (``-c 1``), as
  ``test_celery_workers.py`` runs them.

The workers are started (and ready) before the command, as long-lived services are; their start-up
is reported apart. For each case: wall time, and per step where it ran, how long it ran (STEP_START
to STEP_SUCCESS) and how long it waited from its submission to its start (queue, task start-up);
the speed-up of 2 workers over 1 and over the local profile; and whether the three warehouses hold
the same ``ml.model_runs`` and ``ml.predictions`` rows. The queues carry a prefix of the bench's
own and are deleted at the end. Needs the broker of ``FINSIG_CELERY_BROKER`` (RabbitMQ on
127.0.0.1:5672 by default).

    .venv/bin/python bench/distributed_backfill.py                                 # 20 sessions
    .venv/bin/python bench/distributed_backfill.py --sessions 40 --json bench/out/distributed.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from finsig_assets import settings  # noqa: E402
from finsig_assets.instance_setup import open_instance  # noqa: E402
from finsig_assets_tests.integration.celery_cluster import (  # noqa: E402
    QUEUES,
    CeleryWorker,
    broker_reachable,
    delete_queues,
    queue_prefix,
    start_workers,
    step_placement,
    stop_workers,
)
from finsig_assets_tests.integration.live_dagster import finsig_env, run_cli  # noqa: E402
from finsig_assets_tests.integration.warehouse_compare import differences, digest  # noqa: E402

SELECTION = "*ml/predictions"
COMPARED = ("ml.model_runs", "ml.predictions")


def make_home(root: Path, sessions: int, articles: int) -> tuple[Path, str, str]:
    """The demo home every case copies: files and ``finsig.env`` (the demo's window and range)."""
    home = root / "demo"
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", str(sessions), "--home-settings",
             "--articles-per-session", str(articles), "--seed", "17"], finsig_env(home))  # fmt: skip
    first, last = settings.home_settings(home)["FINSIG_DEMO_RANGE"].split("...")
    return home, first, last


def copy_home(demo: Path, home: Path) -> None:
    (home / "landing").mkdir(parents=True)
    for dataset in ("market", "news"):
        shutil.copytree(demo / "landing" / dataset, home / "landing" / dataset)
    shutil.copy(demo / "finsig.env", home / "finsig.env")


def run_case(name: str, n_workers: int, demo: Path, root: Path, first: str, last: str, prefix: str) -> dict:
    home = root / name.replace(" ", "-")
    copy_home(demo, home)
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1", FINSIG_CELERY_BROKER=settings.celery_broker(),
                     FINSIG_CELERY_QUEUE_PREFIX=prefix, PYTHONWARNINGS="ignore")  # fmt: skip
    run_cli(["finsig_assets.cli", "init-instance"], env)
    command = ["dagster", "asset", "materialize", "-m", "finsig_assets.definitions", "--select", SELECTION,
               "--partition-range", f"{first}...{last}"]  # fmt: skip
    queues = [f"{prefix}{q}" for q in QUEUES]
    workers = [CeleryWorker(f"gpu-a-{prefix.rstrip('-')}", queues, env, root / f"{home.name}-worker-a.log")]
    if n_workers > 1:
        workers.append(CeleryWorker(f"cpu-b-{prefix.rstrip('-')}", queues[:1], env, root / f"{home.name}-worker-b.log"))
    out: dict = {"case": name, "workers": n_workers}
    try:
        if n_workers:
            t0 = time.perf_counter()
            start_workers(workers)
            out["workers_ready_s"] = round(time.perf_counter() - t0, 1)
            env = env | {"FINSIG_EXECUTOR": "celery"}
        t0 = time.perf_counter()
        run_cli(command, env, timeout=3600)
        out["wall_s"] = round(time.perf_counter() - t0, 1)
    finally:
        if n_workers:
            stop_workers(workers)
            delete_queues(settings.celery_broker(), queues)
    instance = open_instance(home / "dagster")
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
    out["steps"] = [
        {"step": p.step_key, "worker": p.worker_name if n_workers else "run process", "queue": p.queue,
         "seconds": p.seconds, "wait_s": p.submitted_to_start}
        for p in step_placement(instance, run.run_id).values()
    ]  # fmt: skip
    out["home"] = str(home)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--articles-per-session", type=int, default=30)
    parser.add_argument("--no-local", action="store_true", help="skip the local (in-process) baseline")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args(argv)
    broker = settings.celery_broker()
    if (why := broker_reachable(broker)) is not None:
        raise SystemExit(f"no Celery broker at {broker} ({why}); set FINSIG_CELERY_BROKER")

    root = Path(tempfile.mkdtemp(prefix="finsig-distributed-"))
    prefix = queue_prefix("bench")
    demo, first, last = make_home(root, args.sessions, args.articles_per_session)
    figures: dict = {"sessions": args.sessions, "range": f"{first}...{last}", "articles_per_session": args.articles_per_session,
                     "window_sessions": settings.home_settings(demo).get("FINSIG_MODEL_WINDOW_SESSIONS"), "cases": []}  # fmt: skip
    cases = [("celery x1", 1), ("celery x2", 2)] + ([] if args.no_local else [("local", 0)])
    for name, n in cases:
        result = run_case(name, n, demo, root, first, last, prefix)
        figures["cases"].append(result)
        print(f"{name:<10} {result['wall_s']:7.1f} s wall", flush=True)

    by_name = {c["case"]: c for c in figures["cases"]}
    one, two = by_name["celery x1"]["wall_s"], by_name["celery x2"]["wall_s"]
    figures["speedup_2_over_1_worker"] = round(one / two, 2)
    if "local" in by_name:
        figures["speedup_2_workers_over_local"] = round(by_name["local"]["wall_s"] / two, 2)
    problems = []
    reference = Path(figures["cases"][0]["home"]) / "warehouse.duckdb"
    for case in figures["cases"][1:]:
        for table in COMPARED:
            problems += [f"{case['case']}: {p}" for p in differences(digest(reference, table), digest(Path(case["home"]) / "warehouse.duckdb", table))]
    figures["same_models_and_predictions"] = not problems
    figures["problems"] = problems

    print(f"\n{args.sessions} sessions ({first}...{last}), {args.articles_per_session} articles/session, `{SELECTION}`")
    for case in figures["cases"]:
        ready = f"  (workers ready in {case['workers_ready_s']} s, not counted)" if case["workers"] else ""
        print(f"\n{case['case']}: {case['wall_s']} s wall{ready}")
        for s in case["steps"]:
            print(f"  {s['step']:<26} {s['worker']:<32} {s['queue'] or '-':<8} ran {s['seconds']:7.2f} s   waited {s['wait_s']:5.2f} s")
    print(f"\nspeed-up, 2 workers over 1: {figures['speedup_2_over_1_worker']}x"
          + (f"; over the local profile: {figures['speedup_2_workers_over_local']}x" if "local" in by_name else ""))
    print("same ml.model_runs and ml.predictions in every case" if not problems else "DIFFERENT:\n" + "\n".join(problems))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
