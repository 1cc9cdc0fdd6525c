"""A SQL model without a Python step writes with INSERT ... SELECT: its rows never become a frame.

The write is the partition range's replace transaction (delete the range, one INSERT INTO ...
BY NAME SELECT per chunk), so a failure in any INSERT leaves the previous rows; the
materialization's numbers and previews, read back in SQL, are the ones the frame gave.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from finsig_assets import materialization_metadata, settings
from finsig_assets.materialization_metadata import PREVIEW_MAX_PARTITIONS, PREVIEW_WINDOW_FACTOR
from finsig_assets.partition_scope import PartitionScope
from finsig_assets.sql_models import SqlModelError, compute_sql_model, load_sql_model, run_sql_model
from finsig_assets.sql_models import runner
from finsig_assets.sql_models.runner import result_metadata
from finsig_assets.warehouse import DuckDBWarehouse, Transaction
from finsig_assets_tests.sql_models.model_dirs import model_dir
from finsig_assets_tests.sql_models.synthetic_bars import insert_bars, synthetic_bars

DAYS = ["2024-03-04", "2024-03-05", "2024-03-06"]
TINY_DDL = """\
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.tiny (
    instrument VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    trade_date DATE NOT NULL,
    close      DOUBLE,
    window_len DOUBLE,
    n_articles INTEGER
);
"""
TINY_SQL = """\
-- asset: gold/tiny
-- description: The range's bars and more, from two instruments.
-- config: tag='x'
-- chunk_sessions: {chunk}
-- checks: unique_keys(instrument, ts)
--
WITH pairs AS (
    SELECT instrument, ts, trade_date, close FROM silver.market_bars
    UNION ALL
    SELECT 'B_' || instrument, ts, trade_date, CASE WHEN minute(ts) % 7 = 0 THEN NULL ELSE close END FROM silver.market_bars
)
SELECT b.instrument, b.ts, b.trade_date, {close} AS close,
       epoch($window_end) - epoch($window_start) AS window_len,
       CASE WHEN minute(b.ts) % 3 = 0 THEN 1 END AS n_articles,
       s.rth_close AS _helper
FROM pairs AS b JOIN calendar_sessions AS s USING (trade_date)
WHERE b.ts >= $window_start - INTERVAL 2 HOUR AND b.ts < $window_end  -- rows before the window: dropped
ORDER BY b.ts DESC, b.instrument;  -- ties as the written path's previews break them
"""


def _write_model(sql_dir: Path, chunk: int = 1, close: str = "b.close") -> Path:
    path = sql_dir / "gold.tiny.sql"
    path.write_text(TINY_SQL.format(chunk=chunk, close=close))
    return path


@pytest.fixture
def sql_dir(tmp_path, monkeypatch) -> Path:
    root = model_dir(tmp_path, monkeypatch, "gold.tiny", TINY_DDL)
    _write_model(root)
    return root


@pytest.fixture
def tiny_warehouse(sql_dir, tmp_path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lock_timeout_seconds=60)
    insert_bars(warehouse, synthetic_bars("2024-03-01", "2024-03-07", seed=5))
    return warehouse


def _rows(warehouse, table: str = "gold.tiny") -> pl.DataFrame:
    return warehouse.query(f"SELECT * FROM {table} ORDER BY ALL")


def _frame_path(model, warehouse, scope):
    """The write as it was before (and still is for a model with a Python step): the SELECT's rows
    fetched into polars, then replaced from the frame."""
    run = compute_sql_model(model, warehouse, scope)
    with warehouse.transaction() as tx:
        tx.replace(model.table, run.frame, scope.first, scope.last)
    return run


class _Context:
    """Stands in for a run's context: collects each partition's own metadata (weak-referenceable)."""


def _metadata(run) -> tuple[dict, dict]:
    context = _Context()
    shared = result_metadata(run, context)
    own = materialization_metadata._pending.pop(context, {})
    timing = {"run_select_seconds", "run_filter_seconds", "run_write_seconds", "run_elapsed_seconds", "run_rows_selected_incl_warmup"}
    return {k: v for k, v in shared.items() if k not in timing}, own


def forbid_frames(monkeypatch) -> list[str]:
    """Fail any Python frame of the result -- the SELECT's fetch, and any Arrow-to-polars
    conversion of more rows than the previews read -- and record the names registered in write
    transactions (a frame of the rows would have to be one)."""
    limit = PREVIEW_MAX_PARTITIONS * PREVIEW_WINDOW_FACTOR * 5
    registered: list[str] = []
    from_arrow = pl.from_arrow

    def guarded_from_arrow(data, *args, **kwargs):
        if getattr(data, "num_rows", 0) > limit:
            raise AssertionError(f"a frame of {data.num_rows} rows was built in Python")
        return from_arrow(data, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the SELECT's rows were fetched into Python")

    original_register = Transaction.register

    def spy_register(self, name, rows):
        registered.append(name)
        return original_register(self, name, rows)

    monkeypatch.setattr(pl, "from_arrow", guarded_from_arrow)
    monkeypatch.setattr(runner, "_execute_select", refuse)
    monkeypatch.setattr(runner, "fetch_frame", refuse)
    monkeypatch.setattr(Transaction, "register", spy_register)
    return registered


def test_a_pure_sql_model_writes_without_a_frame_what_the_frame_wrote(sql_dir, tiny_warehouse, tmp_path, monkeypatch):
    """A range of three sessions, one chunk each: the same rows as the frame path, and the same
    metadata -- each partition's row count, instruments and summary (its preview included)."""
    model = load_sql_model(sql_dir / "gold.tiny.sql")
    assert model.python_post is None and model.chunk_sessions == 1
    scope = PartitionScope.of(DAYS[0], DAYS[-1])
    reference = DuckDBWarehouse(database=str(tmp_path / "reference.duckdb"), lock_timeout_seconds=60)
    insert_bars(reference, synthetic_bars("2024-03-01", "2024-03-07", seed=5))
    before = _frame_path(model, reference, scope)
    expected = _rows(reference)

    with monkeypatch.context() as patch:
        registered = forbid_frames(patch)
        run = run_sql_model(model, tiny_warehouse, scope)
        shared, own = _metadata(run)
    assert run.frame is None and registered == ["calendar_sessions"] * len(DAYS)  # one INSERT per chunk, nothing else
    assert _rows(tiny_warehouse).equals(expected)
    assert expected.height > 0 and set(expected["trade_date"]) == {dt.date.fromisoformat(d) for d in DAYS}
    assert run.rows_written == run.rows_selected == expected.height and run.chunks == DAYS
    assert before.rows_selected > expected.height  # the frame path also counted the rows before the window

    ref_shared, ref_own = _metadata(before)
    assert shared == ref_shared  # run_rows, run_partition_range, run_chunks, sql_file, code_version, run_parameters
    assert own.keys() == ref_own.keys() == set(DAYS)
    for day in DAYS:  # the same keys and values: counts, instruments and the markdown with its preview
        assert own[day] == ref_own[day], day
        assert own[day]["instruments"].value == 2
        assert "with the fewest NULLs" in own[day]["summary"].value


