"""The landing-file index: a partition's cost does not grow with the landing zone."""

from __future__ import annotations

import datetime as dt
import importlib
import os

import pytest

from finsig_assets.bronze import market_candles
from finsig_assets.landing_files import scan
from finsig_assets.trading_calendar import sessions_between
from finsig_assets_tests.bronze.helpers import materialize, metadata, ny, v20, write_lines

# The package re-exports the asset under the module's name, so fetch the module itself.
market_module = importlib.import_module("finsig_assets.bronze.market_candles")
SESSIONS = [d.isoformat() for d in sessions_between("2024-05-01", "2024-06-28")]  # 41 sessions


@pytest.fixture
def daily_files(landing):
    for day in SESSIONS:
        write_lines(landing.market_dir / day[:7] / f"{day}.ndjson", [v20(ny(f"{day} 10:{m:02d}")) for m in range(20)])
    return landing


@pytest.fixture
def parse_calls(monkeypatch):
    """Record (path, span) for every file the market asset opens."""
    calls: list[tuple[str, tuple | None]] = []
    real = market_module.read_market_file

    def spy(landed, span):
        calls.append((landed.path, span))
        return real(landed, span)

    monkeypatch.setattr(market_module, "read_market_file", spy)
    return calls


def index(warehouse):
    return warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")


def test_first_run_indexes_everything_then_a_partition_reads_one_file(warehouse, daily_files, parse_calls):
    landing = daily_files
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    assert meta["run_files_indexed"] == meta["run_files_new"] == meta["run_files_landed"] == len(SESSIONS)
    assert len(parse_calls) == len(SESSIONS)
    idx = index(warehouse)
    assert idx.height == len(SESSIONS)
    row = idx.filter(idx["path"] == "market/2024-06/2024-06-25.ndjson").row(0, named=True)
    assert row["min_ts"] == dt.datetime(2024, 6, 25, 14, 0, tzinfo=dt.timezone.utc)
    assert row["max_ts"] == dt.datetime(2024, 6, 25, 14, 19, tzinfo=dt.timezone.utc)
    assert (row["n_lines"], row["n_records"], row["n_unplaceable"]) == (20, 20, 0)

    parse_calls.clear()
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-12"))
    assert parse_calls == [("market/2024-06/2024-06-12.ndjson", (0, row["size"], 1))]
    assert meta["run_files_indexed"] == 0 and meta["run_files_parsed"] == 1 and meta["run_files_outside_range"] == len(SESSIONS) - 1
    assert meta["rows_written"] == 20 and meta["run_lines_read"] == 20


def test_cost_of_a_partition_does_not_grow_with_the_landing_zone(warehouse, daily_files, parse_calls):
    landing = daily_files
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    # Ten times more history lands; after indexing it once, a daily run still opens one file.
    for day in sessions_between("2022-01-03", "2022-12-30"):
        write_lines(landing.market_dir / "2022" / f"{day}.ndjson", [v20(ny(f"{day} 11:00"))])
    materialize([market_candles], warehouse, landing, partition="2024-06-26")
    parse_calls.clear()
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-27"))
    assert [p for p, _ in parse_calls] == ["market/2024-06/2024-06-27.ndjson"]
    assert meta["run_files_landed"] > 250 and meta["run_files_parsed"] == 1


def test_touched_file_is_reindexed_and_deleted_file_leaves_the_index(warehouse, daily_files, parse_calls):
    landing = daily_files
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    before = index(warehouse)

    # Touch (same content, new mtime): re-indexed, nothing else parsed beyond the partition's file.
    touched = landing.market_dir / "2024-05" / "2024-05-15.ndjson"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    # Append a day's worth to another file: size changes.
    grown = landing.market_dir / "2024-06" / "2024-06-03.ndjson"
    with open(grown, "a") as out:
        out.write(v20(ny("2024-06-03 12:00")) + "\n")
    gone = landing.market_dir / "2024-06" / "2024-06-04.ndjson"
    gone.unlink()

    parse_calls.clear()
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    assert meta["run_files_indexed"] == 2 and meta["run_files_new"] == 0 and meta["run_files_deleted"] == 1
    assert sorted(p for p, span in parse_calls if span is None) == [
        "market/2024-05/2024-05-15.ndjson",
        "market/2024-06/2024-06-03.ndjson",
    ]
    after = index(warehouse)
    assert "market/2024-06/2024-06-04.ndjson" not in after["path"].to_list()
    assert after.height == before.height - 1
    row = after.filter(after["path"] == grown.relative_to(landing.root).as_posix()).row(0, named=True)
    assert row["size"] == grown.stat().st_size and row["n_records"] == 21
    row = after.filter(after["path"] == touched.relative_to(landing.root).as_posix()).row(0, named=True)
    assert row["mtime_ns"] == touched.stat().st_mtime_ns
    days = warehouse.query("SELECT DISTINCT path FROM meta.landing_file_days")
    assert "market/2024-06/2024-06-04.ndjson" not in days["path"].to_list()


