"""The DuckLake profile against the local PostgreSQL: tables from the DDL contract, partition
replaces as one transaction, two writers of one table at once, and a conflict retried, not lost."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pytest

from finsig_assets import settings
from finsig_assets.ducklake_warehouse import DuckLakeWarehouse, ducklake_ddl, extension_path
from finsig_assets.warehouse import DuckDBWarehouse, table_ddl_files, table_schema
from finsig_assets.warehouse_profiles import WAREHOUSES, configured_warehouse
from finsig_assets_tests.ducklake_catalog import temporary_lake
from finsig_assets_tests.test_warehouse import quarantine_rows

D1, D2, D3 = dt.date(2024, 6, 25), dt.date(2024, 6, 26), dt.date(2024, 6, 27)


@pytest.fixture
def lake(tmp_path):
    with temporary_lake(tmp_path / "lake") as warehouse:
        yield warehouse


def rows_by_day(warehouse, table="bronze.quarantine") -> dict[dt.date, list[str]]:
    frame = warehouse.query(f"SELECT trade_date, reason FROM {table} ORDER BY trade_date, source_line")
    return {d: frame.filter(pl.col("trade_date") == d)["reason"].to_list() for d in frame["trade_date"].unique().sort()}


def test_every_table_of_the_ddl_contract_exists_in_the_lake_with_its_declared_columns(lake):
    with lake.connection() as conn:
        for path in table_ddl_files():
            table = path.stem
            schema, name = table.split(".")
            got = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = 'finsig_lake' AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()
            assert tuple(got) == table_schema(table), table


def test_only_the_primary_key_clause_is_dropped_from_the_ddl():
    ddl = (settings.sql_dir() / "tables" / "meta.stale_sessions.sql").read_text()
    assert "PRIMARY KEY" in ddl
    converted = ducklake_ddl(ddl)
    assert "PRIMARY KEY" not in converted
    with duckdb.connect() as conn:  # the same columns and types as the contract's
        conn.execute(converted)
        assert conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'stale_sessions'").fetchone()[0] == len(
            table_schema("meta.stale_sessions")
        )


def test_a_partition_replace_is_one_transaction_in_the_lake(lake):
    with lake.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(3, D1, "old"), D1, D1)
        tx.replace("bronze.quarantine", quarantine_rows(2, D2, "old"), D2, D2)
    with pytest.raises(RuntimeError):
        with lake.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(5, D1, "new"), D1, D1)
            raise RuntimeError("crash mid-write")
    assert rows_by_day(lake) == {D1: ["old"] * 3, D2: ["old"] * 2}
    with lake.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(1, D1, "new"), D1, D1)
    assert rows_by_day(lake) == {D1: ["new"], D2: ["old"] * 2}


def test_observers_see_no_lake_before_the_first_write_and_never_create_one(tmp_path):
    with temporary_lake(tmp_path / "lake") as lake:
        with lake.read_only_connection() as conn:
            assert conn is None
        assert not lake.exists()
        with lake.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(1, D1, "a"), D1, D1)
        assert lake.exists()
        with lake.read_only_connection() as conn:
            assert conn.execute("SELECT count(*) FROM bronze.quarantine").fetchone()[0] == 1
            with pytest.raises(duckdb.Error):
                conn.execute("DELETE FROM bronze.quarantine")


WRITER = textwrap.dedent(
    """
    import datetime as dt, json, logging, sys, time
    from pathlib import Path
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from finsig_assets.ducklake_warehouse import DuckLakeWarehouse
    from finsig_assets_tests.test_warehouse import quarantine_rows
    catalog, data_path, day, me, other = sys.argv[1:6]
    day = dt.date.fromisoformat(day)
    lake = DuckLakeWarehouse(catalog=catalog, data_path=data_path)
    with lake.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(4, day, "by " + me), day, day)
        began = time.time()
        Path(me).touch()
        deadline = time.monotonic() + 60
        while not Path(other).exists():  # both transactions are open before either commits
            if time.monotonic() > deadline:
                sys.exit("the other writer never got its transaction open: writers waited on each other")
            time.sleep(0.02)
    print(json.dumps({"began": began, "committed": time.time()}))
    """
)


def test_two_workers_replacing_different_partitions_of_one_table_both_succeed(lake, tmp_path):
    for day, reason in ((D1, "old"), (D2, "old"), (D3, "kept")):  # both partitions are re-materialized
        with lake.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(2, day, reason), day, day)
    a, b = tmp_path / "writer-a", tmp_path / "writer-b"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, lake.catalog, lake.data_path, day.isoformat(), str(me), str(other)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for day, me, other in ((D1, a, b), (D2, b, a))
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    import json

    spans = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    # Both were inside their transactions at once: nobody waited on a lock.
    assert max(s["began"] for s in spans) < min(s["committed"] for s in spans)
    # DuckLake rejects the second commit (it inserts into a table the first deleted from); the
    # warehouse wrote its rows again in a new transaction -- logged, not lost.
    retried = [err for _, err in outputs if "conflicted with another writer" in err]
    assert len(retried) >= 1, [err for _, err in outputs]
    assert rows_by_day(lake) == {D1: ["by " + str(a)] * 4, D2: ["by " + str(b)] * 4, D3: ["kept"] * 2}


def test_a_commit_that_keeps_conflicting_fails_loudly_after_the_last_attempt(lake, monkeypatch):
    with lake.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(1, D1, "first"), D1, D1)
    commits = []

    def always_conflicting(conn):
        conn.execute("ROLLBACK")
        commits.append(1)
        return duckdb.TransactionException("Failed to commit DuckLake transaction: Transaction conflict - simulated")

    monkeypatch.setattr(DuckLakeWarehouse, "_commit", staticmethod(always_conflicting))
    monkeypatch.setattr("finsig_assets.warehouse.MAX_COMMIT_ATTEMPTS", 3)
    monkeypatch.setattr("finsig_assets.warehouse.time.sleep", lambda s: None)
    with pytest.raises(duckdb.TransactionException, match="simulated"):
        with lake.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(2, D1, "second"), D1, D1)
    assert len(commits) == 3
    assert rows_by_day(lake) == {D1: ["first"]}


def test_the_journal_replays_a_transactions_writes_in_order(tmp_path):
    source, target = DuckDBWarehouse(database=str(tmp_path / "a.duckdb")), DuckDBWarehouse(database=str(tmp_path / "b.duckdb"))
    with source.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(3, D1, "x"), D1, D1)
        tx.register("__extra", pl.DataFrame({"d": [D2]}))
        tx.execute("DELETE FROM bronze.quarantine WHERE trade_date IN (SELECT d FROM __extra)")
        tx.unregister("__extra")
        tx.replace("bronze.quarantine", quarantine_rows(1, D2, "y"), D2, D2)
    with target.transaction() as other:
        other.replace("bronze.quarantine", quarantine_rows(5, D2, "stale"), D2, D2)
    with target.transaction() as other:
        other.replay(tx.journal)
    assert rows_by_day(target) == rows_by_day(source) == {D1: ["x"] * 3, D2: ["y"]}


def test_a_single_duckdb_file_never_retries_a_failed_commit(tmp_path):
    assert not DuckDBWarehouse(database=str(tmp_path / "w.duckdb")).commit_conflict(
        duckdb.TransactionException("Transaction conflict")
    )


def test_the_profile_is_chosen_by_configuration(monkeypatch, tmp_path):
    assert set(WAREHOUSES) == set(settings.WAREHOUSE_PROFILES)
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    monkeypatch.delenv("FINSIG_WAREHOUSE", raising=False)
    assert type(configured_warehouse()) is DuckDBWarehouse
    monkeypatch.setenv("FINSIG_WAREHOUSE", "ducklake")
    monkeypatch.setenv("FINSIG_DUCKLAKE_CATALOG", "dbname=somewhere host=127.0.0.1")
    lake = configured_warehouse()
    assert type(lake) is DuckLakeWarehouse
    assert (lake.catalog, lake.data_path) == ("dbname=somewhere host=127.0.0.1", str(tmp_path / "lake"))
    monkeypatch.setenv("FINSIG_WAREHOUSE", "motherduck")
    with pytest.raises(ValueError, match="FINSIG_WAREHOUSE='motherduck': expected one of duckdb, ducklake"):
        configured_warehouse()


def test_a_missing_extension_wheel_says_what_to_install():
    with pytest.raises(RuntimeError, match=r"pip install duckdb-extension-nothing==1\.5\.5"):
        extension_path("duckdb_extension_nothing", "nothing")
    assert extension_path("duckdb_extension_ducklake", "ducklake").endswith("ducklake.duckdb_extension")


def test_a_lake_write_does_not_wait_for_a_reader(lake):
    with lake.transaction() as tx:
        tx.replace("bronze.quarantine", quarantine_rows(1, D1, "a"), D1, D1)
    with lake.read_only_connection() as reader:
        started = time.perf_counter()
        with lake.transaction() as tx:
            tx.replace("bronze.quarantine", quarantine_rows(1, D1, "b"), D1, D1)
        assert time.perf_counter() - started < 30
        assert reader.execute("SELECT count(*) FROM bronze.quarantine").fetchone()[0] == 1
    assert rows_by_day(lake) == {D1: ["b"]}


def test_a_catalog_database_that_does_not_exist_gets_an_error_that_says_what_to_do(tmp_path):
    from finsig_assets.ducklake_warehouse import DuckLakeUnavailable

    lake = DuckLakeWarehouse(catalog="dbname=finsig_no_such_catalog host=127.0.0.1 user=postgres", data_path=str(tmp_path / "lake"))
    with pytest.raises(DuckLakeUnavailable) as raised:
        with lake.connection():
            pass
    message = str(raised.value)
    assert "'dbname=finsig_no_such_catalog host=127.0.0.1 user=postgres'" in message
    assert 'database "finsig_no_such_catalog" does not exist' in message
    assert "createdb" in message and "FINSIG_DUCKLAKE_CATALOG" in message
