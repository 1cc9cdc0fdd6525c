"""Writes the Dagster instance config that finsig relies on.

Two things matter. The pools: ``duckdb_writer`` (limit 1) makes overlapping runs — a
backfill and a sensor run, or two backfills — queue for the single DuckDB writer instead of
racing for its file lock, and ``gpu`` (limit 1) keeps two runs from loading FinBERT onto one
GPU at once. The warehouse's own lock retries are the second line of defence. And run
monitoring with finsig's launcher (:mod:`finsig_assets.run_worker_health`): a run whose process
was killed is failed by the daemon and its pool slots are handed back, instead of holding the
``duckdb_writer`` slot for ever. The production instance (``docker/dagster.yaml``) has the same
pools and monitoring over PostgreSQL storage. With the DuckLake warehouse
(``FINSIG_WAREHOUSE=ducklake``) writers do not queue on a file, and ``init-instance`` raises the
``duckdb_writer`` pool to :data:`DUCKLAKE_WRITERS`.

The storage is Dagster's SQLite storage in ``$DAGSTER_HOME`` (the default layout), with an event
log that does not flush the disk for every recorded event (:mod:`finsig_assets.sqlite_storage`):
a single-run backfill records two events per partition, and those flushes cost more than the
data work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from finsig_assets import settings

INSTANCE_YAML = """\
# Written by `finsig init-instance`; edit freely, it is not overwritten unless --force.
# Dagster's SQLite storage under $DAGSTER_HOME, its event log without a disk flush per event.
storage:
  custom:
    module: finsig_assets.sqlite_storage
    class: FinsigSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
concurrency:
  pools:
    granularity: op
    default_limit: 1          # duckdb_writer and gpu: one step at a time across all runs
  runs:
    max_concurrent_runs: 4
# DefaultRunLauncher plus a worker health check: run monitoring fails a run whose process died.
run_launcher:
  module: finsig_assets.run_worker_health
  class: MonitoredRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 15
  max_resume_run_attempts: 0
  free_slots_after_run_end_seconds: 15   # a failed or crashed run's pool slots come back
telemetry:
  enabled: false
"""


def open_instance(dagster_home: Path | str):
    """The instance in ``dagster_home`` (``DagsterInstance.from_config``), whatever ``DAGSTER_HOME`` says.

    Its storage's ``base_dir`` comes from ``DAGSTER_HOME`` (so a moved or copied home stores into
    itself); the variable is pointed at ``dagster_home`` while the instance is built.
    """
    import os

    import dagster as dg

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(Path(dagster_home).resolve())
    try:
        return dg.DagsterInstance.from_config(str(dagster_home))
    finally:
        if previous is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = previous


def write_instance_config(dagster_home: Path, force: bool = False) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    if force or not path.exists():
        path.write_text(INSTANCE_YAML)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="finsig init-instance", description=__doc__.splitlines()[0])
    parser.add_argument("--dagster-home", type=Path, default=settings.dagster_home())
    parser.add_argument("--force", action="store_true", help="overwrite an existing dagster.yaml")
    args = parser.parse_args(argv)
    path = write_instance_config(args.dagster_home, args.force)
    print(f"Dagster instance config: {path}")
    create_storage(args.dagster_home)
    if settings.warehouse_profile() == "ducklake":
        set_pool_limit(args.dagster_home, "duckdb_writer", DUCKLAKE_WRITERS)
        print(f"DuckLake warehouse: pool duckdb_writer allows {DUCKLAKE_WRITERS} writing steps at once")
    return 0


def create_storage(dagster_home: Path) -> None:
    """Open the instance once, so its storage (SQLite: runs, schedules, event index) exists
    before anything else opens it. Otherwise the first processes to open a new home -- a run's
    step processes, ``dagster dev`` beside a CLI run -- each create and stamp the schedule
    database, and one of them fails in alembic ("more than one head present")."""
    open_instance(dagster_home).dispose()


# Steps that may write a DuckLake at once. Its writers do not share a file lock; commits that
# touch one table conflict and are written again (finsig_assets/ducklake_warehouse.py), so the
# limit only bounds how much work a conflict can make repeat.
DUCKLAKE_WRITERS = 8


def set_pool_limit(dagster_home: Path, pool: str, limit: int) -> None:
    """What ``dagster instance concurrency set <pool> <limit>`` does, for the instance in ``dagster_home``."""
    instance = open_instance(dagster_home)
    try:
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    finally:
        instance.dispose()
