"""The local instance's storage: Dagster's SQLite storage, fewer disk flushes, same behaviour."""

from __future__ import annotations

import sqlite3
import threading

import dagster as dg
import pytest
from dagster._serdes import deserialize_value

from finsig_assets.instance_setup import write_instance_config
from finsig_assets.sqlite_storage import EVENT_BATCH_SIZE, FewerFlushesSqliteEventLogStorage

partitions = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
def letters(context):
    for key in context.partition_keys:
        context.add_asset_metadata({"letter": key}, partition_key=key)
    return dg.MaterializeResult()


@pytest.fixture(autouse=True)
def batched_events(monkeypatch):
    """What the storage sets in its process; set here so that it is undone after each test."""
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    write_instance_config(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def materialize_range(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [letters],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"},
    )


def test_init_instance_uses_it_in_dagsters_layout(dagster_home):
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, FewerFlushesSqliteEventLogStorage)
        run = materialize_range(instance).dagster_run
    # Dagster's own layout under DAGSTER_HOME: an instance with the default storage reads it.
    assert (dagster_home / "history" / "runs.db").exists()
    assert (dagster_home / "history" / "runs" / f"{run.run_id}.db").exists()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as default_instance:
        assert type(default_instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert default_instance.get_materialized_partitions(letters.key) == {"a", "b", "c"}
        events = default_instance.fetch_materializations(letters.key, limit=10).records
        assert sorted(e.asset_materialization.metadata["letter"].value for e in events) == ["a", "b", "c"]


def test_what_one_instance_writes_another_reads_at_once(dagster_home):
    """The index database's idle connection hides nothing from other processes' readers."""
    with dg.DagsterInstance.get() as writer, dg.DagsterInstance.get() as reader:
        materialize_range(writer)
        assert reader.get_materialized_partitions(letters.key) == {"a", "b", "c"}
        status = reader.get_asset_records([letters.key])[0].asset_entry.last_materialization_record
        assert status is not None and status.partition_key in {"a", "b", "c"}


def test_connections_commit_without_a_full_flush(dagster_home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (FULL is 2)
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with storage.run_connection("some-run") as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_a_watcher_sees_a_live_runs_events(dagster_home):
    """The webserver follows a run by watching its database file: it must change as events land,
    not only when the run ends. The step waits until the watcher has seen the run start."""
    seen_start = threading.Event()

    def callback(entry, _cursor):
        if entry.dagster_event and entry.dagster_event.event_type_value == "STEP_START":
            seen_start.set()

    @dg.asset
    def waits_for_the_watcher():
        if not seen_start.wait(timeout=30):
            raise AssertionError("the watcher saw nothing of the live run")

    job = dg.Definitions(assets=[waits_for_the_watcher]).resolve_implicit_global_asset_job_def()
    run_id = "5f0e4a52-0000-4000-8000-000000000001"
    with dg.DagsterInstance.get() as watcher, dg.DagsterInstance.get() as writer:
        watcher.event_log_storage.watch(run_id, None, callback)
        try:
            result = job.execute_in_process(instance=writer, run_id=run_id)
        finally:
            watcher.event_log_storage.end_watch(run_id, callback)
    assert result.success


@dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
def fails(context):
    raise RuntimeError("no data")


def recorded(instance: dg.DagsterInstance) -> dict:
    """What the UI and the automation read back about ``letters`` and ``fails``."""
    storage = instance.event_log_storage
    return {
        "materialized": sorted(instance.get_materialized_partitions(letters.key)),
        "per_partition": {
            key: [
                r.asset_materialization.metadata["letter"].value
                for r in instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=letters.key, asset_partitions=[key]), limit=5
                ).records
            ]
            for key in ("a", "b", "c")
        },
        "latest": instance.get_latest_materialization_event(letters.key).asset_materialization.partition,
        "asset_keys": sorted(k.to_user_string() for k in instance.get_asset_keys()),
        "planned_letters": {k: storage.get_latest_planned_materialization_info(letters.key, k) is not None for k in "abc"},
        "planned_fails": {k: storage.get_latest_planned_materialization_info(fails.key, k) is not None for k in "abc"},
        "fails_materialized": sorted(instance.get_materialized_partitions(fails.key)),
    }


def stored_rows(home) -> dict:
    """The rows both storages write, made comparable across instances: per asset key, which event
    its row points at (by position in the index's event log, not by id) and the run and time it
    names; per run, the event types its own database holds."""
    index = sqlite3.connect(home / "history" / "runs" / "index.db")
    events = index.execute("SELECT id, run_id, asset_key, dagster_event_type, timestamp FROM event_logs ORDER BY id").fetchall()
    position = {row[0]: i for i, row in enumerate(events)}
    runs = sorted({row[1] for row in events}, key=lambda run: min(i for i, r in enumerate(events) if r[1] == run))
    keys = {}
    for key, last_materialization, last_run_id, last_timestamp in index.execute(
        "SELECT asset_key, last_materialization, last_run_id, last_materialization_timestamp FROM asset_keys"
    ):
        record = deserialize_value(last_materialization) if last_materialization else None
        keys[key] = {
            "last_materialization_at": position[record.storage_id] if record else None,
            "its_partition": record.event_log_entry.dagster_event.partition if record else None,
            "last_run": runs.index(last_run_id),
            "timestamp_of_last_event": last_timestamp
            == max(row[4] for row in events if row[2] == key),
        }
    per_run = {}
    for i, run in enumerate(runs):
        with sqlite3.connect(home / "history" / "runs" / f"{run}.db") as db:
            per_run[i] = [r[0] for r in db.execute("SELECT dagster_event_type FROM event_logs ORDER BY id") if r[0]]
    tags = index.execute("SELECT count(*) FROM asset_event_tags").fetchone()[0]
    index.close()
    return {"keys": keys, "index_events": [(r[2], r[3]) for r in events], "per_run": per_run, "tags": tags}


def test_batched_events_read_back_like_dagsters_own_storage(tmp_path, monkeypatch):
    """Planned and materialization events written in batches give what Dagster's default storage gives."""
    results = {}
    for name, yaml in (("default", None), ("finsig", True)):
        home = tmp_path / name
        if yaml:
            write_instance_config(home)
        else:
            home.mkdir()
            (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        if yaml:  # batches, as the storage sets them up
            monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        else:  # Dagster's default: one event at a time
            monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
        with dg.DagsterInstance.get() as instance:
            assert materialize_range(instance).success
            failed = dg.materialize(
                [fails],
                instance=instance,
                raise_on_error=False,
                tags={"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "c"},
            )
            assert not failed.success
            results[name] = recorded(instance)
        results[name]["rows"] = stored_rows(home)
    assert results["finsig"] == results["default"]
    rows = results["finsig"]["rows"]["keys"]
    assert rows['["letters"]']["its_partition"] in ("a", "b", "c") and rows['["fails"]']["last_materialization_at"] is None
    assert rows['["fails"]']["last_run"] == 1  # the failed run planned it
    assert results["finsig"]["materialized"] == ["a", "b", "c"]
    assert results["finsig"]["per_partition"] == {"a": ["a"], "b": ["b"], "c": ["c"]}
    assert all(results["finsig"]["planned_fails"].values())  # the failed run's partitions were planned
