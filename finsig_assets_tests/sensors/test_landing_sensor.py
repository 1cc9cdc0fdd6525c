"""The landing sensor starts one ranged run per dataset for new or changed files, once."""

from __future__ import annotations

import json
import os

import dagster as dg

from finsig_assets.sensors.landing_sensor import evaluate_landing, landing_sensor


def candle(time: str, price: float = 5400.0) -> str:
    return json.dumps({"complete": True, "volume": 3, "time": time,
                       "mid": {"o": str(price), "h": str(price + 1), "l": str(price - 1), "c": str(price)}})


def write_market(root, name: str, times: list[str]) -> None:
    path = root / "market" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(candle(t) for t in times) + "\n")


def requests_of(result) -> list[dg.RunRequest]:
    return list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []


def test_new_file_requests_its_sessions_as_one_range(tmp_path):
    write_market(tmp_path, "a.ndjson", [
        "2024-06-25T14:00:00.000000000Z",
        "2024-06-28T21:30:00.000000000Z",  # Friday 17:30 New York → Monday 2024-07-01
    ])
    result = evaluate_landing(tmp_path, None)
    (request,) = requests_of(result)
    assert request.job_name == "market_refresh"
    assert request.tags["dagster/asset_partition_range_start"] == "2024-06-25"
    assert request.tags["dagster/asset_partition_range_end"] == "2024-07-01"

    again = evaluate_landing(tmp_path, result.cursor)
    assert requests_of(again) == []


def test_changed_file_and_news_file_trigger_their_jobs(tmp_path):
    write_market(tmp_path, "a.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    cursor = evaluate_landing(tmp_path, None).cursor
    write_market(tmp_path, "a.ndjson", ["2024-06-25T14:00:00.000000000Z", "2024-06-26T14:00:00.000000000Z"])
    news = tmp_path / "news" / "2024-06-26" / "abc.json"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"article_id": "abc", "headline": "h", "published_at": "2024-06-26T10:15:00+00:00"}))
    result = evaluate_landing(tmp_path, cursor)
    jobs = {r.job_name: r for r in requests_of(result)}
    assert set(jobs) == {"market_refresh", "news_refresh"}
    assert jobs["market_refresh"].tags["dagster/asset_partition_range_end"] == "2024-06-26"
    assert jobs["news_refresh"].tags["dagster/asset_partition_range_start"] == "2024-06-26"
    assert len({r.run_key for r in requests_of(result)}) == 2


def test_file_without_readable_records_skips(tmp_path):
    (tmp_path / "market").mkdir()
    (tmp_path / "market" / "bad.ndjson").write_text("{not json\n")
    result = evaluate_landing(tmp_path, None)
    assert requests_of(result) == []
    assert "no record inside a partition" in str(result.skip_reason)


def test_sensor_definition_reads_the_landing_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FINSIG_LANDING_DIR", str(tmp_path))
    write_market(tmp_path, "a.ndjson", ["2024-06-25T14:00:00.000000000Z"])
    result = landing_sensor(dg.build_sensor_context(cursor=None))
    assert [r.job_name for r in requests_of(result)] == ["market_refresh"]
    os.utime(tmp_path / "market" / "a.ndjson", ns=(1, 1))  # a touch is a change
    assert len(requests_of(landing_sensor(dg.build_sensor_context(cursor=result.cursor)))) == 1
