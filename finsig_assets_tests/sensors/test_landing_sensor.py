"""landing_sensor: the warehouse says what is ingested; files start runs for exactly their sessions.

Each test drives the real sensor over a real landing zone and warehouse, and ingests with the
real bronze assets (``dg.materialize``), so "ingested" means what bronze wrote.
"""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest

from finsig_assets.bronze import bronze_assets
from finsig_assets.sensors.landing_sensor import evaluate_landing, landing_sensor

MARKET = dg.AssetKey(["bronze", "market_candles"])
NEWS = dg.AssetKey(["bronze", "news_articles"])


@pytest.fixture(autouse=True)
def no_settle_wait(monkeypatch):
    monkeypatch.setenv("FINSIG_LANDING_SETTLE_SECONDS", "0")


def candle(time: str, price: float = 5400.0) -> str:
    return json.dumps({"complete": True, "volume": 3, "time": time,
                       "mid": {"o": str(price), "h": str(price + 1), "l": str(price - 1), "c": str(price)}})


def write_market(landing, name: str, times: list[str], price: float = 5400.0):
    path = landing.root_path / "market" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(candle(t, price) + "\n" for t in times))
    return path


def write_article(landing, folder: str, article_id: str, published: str):
    path = landing.root_path / "news" / folder / f"{article_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"article_id": article_id, "headline": f"Stocks {article_id}", "body": "",
                                "url": f"https://x.com/{article_id}", "published_at": published}))
    return path


def tick(warehouse, landing, cursor=None, **kwargs):
    context = dg.build_sensor_context(cursor=cursor)
    return evaluate_landing(context, warehouse, landing, **kwargs)


def requests(result) -> list[dg.RunRequest]:
    return list(result.run_requests or [])


