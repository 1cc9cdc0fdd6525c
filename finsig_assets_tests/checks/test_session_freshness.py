"""latest_session_fresh: the latest closed session (calendar, not cron) must be materialized."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from finsig_assets.checks.session_freshness import (
    CHECK_NAME,
    evaluate_deadline,
    expected_session,
    freshness_result,
    freshness_sensor,
)

UTC = dt.timezone.utc
KEY = dg.AssetKey(["silver", "market_bars"])


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "now, expected",
    [
        ("2024-07-03T21:29", "2024-07-02"),  # early close: the window still ends 17:00 NY (21:00 UTC) + 30 min
        ("2024-07-03T21:31", "2024-07-03"),
        ("2024-07-04T23:00", "2024-07-03"),  # holiday evening: the session before, never the next one
        ("2024-07-06T15:00", "2024-07-05"),  # Saturday
        ("2024-03-11T21:31", "2024-03-11"),  # first Monday of DST: 17:00 NY = 21:00 UTC
        ("2024-03-08T22:29", "2024-03-07"),  # last Friday before it: 17:00 NY = 22:00 UTC
    ],
)
def test_expected_session_follows_the_exchange_calendar(now, expected):
    assert expected_session(at(now), dt.timedelta(minutes=30)).isoformat() == expected


def test_passes_when_the_latest_closed_session_is_materialized_and_warns_otherwise(monkeypatch):
    monkeypatch.setenv("FINSIG_PARTITIONS_START", "2024-06-03")
    instance = dg.DagsterInstance.ephemeral()
    late = freshness_result(instance, KEY, at("2024-07-04T23:00"))
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    assert "2024-07-03" in late.description and late.metadata["overdue_minutes"].value > 0
    instance.report_runless_asset_event(dg.AssetMaterialization(KEY, partition="2024-07-03"))
    fresh = freshness_result(instance, KEY, at("2024-07-04T23:00"))
    assert fresh.passed and fresh.metadata["expected_partition"].value == "2024-07-03"
    # Nothing expected before the first partition.
    assert freshness_result(instance, KEY, at("2024-05-01T23:00")).passed


def test_a_run_writing_the_expected_session_is_fresh(monkeypatch):
    monkeypatch.setenv("FINSIG_PARTITIONS_START", "2024-06-03")
    instance = dg.DagsterInstance.ephemeral()
    now = at("2024-07-04T23:00")
    assert freshness_result(instance, KEY, now, [dt.date(2024, 7, 3)]).passed
    assert not freshness_result(instance, KEY, now, [dt.date(2024, 7, 2)]).passed


def test_every_asset_declares_the_check_and_evaluates_it_in_its_runs(warehouse, landing):
    from finsig_assets.bronze import bronze_assets
    from finsig_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    for node in graph.asset_nodes:
        if node.is_materializable:
            assert dg.AssetCheckKey(node.key, CHECK_NAME) in node.check_keys, node.key
    result = dg.materialize(
        bronze_assets, partition_key="2024-07-03", resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )
    names = {(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()}
    assert {("bronze/market_candles", CHECK_NAME), ("bronze/news_articles", CHECK_NAME)} <= names


def test_the_sensor_reports_every_asset_once_per_deadline(monkeypatch):
    monkeypatch.setenv("FINSIG_PARTITIONS_START", "2024-06-03")
    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization(KEY, partition="2024-07-03"))
    now = at("2024-07-04T23:00")
    first = evaluate_deadline(instance, None, now)
    by_asset = {e.asset_key.to_user_string(): e for e in first.asset_events}
    assert len(by_asset) == 11 and first.cursor == "2024-07-03"  # every asset but ml/performance_report
    assert "ml/model_fits" in by_asset and "ml/direction_model" in by_asset
    assert by_asset["silver/market_bars"].passed and not by_asset["gold/market_features"].passed
    again = evaluate_deadline(instance, first.cursor, now)
    assert not again.asset_events and "was checked" in again.skip_reason.skip_message
    assert freshness_sensor.default_status == dg.DefaultSensorStatus.RUNNING
