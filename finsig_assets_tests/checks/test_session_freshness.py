"""latest_session_fresh: the latest closed session (calendar, not cron) must be materialized."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from finsig_assets.checks.session_freshness import CHECK_NAME, expected_session, freshness_result, session_freshness

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


def test_the_check_covers_every_layer_and_runs_on_the_session_cron():
    from finsig_assets.checks.session_freshness import freshness_schedule
    from finsig_assets.definitions import defs

    keys = {spec.asset_key.to_user_string() for spec in session_freshness.check_specs}
    assert {"bronze/market_candles", "silver/market_bars", "gold/training_examples", "ml/direction_model", "ml/predictions"} <= keys
    assert all(spec.name == CHECK_NAME for spec in session_freshness.check_specs)
    assert freshness_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert (freshness_schedule.cron_schedule, freshness_schedule.execution_timezone) == ("45 17 * * 1-5", "America/New_York")
    job = defs.resolve_job_def("session_freshness_checks")
    assert {k.name for k in job.asset_layer.asset_graph.asset_check_keys} >= {CHECK_NAME}