def ranges(result) -> dict[str, tuple[str, str]]:
    out = {}
    for r in requests(result):
        for key in r.asset_selection:
            out[key.to_user_string()] = (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
    return out


def ingest(warehouse, landing, request: dg.RunRequest):
    """Run what the request asks for, as the daemon would."""
    result = dg.materialize(
        bronze_assets,
        selection=request.asset_selection,
        resources={"warehouse": warehouse, "landing": landing},
        tags={k: v for k, v in request.tags.items() if k.startswith("dagster/asset_partition_range")},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success


def ingest_all(warehouse, landing, result):
    for request in requests(result):
        ingest(warehouse, landing, request)


def test_empty_warehouse_gets_one_ranged_run_per_dataset_then_nothing(warehouse, landing):
    write_market(landing, "a.ndjson", [f"2024-06-{d}T14:00:00.000000000Z" for d in (25, 26, 27, 28)]
                 + ["2024-06-28T21:30:00.000000000Z"])  # Fri 17:30 New York -> Monday 07-01
    write_article(landing, "2024-06-26", "n1", "2024-06-26T10:15:00+00:00")
    first = tick(warehouse, landing)
    assert ranges(first) == {"bronze/market_candles": ("2024-06-25", "2024-07-01"), "bronze/news_articles": ("2024-06-26", "2024-06-26")}
    assert all(r.job_name is None for r in requests(first))  # bronze only: the automation carries the rest
    again = tick(warehouse, landing, first.cursor)
    assert [r.run_key for r in requests(again)] == [r.run_key for r in requests(first)]  # queued, not started twice
    ingest_all(warehouse, landing, first)
    done = tick(warehouse, landing, first.cursor)
    assert requests(done) == []
    assert "nothing to ingest" in done.skip_reason.skip_message
    assert len(done.cursor) < 100


def test_a_new_sessions_market_and_news_files_are_one_run(warehouse, landing):
    """A collector's drop for one session: both bronze assets in one run, so the automation
    carries the session on once, with both datasets in."""
    write_market(landing, "a.ndjson", ["2024-06-26T14:00:00.000000000Z"])
    write_article(landing, "2024-06-26", "n1", "2024-06-26T10:15:00+00:00")
    first = tick(warehouse, landing)
    (request,) = requests(first)
    assert set(request.asset_selection) == {dg.AssetKey(["bronze", "market_candles"]), dg.AssetKey(["bronze", "news_articles"])}
    assert ranges(first) == {"bronze/market_candles": ("2024-06-26", "2024-06-26"), "bronze/news_articles": ("2024-06-26", "2024-06-26")}
    assert [r.run_key for r in requests(tick(warehouse, landing, first.cursor))] == [request.run_key]
    ingest_all(warehouse, landing, first)
    assert requests(tick(warehouse, landing, first.cursor)) == []


def test_first_tick_over_an_ingested_warehouse_starts_nothing(warehouse, landing):
    write_market(landing, "a.ndjson", ["2024-06-25T14:00:00.000000000Z", "2024-06-26T14:00:00.000000000Z"])
    ingest_all(warehouse, landing, tick(warehouse, landing))
    # A new instance, or the sensor switched on for the first time: no cursor at all.
    fresh = tick(warehouse, landing, cursor=None)
    assert requests(fresh) == []


def test_a_changed_file_requests_the_sessions_it_covered_before_and_after(warehouse, landing):
    path = write_market(landing, "a.ndjson", ["2024-06-25T14:00:00.000000000Z", "2024-06-26T14:00:00.000000000Z"])
    ingest_all(warehouse, landing, tick(warehouse, landing))
    time.sleep(0.01)
    path.write_text(candle("2024-06-26T14:00:00.000000000Z", 5410.0) + "\n" + candle("2024-06-27T14:00:00.000000000Z") + "\n")
    result = tick(warehouse, landing)
    assert ranges(result) == {"bronze/market_candles": ("2024-06-25", "2024-06-27")}
    ingest_all(warehouse, landing, result)
    rows = warehouse.query("SELECT trade_date, close FROM bronze.market_candles ORDER BY ts")
    assert [str(d) for d in rows["trade_date"]] == ["2024-06-26", "2024-06-27"]  # 06-25's candle left with the change
    assert rows["close"][0] == 5410.0


def test_a_deleted_file_removes_its_rows_from_its_sessions(warehouse, landing):
    write_market(landing, "keep.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    gone = write_market(landing, "gone.ndjson", ["2024-06-25T14:01:00.000000000Z", "2024-06-27T14:00:00.000000000Z"])
    ingest_all(warehouse, landing, tick(warehouse, landing))
    gone.unlink()
    result = tick(warehouse, landing)
    # 06-25 and 06-27 are not consecutive partitions: two ranged runs, nothing in between redone.
    assert sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in requests(result)) == [
        ("2024-06-25", "2024-06-25"), ("2024-06-27", "2024-06-27")]
    ingest_all(warehouse, landing, result)
    rows = warehouse.query("SELECT source_file FROM bronze.market_candles")
    assert rows["source_file"].to_list() == ["market/keep.ndjson"]
    assert requests(tick(warehouse, landing)) == []


def test_a_touched_file_with_the_same_bytes_starts_nothing(warehouse, landing):
    path = write_market(landing, "a.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    ingest_all(warehouse, landing, tick(warehouse, landing))
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    result = tick(warehouse, landing)
    assert requests(result) == []
    assert "market/a.ndjson" in json.loads(result.cursor)["touched"]
    # ... but a real change of the same size is one.
    path.write_text(candle("2024-06-25T14:00:00.000000000Z", 5499.0) + "\n")
    assert ranges(tick(warehouse, landing, result.cursor)) == {"bronze/market_candles": ("2024-06-25", "2024-06-25")}


def test_dot_files_and_naive_timestamps_start_nothing(warehouse, landing):
    write_market(landing, ".partial.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    write_market(landing, "naive.ndjson", ["2024-06-25T14:00:00"])  # no zone: bronze cannot place it
    assert requests(tick(warehouse, landing)) == []


def test_unusable_files_are_reported_not_followed_and_do_not_crash(warehouse, landing, tmp_path):
    outside = tmp_path / "outside.ndjson"
    outside.write_text(candle("2024-06-25T14:00:00.000000000Z") + "\n")
    (landing.root_path / "market" / "passwd.ndjson").symlink_to("/etc/passwd")
    (landing.root_path / "market" / "outside.ndjson").symlink_to(outside)
    (landing.root_path / "market" / "loop.ndjson").symlink_to("loop.ndjson")
    context = dg.build_sensor_context()
    result = evaluate_landing(context, warehouse, landing)
    assert requests(result) == []
    message = result.skip_reason.skip_message
    assert "cannot be used" in message and "passwd.ndjson" in message


def test_unreadable_file_does_not_crash_the_tick(warehouse, landing, monkeypatch):
    from finsig_assets import landing_files

    write_market(landing, "ok.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    bad = write_market(landing, "secret.ndjson", ["2024-06-26T14:00:00.000000000Z"])
    real_access = os.access
    monkeypatch.setattr(landing_files.os, "access", lambda p, m, *a, **k: False if str(p) == str(bad) else real_access(p, m, *a, **k))
    result = tick(warehouse, landing)
    assert ranges(result) == {"bronze/market_candles": ("2024-06-25", "2024-06-25")}


def test_a_file_vanishing_during_the_tick_does_not_crash_it(warehouse, landing, monkeypatch):
    from finsig_assets import landing_files

    path = write_market(landing, "flaky.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    real = landing_files.inspect_file

    def vanish(file, dataset):
        path.unlink()
        return real(file, dataset)

    monkeypatch.setattr(landing_files, "inspect_file", vanish)
    result = tick(warehouse, landing)
    assert requests(result) == []


def test_a_file_still_being_written_waits_for_a_later_tick(warehouse, landing):
    path = write_market(landing, "a.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    waiting = tick(warehouse, landing, settle_seconds=3600)
    assert requests(waiting) == []
    assert "still being written" in waiting.skip_reason.skip_message
    now = time.time_ns() + 3601 * 10**9
    assert ranges(tick(warehouse, landing, settle_seconds=3600, now_ns=now)) == {"bronze/market_candles": ("2024-06-25", "2024-06-25")}
    assert path.exists()


def test_sessions_without_a_partition_yet_wait(warehouse, landing):
    from finsig_assets.trading_calendar import xnys

    future = xnys().sessions[-5].date()  # a session the calendar knows, months from now
    write_market(landing, "future.ndjson", [f"{future}T14:00:00.000000000Z"])
    result = tick(warehouse, landing)
    assert requests(result) == []
    assert "without a partition yet" in result.skip_reason.skip_message


def test_the_definition_is_running_by_default_and_reads_its_resources(warehouse, landing):
    assert landing_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    write_market(landing, "a.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    context = dg.build_sensor_context(resources={"warehouse": warehouse, "landing": landing})
    result = landing_sensor(context)
    assert ranges(result) == {"bronze/market_candles": ("2024-06-25", "2024-06-25")}


def test_sparse_sessions_make_a_bounded_number_of_runs():
    from finsig_assets.partitions import trading_day_partitions
    from finsig_assets.sensors.landing_state import contiguous_ranges

    valid = trading_day_partitions.get_partition_keys()
    every_other = valid[100:200:2]
    got = contiguous_ranges(every_other, valid, max_ranges=5)
    assert len(got) == 5 and got[0][0] == every_other[0] and got[-1][1] == every_other[-1]
    covered = {k for a, b in got for k in valid[valid.index(a) : valid.index(b) + 1]}
    assert set(every_other) <= covered
    assert contiguous_ranges(valid[10:13] + valid[20:22], valid) == [(valid[10], valid[12]), (valid[20], valid[21])]


def test_sessions_a_run_for_other_sessions_left_out_of_date_are_requested(warehouse, landing):
    """A manual run for 06-25 re-indexes a changed two-day file: its 06-26 rows are now stale,
    and the index no longer shows the change -- the sensor must still bring 06-26 up to date."""
    path = write_market(landing, "two-days.ndjson", ["2024-06-25T14:00:00.000000000Z", "2024-06-26T14:00:00.000000000Z"])
    ingest_all(warehouse, landing, tick(warehouse, landing))
    time.sleep(0.01)
    path.write_text(candle("2024-06-25T14:00:00.000000000Z") + "\n" + candle("2024-06-26T14:00:00.000000000Z", 5420.0) + "\n")
    manual = dg.RunRequest(asset_selection=[MARKET], tags={
        "dagster/asset_partition_range_start": "2024-06-25", "dagster/asset_partition_range_end": "2024-06-25"})
    ingest(warehouse, landing, manual)
    stale = warehouse.query("SELECT trade_date, reason FROM meta.stale_sessions")
    assert [str(d) for d in stale["trade_date"]] == ["2024-06-26"] and "two-days.ndjson" in stale["reason"][0]
    result = tick(warehouse, landing)
    assert ranges(result) == {"bronze/market_candles": ("2024-06-26", "2024-06-26")}
    ingest_all(warehouse, landing, result)
    assert warehouse.query("SELECT close FROM bronze.market_candles WHERE trade_date = '2024-06-26'")["close"].to_list() == [5420.0]
    assert warehouse.query("SELECT count(*) AS n FROM meta.stale_sessions")["n"][0] == 0
    assert requests(tick(warehouse, landing)) == []
