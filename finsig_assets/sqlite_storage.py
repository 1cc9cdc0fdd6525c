"""Dagster's SQLite storage for a local instance, without a disk flush per recorded event.

A single-run backfill records two events per asset partition (planned, then materialized): a
year of three assets is 1,500 events. Dagster's ``SqliteEventLogStorage`` writes each event
through new connections to the run's database and to the cross-run index database, each
committed with ``synchronous=FULL`` and closed -- and closing the last connection to a WAL
database checkpoints it. Profiled on two cores (``bench/market_pipeline.py --cli``), that is
three to eight flushes and four engine set-ups per event, 15-50 ms each: more than the data
work of the whole run.

This storage is Dagster's own (same files, schema, watchers and migrations) with these changes:

- ``synchronous=NORMAL`` on every connection. In WAL mode that is SQLite's recommended setting:
  a commit is durable against a crash of the process (the WAL is written before the commit
  returns) and is flushed to disk at the next checkpoint; only a power loss or OS crash can lose
  the last transactions, never corrupt the database. A local instance's event log is worth that;
  a production instance uses PostgreSQL (``docker/dagster.yaml``).
- each database in use (the index database with asset events, tags and checks; the most recent
  run databases) keeps one idle connection open, so closing the per-event connections does not
  checkpoint it each time; SQLite checkpoints it as the WAL grows (every 1,000 pages), as it
  would any busy database;
- engines are created once per database instead of once per connection;
- a check planned over a range writes Dagster's one row per partition with the event serialized
  once instead of once per row (quadratic in the range's length);
- a batch of asset events -- Dagster hands the storage a ranged step's materializations, or a
  run's planned materializations, as one batch (``store_event_batch``) when
  ``DAGSTER_EVENT_BATCH_SIZE`` is set, which this storage sets for its process unless the
  environment already does -- is written in one transaction per database instead of one per
  event, each event serialized once for both databases and each asset key's row written once
  with what the batch leaves in it. Other events of a batch (planned asset checks) are stored one
  by one, as Dagster does.

The webserver follows a live run's events by watching its database file (``<run_id>.db``), which
SQLite only touches at a checkpoint: after a transaction that wrote to a run database, its file's
modification time is set, so a live run's logs keep appearing in the UI as they are written.

``finsig init-instance`` configures it (``storage: custom:`` with ``base_dir`` from
``DAGSTER_HOME``: the same directory layout as Dagster's default, so an existing instance keeps
its history).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from dagster import AssetKey
from dagster import _check as check
from dagster._config import StringSource
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, AssetKeyTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData, serialize_value
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

INDEX_SHARD = "index"
# Events Dagster hands over in one batch at most (a year of one asset's partitions is 252).
EVENT_BATCH_SIZE = "1000"
# Run databases whose engine and idle connection are kept (a long-lived webserver or daemon sees
# many runs); the index database's are always kept.
MAX_RUN_ENGINES = 16


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return bool(dagster_event and dagster_event.event_type in ASSET_EVENTS and dagster_event.asset_key)


def _asset_key(event: EventLogEntry) -> AssetKey:
    """The asset key of an asset event (one ``_is_asset_event`` accepts)."""
    return check.not_none(event.get_dagster_event().asset_key)


def _evict_oldest_runs(cache: OrderedDict, release) -> None:
    """Keep the ``MAX_RUN_ENGINES`` most recently used run databases of ``cache`` (and the index)."""
    run_shards = [shard for shard in cache if shard != INDEX_SHARD]
    for old in run_shards[: max(0, len(run_shards) - MAX_RUN_ENGINES)]:
        release(cache.pop(old))


def _synchronous_normal(dbapi_connection: sqlite3.Connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class FewerFlushesSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with the changes in the module docstring."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._anchors: OrderedDict[str, sqlite3.Connection] = OrderedDict()
        super().__init__(base_dir, inst_data)
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Consecutive asset events of one run in one transaction per database, any other event
        as ``store_event`` stores it, in the batch's order."""
        group: list[EventLogEntry] = []
        for event in events:
            if _is_asset_event(event) and (not group or group[0].run_id == event.run_id):
                group.append(event)
                continue
            self._store_asset_events(group)
            group = []
            if _is_asset_event(event):
                group.append(event)
            else:
                self.store_event(event)
        self._store_asset_events(group)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        """What ``store_event`` does for each asset event, in one transaction per database: each
        event serialized once for both databases, and each asset key's row updated once with what
        the batch's events would have left in it one after the other."""
        if not events:
            return
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), rows
            )
            event_ids = list(inserted.scalars())
            self._store_asset_event_tags(conn, events, event_ids)
            self._store_asset_key_rows(conn, events, event_ids)

    def _store_asset_key_rows(self, conn: Connection, events: list[EventLogEntry], event_ids: list[int]) -> None:
        """Dagster's ``_store_asset_event`` for a batch: per asset key, each column of its row takes
        the value of the last event that sets it. Walking backwards, a key is done at its last
        materialization (which sets every column), so only that one materialization per key is
        serialized again (Dagster keeps the whole record in ``last_materialization``)."""
        index_columns = self._has_asset_key_index_cols_on_connection(conn)
        merged: dict[str, dict] = {}
        done: set[str] = set()
        for event, event_id in zip(reversed(events), reversed(event_ids), strict=True):
            key = _asset_key(event).to_string()
            if key in done:
                continue
            values = self._get_asset_entry_values(event, event_id, index_columns)
            merged[key] = values | merged.get(key, {})
            if event.get_dagster_event().is_step_materialization:
                done.add(key)
        for key, values in merged.items():
            if not values:
                continue
            try:
                conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
            except IntegrityError:
                conn.execute(AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key))

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        """Dagster's own rows -- one PLANNED row per partition of the run -- with the event serialized
        once, not once per row: a check planned over a five-year range serialized its 1,260-partition
        event 1,260 times (quadratic; seconds before a run could start)."""
        planned = event.get_dagster_event().asset_check_planned_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        serialized = serialize_value(event)
        timestamp = self._event_insert_timestamp(event)
        with self.index_connection() as conn:
            conn.execute(
                AssetCheckExecutionsTable.insert().values(
                    [
                        dict(
                            asset_key=planned.asset_key.to_string(),
                            check_name=planned.check_name,
                            partition=partition_key,
                            run_id=event.run_id,
                            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
                            evaluation_event=serialized,
                            evaluation_event_timestamp=timestamp,
                            evaluation_event_storage_id=event_id,
                        )
                        for partition_key in partition_keys
                    ]
                )
            )

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            sa.event.listen(engine, "connect", _synchronous_normal)
            self._engines[shard] = engine
            _evict_oldest_runs(self._engines, Engine.dispose)
            return engine

    def _anchor(self, shard: str) -> None:
        """An idle connection to ``shard`` for the life of the storage: closing the others never checkpoints it."""
        with self._engines_lock:
            if shard in self._anchors:
                self._anchors.move_to_end(shard)
                return
            anchor = sqlite3.connect(self.path_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS, check_same_thread=False)
            anchor.execute("PRAGMA synchronous=NORMAL")
            self._anchors[shard] = anchor
            _evict_oldest_runs(self._anchors, sqlite3.Connection.close)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._anchor(shard)
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None  # a connection checked out of the pool holds its DBAPI connection
                changes = raw.total_changes
                with conn.begin():
                    yield conn
                wrote = raw.total_changes != changes
            if wrote and shard != INDEX_SHARD:
                # Watchers (the webserver following a live run) react to the run database file
                # changing; with the WAL not checkpointed on every close, say so explicitly.
                os.utime(self.path_for_shard(shard))

    def wipe(self) -> None:
        self._dispose_connections()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_connections()
        super().dispose()

    def _dispose_connections(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            for anchor in self._anchors.values():
                anchor.close()
            self._anchors.clear()


class FinsigSqliteStorage(DagsterSqliteStorage):
    """Dagster's default local storage (runs, event logs, schedules under ``base_dir``) with the
    event log of :class:`FewerFlushesSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data)
        self._event_log_storage = FewerFlushesSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def config_type(cls):
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> FinsigSqliteStorage:
        return cls(inst_data=inst_data, **config_value)