@pytest.fixture
def no_frames(monkeypatch) -> list[str]:
    return forbid_frames(monkeypatch)


def test_one_partition_reports_as_the_frame_did(sql_dir, tiny_warehouse, tmp_path, no_frames):
    """One session: row count, column schema, instruments and the summary with its preview."""
    model = load_sql_model(sql_dir / "gold.tiny.sql")
    scope = PartitionScope.of(DAYS[1])
    run = run_sql_model(model, tiny_warehouse, scope)
    assert no_frames == ["calendar_sessions"]
    meta = result_metadata(run)
    with tiny_warehouse.connection() as conn:
        written = conn.execute("SELECT count(*) FROM gold.tiny").fetchone()[0]
    assert meta["dagster/row_count"].value == written > 0
    assert [(c.name, c.type) for c in meta["dagster/column_schema"].columns] == [
        ("instrument", "VARCHAR"), ("ts", "TIMESTAMPTZ"), ("trade_date", "DATE"), ("close", "DOUBLE"),
        ("window_len", "DOUBLE"), ("n_articles", "INTEGER"),
    ]
    assert meta["instruments"].value == 2
    for key in ("run_select_seconds", "run_filter_seconds", "run_write_seconds", "run_elapsed_seconds", "run_chunks"):
        assert key in meta


def test_a_failure_mid_insert_leaves_the_previous_partitions(sql_dir, tiny_warehouse, monkeypatch):
    """The range is deleted and the first two chunks inserted when the third INSERT fails: the
    transaction rolls back, and the table holds the previous rows of every partition."""
    scope = PartitionScope.of(DAYS[0], DAYS[-1])
    run_sql_model(load_sql_model(sql_dir / "gold.tiny.sql"), tiny_warehouse, scope)
    before = _rows(tiny_warehouse)
    failing = load_sql_model(
        _write_model(sql_dir, close=f"CASE WHEN b.trade_date = DATE '{DAYS[-1]}' THEN error('disk full: ' || b.instrument) ELSE b.close + 1 END")
    )
    statements: list[str] = []
    original_execute = Transaction.execute

    def spy_execute(self, sql, params=None):
        statements.append(sql.split()[0])
        return original_execute(self, sql, params)

    monkeypatch.setattr(Transaction, "execute", spy_execute)
    with pytest.raises(SqlModelError, match=rf"gold.tiny.sql: the SELECT failed for {DAYS[0]}..{DAYS[-1]}: .*disk full"):
        run_sql_model(failing, tiny_warehouse, scope)
    assert statements == ["DELETE", "INSERT", "INSERT", "INSERT"]  # it failed in the middle of the write
    assert _rows(tiny_warehouse).equals(before)
    run_sql_model(failing, tiny_warehouse, PartitionScope.of(DAYS[0]))  # the same model writes a day without the error
    after = _rows(tiny_warehouse)
    assert after.filter(pl.col("trade_date") != dt.date.fromisoformat(DAYS[0])).equals(
        before.filter(pl.col("trade_date") != dt.date.fromisoformat(DAYS[0]))
    )
    assert not after.filter(pl.col("trade_date") == dt.date.fromisoformat(DAYS[0])).equals(
        before.filter(pl.col("trade_date") == dt.date.fromisoformat(DAYS[0]))
    )


