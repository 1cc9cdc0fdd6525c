"""bronze/market_candles end to end: partition windows, ranges, idempotency, duplicates, metadata."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import polars as pl
import pytest

from finsig_assets.bronze import bronze_assets, market_candles, news_articles
from finsig_assets_tests.bronze.helpers import flat, materialize, metadata, ny, v20, write_lines
from finsig_assets_tests.check_results import own_check_names, table_checks

D = dt.date.fromisoformat


def candles(warehouse, where: str = "TRUE", params=None) -> pl.DataFrame:
    return warehouse.query(f"SELECT * FROM bronze.market_candles WHERE {where} ORDER BY instrument, ts", params)


def test_exports():
    assert market_candles.key.path == ["bronze", "market_candles"]
    assert news_articles.key.path == ["bronze", "news_articles"]
    assert bronze_assets == [market_candles, news_articles]
    for asset in bronze_assets:
        assert own_check_names(asset) == ["rejection_rate"]
        assert set(asset.required_resource_keys) >= {"warehouse", "landing"}
        assert asset.backfill_policy.max_partitions_per_run is None  # single run
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.warehouse import DuckDBWarehouse

    defs = dg.Definitions(assets=bronze_assets, resources={"warehouse": DuckDBWarehouse(), "landing": LandingZone()})
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_implicit_global_asset_job_def()
    assert {k.path[-1] for k in job.asset_layer.asset_graph.get_all_asset_keys()} >= {"market_candles", "news_articles"}


def test_cutoff_at_17_new_york(warehouse, landing):
    write_lines(
        landing.market_dir / "edges.ndjson",
        [
            v20(ny("2024-06-24 16:59")),  # previous session
            v20(ny("2024-06-24 17:00")),  # first minute of 06-25's window
            v20(ny("2024-06-25 16:59")),  # last minute of 06-25
            v20(ny("2024-06-25 17:00")),  # next session
        ],
    )
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25")
    assert result.success
    rows = candles(warehouse)
    assert rows["source_line"].to_list() == [2, 3]
    assert set(rows["trade_date"].to_list()) == {D("2024-06-25")}
    assert rows["ts"].dt.to_string("%Y-%m-%dT%H:%MZ").to_list() == ["2024-06-24T21:00Z", "2024-06-25T20:59Z"]


def test_weekend_holiday_and_dst_windows(warehouse, landing):
    write_lines(
        landing.market_dir / "2024" / "odd_hours.ndjson",
        [
            v20(ny("2024-06-29 12:00")),  # Saturday -> Monday 07-01
            v20(ny("2024-08-30 17:30")),  # Friday evening before Labor Day -> Tuesday 09-03
            v20(ny("2024-09-02 10:00")),  # Labor Day (holiday Monday) -> 09-03
            v20(ny("2024-03-08 16:59")),  # Friday before spring-forward -> 03-08
            v20(ny("2024-03-10 18:00")),  # Sunday evening after the change (EDT) -> 03-11
            v20(ny("2024-03-11 16:59")),  # 20:59Z -> 03-11
            v20(ny("2024-03-11 17:00")),  # 21:00Z -> 03-12
            v20(ny("2024-11-04 16:59")),  # after fall-back (EST): 21:59Z -> 11-04
            v20(ny("2024-11-04 17:00")),  # 22:00Z -> 11-05
        ],
    )
    result = materialize([market_candles], warehouse, landing, first="2024-03-08", last="2024-11-05")
    assert result.success
    got = dict(zip(candles(warehouse)["source_line"].to_list(), candles(warehouse)["trade_date"].to_list()))
    assert got == {
        1: D("2024-07-01"),
        2: D("2024-09-03"),
        3: D("2024-09-03"),
        4: D("2024-03-08"),
        5: D("2024-03-11"),
        6: D("2024-03-11"),
        7: D("2024-03-12"),
        8: D("2024-11-04"),
        9: D("2024-11-05"),
    }
    assert ny("2024-11-04 16:59") == "2024-11-04T21:59:00Z" and ny("2024-03-11 16:59") == "2024-03-11T20:59:00Z"


def test_multi_day_file_contributes_only_rows_in_window(warehouse, landing):
    lines = [v20(ny(f"2024-06-{day} 10:{m:02d}")) for day in (24, 25, 26) for m in range(3)]
    write_lines(landing.market_dir / "three_days.ndjson", lines)
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    rows = candles(warehouse)
    assert rows["source_line"].to_list() == [4, 5, 6]
    assert set(rows["trade_date"].to_list()) == {D("2024-06-25")}
    # Another partition leaves 06-25 alone.
    materialize([market_candles], warehouse, landing, partition="2024-06-26")
    assert candles(warehouse)["source_line"].to_list() == [4, 5, 6, 7, 8, 9]


def test_partition_range_writes_all_days_and_replaces_only_the_range(warehouse, landing):
    days = ["2024-06-20", "2024-06-21", "2024-06-24", "2024-06-25", "2024-06-26"]
    for d in days:
        write_lines(landing.market_dir / f"{d}.ndjson", [v20(ny(f"{d} 09:{m:02d}")) for m in range(30, 35)])
    result = materialize([market_candles], warehouse, landing, first="2024-06-20", last="2024-06-26")
    assert result.success
    per_day = candles(warehouse).group_by("trade_date").len().sort("trade_date")
    assert per_day["trade_date"].to_list() == [D(d) for d in days] and per_day["len"].to_list() == [5] * 5
    assert {e.partition for e in result.get_asset_materialization_events()} == set(days)

    # Remove one day's file and re-run a sub-range: that day empties, the others stay.
    (landing.market_dir / "2024-06-21.ndjson").unlink()
    materialize([market_candles], warehouse, landing, first="2024-06-21", last="2024-06-24")
    per_day = dict(candles(warehouse).group_by("trade_date").len().iter_rows())
    assert per_day == {D("2024-06-20"): 5, D("2024-06-24"): 5, D("2024-06-25"): 5, D("2024-06-26"): 5}


def test_rematerializing_is_idempotent_except_ingested_at(warehouse, landing):
    write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"2024-06-25 10:{m:02d}")) for m in range(10)] + ["{broken"])
    write_lines(
        landing.market_dir / "b.ndjson",
        [flat(ny("2024-06-25 10:05"), c=5450.5, collected_at="2024-06-25T15:00:00Z"), flat(ny("2024-06-25 11:00"), h=1.0)],
    )
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    first = candles(warehouse)
    q1 = warehouse.query("SELECT * FROM bronze.quarantine ORDER BY source_file, source_line")
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    second = candles(warehouse)
    q2 = warehouse.query("SELECT * FROM bronze.quarantine ORDER BY source_file, source_line")
    assert first.drop("ingested_at").equals(second.drop("ingested_at"))
    assert first["ingested_at"][0] < second["ingested_at"][0]
    assert q1.drop("quarantined_at").equals(q2.drop("quarantined_at"))
    assert q1.height == 3  # the broken line, the bad high, the superseded duplicate


def test_identical_duplicates_collapse(warehouse, landing):
    line = v20(ny("2024-06-25 10:31"))
    write_lines(landing.market_dir / "a.ndjson", [line, line])
    write_lines(landing.market_dir / "b.ndjson", [line, v20(ny("2024-06-25 10:32"))])
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25")
    rows = candles(warehouse)
    assert rows.height == 2
    meta = metadata(result)
    assert meta["identical_duplicates"] == 2 and meta["conflicting_duplicates"] == 0
    assert warehouse.query("SELECT count(*) AS n FROM bronze.quarantine")["n"][0] == 0


def test_conflicting_duplicate_latest_collected_at_wins(warehouse, landing):
    t = ny("2024-06-25 10:31")
    write_lines(landing.market_dir / "a.ndjson", [flat(t, c=5450.2, collected_at="2024-06-25T15:00:00Z")], mtime_ns=2_000_000_000_000_000_000)
    write_lines(landing.market_dir / "b.ndjson", [flat(t, c=5450.4, collected_at="2024-06-25T16:00:00Z")], mtime_ns=1_000_000_000_000_000_000)
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25")
    rows = candles(warehouse)
    assert rows["close"].to_list() == [5450.4] and rows["source_file"].to_list() == ["market/b.ndjson"]
    q = warehouse.query("SELECT * FROM bronze.quarantine")
    assert q.height == 1
    row = q.row(0, named=True)
    assert row["source_file"] == "market/a.ndjson" and row["source_line"] == 1 and row["trade_date"] == D("2024-06-25")
    assert row["reason"] == (
        "conflicting duplicate of SPX500_USD 2024-06-25T14:31Z: superseded by market/b.ndjson:1 "
        "(later collected_at; close 5450.2 vs kept 5450.4)"
    )
    assert '"close": 5450.2' in row["raw"]
    assert metadata(result)["conflicting_duplicates"] == 1


def test_conflicting_duplicate_without_collected_at_landed_later_then_later_line(warehouse, landing):
    t = ny("2024-06-25 10:31")
    # a.ndjson lands first (with the newer mtime), b.ndjson in a later run: b landed later and wins.
    write_lines(landing.market_dir / "a.ndjson", [v20(t, volume=5)], mtime_ns=2_000_000_000_000_000_000)
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    write_lines(landing.market_dir / "b.ndjson", [v20(t, volume=9)], mtime_ns=1_000_000_000_000_000_000)
    # Same file: the later line wins.
    t2 = ny("2024-06-25 10:32")
    write_lines(landing.market_dir / "c.ndjson", [v20(t2, o=5450.2), v20(t2, o=5450.3)])
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    rows = candles(warehouse)
    assert rows.select("source_file", "source_line", "volume").rows() == [("market/b.ndjson", 1, 9), ("market/c.ndjson", 2, 12)]
    reasons = warehouse.query("SELECT source_file, source_line, reason FROM bronze.quarantine ORDER BY source_file")
    assert reasons.rows()[0][:2] == ("market/a.ndjson", 1) and "(landed later; volume 5 vs kept 9)" in reasons.rows()[0][2]
    assert reasons.rows()[1][:2] == ("market/c.ndjson", 1) and "(later file/line; open 5450.2 vs kept 5450.3)" in reasons.rows()[1][2]


def test_appending_to_an_old_file_does_not_revert_its_refetched_correction(warehouse, landing):
    """The defect: two lines appended to an older file made it newer (mtime) than its refetch,
    and the wrong candle came back. The copy that landed later keeps winning."""
    t = ny("2024-06-25 10:31")
    original = write_lines(landing.market_dir / "z_original.ndjson", [v20(t, c=5450.2)])
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    assert candles(warehouse)["close"].to_list() == [5450.2]

    write_lines(landing.market_dir / "a_refetch.ndjson", [v20(t, c=5450.4)])
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    assert candles(warehouse)["close"].to_list() == [5450.4]
    index_before = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")

    with open(original, "a") as out:
        out.write(v20(ny("2024-06-25 10:40")) + "\n" + v20(ny("2024-06-25 10:41")) + "\n")
    later = 3_000_000_000_000_000_000  # newer than the refetch by any clock
    os.utime(original, ns=(later, later))
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    rows = candles(warehouse, "ts = ?", [dt.datetime.fromisoformat(t)])
    assert rows.select("source_file", "close").rows() == [("market/a_refetch.ndjson", 5450.4)]
    assert candles(warehouse).height == 3 and meta["run_files_indexed"] == 1
    # Re-indexing the grown file kept when the index first saw it.
    index_after = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")
    assert index_after.select("path", "first_seen_at").rows() == index_before.select("path", "first_seen_at").rows()
    (reason,) = warehouse.query("SELECT reason FROM bronze.quarantine")["reason"].to_list()
    assert reason == (
        "conflicting duplicate of SPX500_USD 2024-06-25T14:31Z: superseded by market/a_refetch.ndjson:1 "
        "(landed later; close 5450.2 vs kept 5450.4)"
    )


def test_incomplete_and_blank_lines_are_counted_not_stored(warehouse, landing):
    write_lines(
        landing.market_dir / "live.ndjson",
        [v20(ny("2024-06-25 10:00")), "", "   ", v20(ny("2024-06-25 10:01"), complete=False)],
    )
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25")
    meta = metadata(result)
    assert meta["incomplete_candles"] == 1 and meta["run_blank_lines"] == 2 and meta["rows_written"] == 1
    assert warehouse.query("SELECT count(*) AS n FROM bronze.quarantine")["n"][0] == 0


def test_flattened_shape_keeps_instrument_and_collected_at(warehouse, landing):
    write_lines(
        landing.market_dir / "flat.ndjson",
        [flat("2024-06-25T14:31:00Z", collected_at="2024-06-25T14:32:05.123Z"), flat("2024-06-25T14:32:00+00:00")],
    )
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    rows = candles(warehouse)
    assert rows["instrument"].to_list() == ["SPX500_USD", "SPX500_USD"]
    assert rows["collected_at"].to_list()[0] == dt.datetime(2024, 6, 25, 14, 32, 5, 123000, tzinfo=dt.timezone.utc)
    assert rows["collected_at"].to_list()[1] is None
    assert rows.schema["ts"] == pl.Datetime("us", "UTC") and rows.schema["volume"] == pl.Int64


def test_default_instrument_is_configurable(warehouse, landing):
    write_lines(landing.market_dir / "nas.ndjson", [v20("2024-06-25T14:31:00Z"), flat("2024-06-25T14:32:00Z")])
    config = {"ops": {"bronze__market_candles": {"config": {"default_instrument": "NAS100_USD"}}}}
    result = materialize([market_candles], warehouse, landing, partition="2024-06-25", run_config=config)
    rows = candles(warehouse)
    # The raw line takes the configured instrument; the flattened one names SPX500_USD, now not accepted.
    assert rows["instrument"].to_list() == ["NAS100_USD"]
    reason = warehouse.query("SELECT reason FROM bronze.quarantine")["reason"][0]
    assert "instrument 'SPX500_USD' is not an accepted instrument (NAS100_USD)" == reason
    assert metadata(result)["run_rejected_by_reason"] == {"instrument_mismatch": 1}


def test_metadata_keys(warehouse, landing):
    write_lines(landing.market_dir / "m.ndjson", [v20(ny("2024-06-25 10:00")), "not json"])
    meta = metadata(materialize([market_candles], warehouse, landing, partition="2024-06-25"))
    for key in (
        "dagster/row_count",
        "dagster/column_schema",
        "partition_range",
        "summary",
        # the partition's own numbers
        "rows_written",
        "accepted_records",
        "rejected_records",
        "rejection_rate",
        "incomplete_candles",
        "identical_duplicates",
        "conflicting_duplicates",
        "quarantine_rows_written",
        "files_not_read",
        # the run's
        "run_files_landed",
        "run_files_indexed",
        "run_files_parsed",
        "run_files_outside_range",
        "run_files_deleted",
        "run_files_not_read",
        "run_files_not_read_by_reason",
        "run_files_not_read_list",
        "run_lines_read",
        "run_blank_lines",
        "run_rejected_by_reason",
        "run_rejections",
        "run_rejection_rate",
        "run_unplaceable_records",
        "run_unplaceable_total",
        "run_unplaceable_by_reason",
        "run_parse_seconds",
    ):
        assert key in meta, key
    assert meta["run_unplaceable_records"] == 1 and meta["run_unplaceable_by_reason"] == {"invalid_json": 1}


def test_nanosecond_and_offset_times_parse_exactly(warehouse, landing):
    write_lines(
        landing.market_dir / "t.ndjson",
        [
            v20("2024-06-25T14:31:00.000000000Z"),
            v20("2024-06-25T10:32:00.000000000-04:00"),
            v20("2024-06-25T14:33:00.000000001Z"),  # 1 ns past the minute: rejected
            v20("2024-06-25 14:34:00Z"),  # ISO with a space: accepted via the exact path
        ],
    )
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    got = candles(warehouse)["ts"].dt.to_string("%H:%M").to_list()
    assert got == ["14:31", "14:32", "14:34"]
    reason = warehouse.query("SELECT reason FROM bronze.quarantine")["reason"][0]
    assert reason == "time '2024-06-25T14:33:00.000000001Z' is not on a minute boundary"


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_bom_and_crlf(warehouse, landing, eol):
    lines = [v20(ny("2024-06-25 10:00")).encode(), v20(ny("2024-06-25 10:01")).encode()]
    (landing.market_dir / "w.ndjson").write_bytes(b"\xef\xbb\xbf" + eol.join(lines) + eol)
    materialize([market_candles], warehouse, landing, partition="2024-06-25")
    assert candles(warehouse)["source_line"].to_list() == [1, 2]


def test_each_partition_of_a_range_carries_its_own_numbers(warehouse, landing):
    """A single-run backfill used to copy the range's numbers onto every partition."""
    counts = {"2024-06-24": 3, "2024-06-25": 5, "2024-06-26": 2}
    for day, n in counts.items():
        write_lines(landing.market_dir / f"{day}.ndjson", [v20(ny(f"{day} 10:{m:02d}")) for m in range(n)])
    write_lines(landing.market_dir / "bad.ndjson", [v20(ny("2024-06-25 12:00"), h=1.0, low=2.0)])
    write_lines(landing.market_dir / "dup.ndjson", [v20(ny("2024-06-26 10:00"), c=5450.5)])
    result = dg.materialize(
        [market_candles],
        tags={"dagster/asset_partition_range_start": "2024-06-24", "dagster/asset_partition_range_end": "2024-06-26"},
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    events = {e.partition: {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()} for e in result.get_asset_materialization_events()}
    assert sorted(events) == sorted(counts)
    in_table = dict(
        warehouse.query("SELECT strftime(trade_date, '%Y-%m-%d') AS d, count(*) AS n FROM bronze.market_candles GROUP BY 1").iter_rows()
    )
    assert {day: meta["dagster/row_count"] for day, meta in events.items()} == in_table == counts
    assert len({meta["dagster/row_count"] for meta in events.values()}) == 3
    assert [events[d]["rejected_records"] for d in sorted(counts)] == [0, 1, 0]
    assert [events[d]["accepted_records"] for d in sorted(counts)] == [3, 5, 3]
    assert [events[d]["conflicting_duplicates"] for d in sorted(counts)] == [0, 0, 1]
    assert [events[d]["quarantine_rows_written"] for d in sorted(counts)] == [0, 1, 1]
    assert events["2024-06-25"]["rejection_rate"] == pytest.approx(1 / 6)
    assert events["2024-06-24"]["partition_range"] == "2024-06-24"
    # The run's numbers, the same on every partition, under run_*.
    for meta in events.values():
        assert meta["run_partition_range"] == "2024-06-24..2024-06-26"
        assert meta["run_rows"] == 10 and meta["run_files_landed"] == 5 and meta["run_rejected_records"] == 1
    # One check result for the run, describing the range.
    (ev,) = table_checks(result)
    assert ev.metadata["partition_range"].value == "2024-06-24..2024-06-26" and ev.metadata["rejected"].value == 1
