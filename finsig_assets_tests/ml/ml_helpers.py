"""Synthetic training examples and materialize helpers for the ml/ tests."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time

import dagster as dg
import polars as pl

from finsig_assets.ml.direction_model import direction_model
from finsig_assets_tests.ml.synthetic_examples import insert_examples, sessions_from, synthetic_examples
from finsig_assets.ml.training_table import discover_features
from finsig_assets.trading_calendar import next_session

FIRST = "2024-03-04"
SESSIONS = sessions_from(FIRST, 16)  # 2024-03-04 .. 2024-03-25

# Small and fast: 12-session windows of regular-hours bars (~4,300 labelled rows), few trees,
# one XGBoost thread (two shared cores are busy with other tests).
FAST_TRAINING = {
    "window_sessions": 12,
    "min_sessions": 6,
    "n_folds": 3,
    "max_trees": 60,
    "early_stopping_rounds": 10,
    "nthread": 1,
    # 3 folds over a 12-session window validate on 6 sessions: allow the test on them.
    "min_test_sessions": 6,
}


def insert_synthetic(warehouse, sessions: list[dt.date], **kwargs) -> pl.DataFrame:
    frame = synthetic_examples(sessions, discover_features(warehouse), **kwargs)
    insert_examples(warehouse, frame)
    return frame


def run_config(asset: dg.AssetsDefinition, **config) -> dg.RunConfig:
    op = asset.node_def.name
    return dg.RunConfig(ops={op: {"config": config}})


def materialize(
    assets: list[dg.AssetsDefinition],
    warehouse,
    tracking,
    first: str | dt.date,
    last: str | dt.date | None = None,
    run_config: dg.RunConfig | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    first, last = str(first), str(last) if last is not None else None
    kwargs: dict = {
        "resources": {"warehouse": warehouse, "mlflow": tracking},
        "instance": dg.DagsterInstance.ephemeral(),
        "raise_on_error": raise_on_error,
    }
    if run_config is not None:
        kwargs["run_config"] = run_config
    if last is None or last == first:
        kwargs["partition_key"] = first
    else:
        kwargs["tags"] = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(assets, **kwargs)


def model_for(through) -> dt.date:
    """The ml/direction_model partition whose model is trained through session ``through``."""
    return next_session(dt.date.fromisoformat(str(through)))


def train(warehouse, tracking, through, last_through=None, raise_on_error: bool = True, **overrides) -> dg.ExecuteInProcessResult:
    """Train the model(s) whose windows end with ``through`` (.. ``last_through``): partition = the next session."""
    return materialize(
        [direction_model],
        warehouse,
        tracking,
        model_for(through),
        model_for(last_through) if last_through is not None else None,
        run_config=run_config(direction_model, **(FAST_TRAINING | overrides)),
        raise_on_error=raise_on_error,
    )


def metadata_of(result: dg.ExecuteInProcessResult, key: str | None = None) -> dict:
    events = result.get_asset_materialization_events()
    if key is not None:
        events = [e for e in events if e.asset_key.to_user_string() == key]
    assert events
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


def metadata_for(result: dg.ExecuteInProcessResult, partition, key: str | None = None) -> dict:
    """The metadata of one partition's materialization (each partition carries its own numbers)."""
    events = [e for e in result.get_asset_materialization_events() if e.materialization.partition == str(partition)]
    if key is not None:
        events = [e for e in events if e.asset_key.to_user_string() == key]
    assert len(events) == 1, f"expected one materialization of {partition}, got {len(events)}"
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


def materialized_partitions(result: dg.ExecuteInProcessResult, key: str | None = None) -> list[str]:
    events = result.get_asset_materialization_events()
    return sorted(e.materialization.partition for e in events if key is None or e.asset_key.to_user_string() == key)


def model_runs(warehouse) -> pl.DataFrame:
    return warehouse.query("SELECT * FROM ml.model_runs ORDER BY trade_date")


def stop_server_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    """End a server's process group -- mlflow's CLI and the uvicorn it execs, both started by the test.

    The group id stays taken while any member lives, so signalling it reaches only them.
    """
    pgid = proc.pid

    def group_alive() -> bool:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True

    if group_alive():
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        proc.poll()  # reap the CLI, or its zombie keeps the group alive
        if not group_alive():
            break
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            break
        time.sleep(0.1)
    proc.wait(timeout=timeout)
