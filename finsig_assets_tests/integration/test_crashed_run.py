"""``kill -9`` of ``dagster asset materialize`` during a step, then the next CLI run.

Before finsig recorded its run workers, the killed run stayed STARTED holding its
``duckdb_writer`` slot, and the next run waited for ever on "Step blocked by limit for pool
duckdb_writer". Now the next run fails the dead one (its worker is provably gone), hands its slot
back, stops its orphaned step process and completes -- with no daemon running, on the local
instance ``finsig init-instance`` writes.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import dagster as dg
import psutil
import pytest

from finsig_assets.instance_setup import open_instance
from finsig_assets_tests.integration.live_dagster import REPO_ROOT, finsig_env, run_cli

pytestmark = pytest.mark.integration

SELECTION = "*gold/market_features"


def test_a_run_killed_during_a_step_is_failed_and_frees_its_slot_for_the_next_run(tmp_path):
    home = tmp_path / "home"
    # Steps in their own processes (the multiprocess executor): the case that leaves orphans.
    env = finsig_env(home, FINSIG_LANDING_SETTLE_SECONDS="1", FINSIG_EXECUTOR="multiprocess")
    run_cli(["finsig_assets.cli", "demo-data", "--sessions", "5", "--home-settings", "--articles-per-session", "4", "--seed", "5"], env)
    run_cli(["finsig_assets.cli", "init-instance"], env)
    first, last = (home / "finsig.env").read_text().split("FINSIG_DEMO_RANGE=")[1].split()[0].split("...")
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "finsig_assets.definitions",
               "--select", SELECTION, "--partition-range", f"{first}...{last}"]

    log = open(tmp_path / "killed.log", "w")
    killed = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    instance = open_instance(env["DAGSTER_HOME"])
    deadline = time.monotonic() + 180
    run = None
    while time.monotonic() < deadline and killed.poll() is None:
        runs = instance.get_runs(limit=1)
        if runs and instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START):
            run = runs[0]
            break
        time.sleep(0.05)
    assert run is not None, (tmp_path / "killed.log").read_text()[-3000:]
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    log.close()
    t_kill = time.perf_counter()

    # The defect as a user met it: the dead run is STARTED and holds the writer's slot.
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    assert run.run_id in {s.run_id for s in instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots}
    step_workers = [int(e.dagster_event.event_specific_data.metadata["pid"].value)
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED)]
    assert step_workers

    # The next run, as a user types it, with no daemon: it must not wait for the dead run's slot.
    started = time.perf_counter()
    out = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    print(f"next run completed {time.perf_counter() - started:.1f}s after it started ({time.perf_counter() - t_kill:.1f}s after the kill)")

    dead = instance.get_run_by_id(run.run_id)
    assert dead.status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1].message
    assert "worker process" in failure and "gone" in failure, failure
    assert instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots == []
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in step_workers), (
        "the dead run's step processes outlived it"
    )
    latest = instance.get_runs(limit=1)[0]
    assert latest.run_id != run.run_id and latest.status == dg.DagsterRunStatus.SUCCESS
    sessions = set(instance.get_materialized_partitions(dg.AssetKey(["bronze", "market_candles"])))
    for key in (["silver", "market_bars"], ["gold", "market_features"]):
        assert set(instance.get_materialized_partitions(dg.AssetKey(key))) == sessions