def test_columns_are_checked_before_anything_is_written(sql_dir, tiny_warehouse):
    scope = PartitionScope.of(DAYS[0])
    run_sql_model(load_sql_model(sql_dir / "gold.tiny.sql"), tiny_warehouse, scope)
    before = _rows(tiny_warehouse)
    path = sql_dir / "gold.tiny.sql"
    path.write_text(TINY_SQL.format(chunk=1, close="b.close").replace("AS n_articles", "AS n_article"))
    with pytest.raises(SqlModelError, match=r"missing \['n_articles'\], unexpected \['n_article'\]"):
        run_sql_model(load_sql_model(path), tiny_warehouse, scope)
    assert _rows(tiny_warehouse).equals(before)


def test_news_signals_written_in_sql_equal_the_frame_path_chunk_by_chunk(tmp_path, monkeypatch):
    from finsig_assets_tests.gold.test_news_signals import RANDOM_FIRST, RANDOM_LAST, load, random_articles, random_bars

    rng = np.random.default_rng(11)
    bar_frame = random_bars(rng, RANDOM_FIRST, RANDOM_LAST)
    article_frame = random_articles(rng, bar_frame, RANDOM_FIRST, RANDOM_LAST, n=900)
    frames, written = (DuckDBWarehouse(database=str(tmp_path / f"{n}.duckdb"), lock_timeout_seconds=60) for n in "ab")
    for warehouse in (frames, written):
        load(warehouse, bar_frame, article_frame)
    model = dataclasses.replace(load_sql_model(settings.sql_dir() / "gold.news_signals.sql"), chunk_sessions=2)
    assert model.python_post is None
    scope = PartitionScope.of(RANDOM_FIRST, RANDOM_LAST)
    _frame_path(model, frames, scope)
    with monkeypatch.context() as patch:
        registered = forbid_frames(patch)
        run = run_sql_model(model, written, scope)
    assert len(run.chunks) == len(registered) > 1
    expected = _rows(frames, "gold.news_signals")
    assert expected.height > 0 and _rows(written, "gold.news_signals").equals(expected)


def test_a_lake_commit_conflict_replays_the_insert_select(sql_dir, tmp_path, monkeypatch):
    """DuckLake: the first COMMIT conflicts; the journal runs the DELETE and the INSERT ... SELECTs
    again (calendar registered again) in a new transaction, and the rows are the frame path's."""
    from finsig_assets.ducklake_warehouse import DuckLakeWarehouse
    from finsig_assets_tests.ducklake_catalog import temporary_lake

    bars = synthetic_bars("2024-03-01", "2024-03-07", seed=5)
    reference = DuckDBWarehouse(database=str(tmp_path / "reference.duckdb"), lock_timeout_seconds=60)
    insert_bars(reference, bars)
    model = load_sql_model(sql_dir / "gold.tiny.sql")
    scope = PartitionScope.of(DAYS[0], DAYS[-1])
    _frame_path(model, reference, scope)
    with temporary_lake(tmp_path / "lake") as lake:
        insert_bars(lake, bars)
        real_commit = DuckLakeWarehouse._commit
        commits: list[str] = []

        def conflict_once(conn):
            commits.append("commit")
            if len(commits) == 1:
                conn.execute("ROLLBACK")
                return duckdb.TransactionException("Failed to commit DuckLake transaction: Transaction conflict - simulated")
            return real_commit(conn)

        monkeypatch.setattr(DuckLakeWarehouse, "_commit", staticmethod(conflict_once))
        monkeypatch.setattr("finsig_assets.warehouse.time.sleep", lambda s: None)
        with monkeypatch.context() as patch:
            registered = forbid_frames(patch)
            run = run_sql_model(model, lake, scope)
        assert len(commits) == 2 and registered == ["calendar_sessions"] * 2 * len(DAYS)  # written, then replayed
        assert run.rows_written == run.written.height > 0
        assert _rows(lake).equals(_rows(reference))
