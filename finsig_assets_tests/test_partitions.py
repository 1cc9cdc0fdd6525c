"""Partition keys are exactly the XNYS sessions, and the windows tile time."""

from __future__ import annotations

import datetime as dt

import exchange_calendars as xc
import pytest

from finsig_assets.partitions import build_trading_day_partitions


def test_keys_equal_xnys_sessions_2020_to_2026():
    partitions = build_trading_day_partitions("2020-01-02")
    keys = [k for k in partitions.get_partition_keys() if k <= "2026-12-31"]
    # An independent calendar object, built for exactly the tested years.
    reference = xc.get_calendar("XNYS", start="2020-01-01", end="2026-12-31")
    expected = [s.strftime("%Y-%m-%d") for s in reference.sessions]
    expected = [k for k in expected if k <= keys[-1]]
    assert keys == expected


@pytest.mark.parametrize(
    "day",
    [
        "2020-01-04",  # Saturday
        "2020-01-05",  # Sunday
        "2020-04-10",  # Good Friday
        "2024-07-04",  # Independence Day
        "2025-01-09",  # national day of mourning (special closure)
        "2024-12-25",
    ],
)
def test_non_sessions_are_not_partitions(day):
    assert not build_trading_day_partitions("2020-01-02").has_partition_key(day)


def test_early_close_is_a_partition():
    assert build_trading_day_partitions("2020-01-02").has_partition_key("2024-07-03")


def test_start_from_env(monkeypatch):
    monkeypatch.setenv("FINSIG_PARTITIONS_START", "2024-06-01")  # a Saturday
    keys = build_trading_day_partitions().get_partition_keys()
    assert keys[0] == "2024-06-03"


def test_friday_partition_is_available_on_friday_evening():
    partitions = build_trading_day_partitions("2024-01-02")
    friday_evening = dt.datetime(2024, 6, 28, 18, 0, tzinfo=dt.timezone.utc)
    assert "2024-06-28" in partitions.get_partition_keys(current_time=friday_evening)