def test_unplaceable_rows_follow_the_file(warehouse, landing):
    path = write_lines(landing.market_dir / "x.ndjson", [v20(ny("2024-06-25 10:00")), "garbage", v20("no time")])
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    nulls = "SELECT source_line, reason FROM bronze.quarantine WHERE trade_date IS NULL ORDER BY source_line"
    assert warehouse.query(nulls)["source_line"].to_list() == [2, 3]
    assert index(warehouse)["n_unplaceable"].to_list() == [2]

    # A run for another partition does not re-index (or duplicate) them.
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-24"))
    assert meta["run_files_indexed"] == 0 and meta["run_unplaceable_total"] == 2
    assert warehouse.query(nulls).height == 2

    # Fixing the file replaces its NULL-trade_date rows when it is re-indexed.
    write_lines(path, [v20(ny("2024-06-25 10:00")), v20(ny("2024-06-25 10:01")), "{still bad"])
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-24"))
    assert meta["run_files_indexed"] == 1 and meta["run_unplaceable_records"] == 1
    rows = warehouse.query(nulls)
    assert rows["source_line"].to_list() == [3] and rows["reason"][0].startswith("invalid JSON")

    # Deleting the file removes them too.
    path.unlink()
    materialize([market_candles], warehouse, landing, partition="2024-06-24")
    assert warehouse.query(nulls).height == 0 and index(warehouse).height == 0


def test_a_day_of_a_big_file_reads_only_that_days_span(warehouse, landing, parse_calls):
    days = SESSIONS[-10:]
    lines = [v20(ny(f"{d} 09:{m:02d}")) for d in days for m in range(30)]
    write_lines(landing.market_dir / "history.ndjson", lines)
    materialize([market_candles], warehouse, landing, first=days[0], last=days[-1])
    parse_calls.clear()
    meta = metadata(materialize([market_candles], warehouse, landing, partition=days[4]))
    ((path, span),) = parse_calls
    assert span is not None and span[2] == 4 * 30 + 1
    assert meta["run_lines_read"] == 30 and meta["rows_written"] == 30
    rows = warehouse.query("SELECT source_line FROM bronze.market_candles WHERE trade_date = ?", [dt.date.fromisoformat(days[4])])
    assert rows["source_line"].to_list() == list(range(121, 151))


def test_scan_ignores_hidden_and_other_suffixes(landing):
    write_lines(landing.market_dir / "a.ndjson", ["{}"])
    write_lines(landing.market_dir / ".partial.ndjson", ["{}"])
    write_lines(landing.market_dir / "notes.txt", ["{}"])
    write_lines(landing.market_dir / ".tmp" / "b.ndjson", ["{}"])
    write_lines(landing.news_dir / "x" / "a.json", ["{}"])
    write_lines(landing.news_dir / "x" / "b.ndjson", ["{}"])
    assert sorted(scan(landing.root, "market").files) == ["market/a.ndjson"]
    assert sorted(scan(landing.root, "news").files) == ["news/x/a.json", "news/x/b.ndjson"]


def test_an_existing_warehouse_gains_first_seen_at_and_content_sha256(tmp_path, landing):
    """Warehouses indexed before these columns existed keep working: the DDL adds them and takes
    the last indexing time as the best estimate of when a file was first seen."""
    import duckdb

    from finsig_assets.warehouse import DuckDBWarehouse

    path = write_lines(landing.market_dir / "a.ndjson", [v20(ny("2024-06-25 10:00"))])
    st = path.stat()
    indexed_at = dt.datetime(2024, 7, 1, 12, tzinfo=dt.timezone.utc)
    db = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute(
        """
        CREATE SCHEMA meta;
        CREATE TABLE meta.landing_files (
            dataset VARCHAR NOT NULL, path VARCHAR NOT NULL, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
            min_ts TIMESTAMPTZ, max_ts TIMESTAMPTZ, n_lines BIGINT NOT NULL, n_records BIGINT NOT NULL,
            n_unplaceable BIGINT NOT NULL, n_blank BIGINT NOT NULL, non_article BOOLEAN NOT NULL, indexed_at TIMESTAMPTZ NOT NULL
        );
        """
    )
    conn.execute(
        "INSERT INTO meta.landing_files VALUES ('market', 'market/a.ndjson', ?, ?, NULL, NULL, 1, 1, 0, 0, false, ?)",
        [st.st_size, st.st_mtime_ns, indexed_at],
    )
    conn.close()
    warehouse = DuckDBWarehouse(database=str(db), lock_timeout_seconds=60)
    row = warehouse.query("SELECT first_seen_at, content_sha256 FROM meta.landing_files").row(0)
    assert row == (indexed_at, None)
    # A new file lands: it is first seen now, and hashed; the old row keeps its first_seen_at.
    write_lines(landing.market_dir / "b.ndjson", [v20(ny("2024-06-25 10:01"))])
    materialize([market_candles], warehouse, landing, partition="2024-06-24")
    rows = dict(warehouse.query("SELECT path, first_seen_at FROM meta.landing_files").iter_rows())
    assert rows["market/a.ndjson"] == indexed_at and rows["market/b.ndjson"] > indexed_at
    sha = warehouse.query("SELECT content_sha256 FROM meta.landing_files WHERE path = 'market/b.ndjson'").item()
    import hashlib

    assert sha == hashlib.sha256((landing.market_dir / "b.ndjson").read_bytes()).hexdigest()
