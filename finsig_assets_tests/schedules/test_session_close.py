"""session_close_schedule: 17:15 New York on sessions only, across a holiday week and both DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from finsig_assets.definitions import defs
from finsig_assets.schedules.session_close import session_close_request, session_close_schedule
from finsig_assets.trading_calendar import xnys

NY = ZoneInfo("America/New_York")
UTC = dt.timezone.utc


def ticks(start: str, end: str) -> list[dt.datetime]:
    """The schedule's tick times between two New York dates, from its own cron and timezone."""
    begin = dt.datetime.fromisoformat(start).replace(tzinfo=NY)
    stop = dt.datetime.fromisoformat(end).replace(tzinfo=NY)
    out = []
    for t in cron_string_iterator(begin.timestamp(), session_close_schedule.cron_schedule, session_close_schedule.execution_timezone):
        if t >= stop:
            return out
        out.append(t)
    return out


def requested(start: str, end: str) -> dict[str, str | None]:
    """New York date of each tick -> the partition it requests (None: skipped)."""
    out = {}
    for t in ticks(start, end):
        context = dg.build_schedule_context(scheduled_execution_time=t, repository_def=defs.get_repository_def())
        result = session_close_schedule.evaluate_tick(context)
        keys = [r.partition_key for r in (result.run_requests or [])]
        out[t.astimezone(NY).date().isoformat()] = keys[0] if keys else None
    return out


def test_holiday_week_requests_sessions_only_with_early_close_included():
    # 2024-07-03 closes early (13:00), 2024-07-04 is a holiday; weekends have no tick at all.
    got = requested("2024-07-01", "2024-07-09")
    assert got == {
        "2024-07-01": "2024-07-01",
        "2024-07-02": "2024-07-02",
        "2024-07-03": "2024-07-03",
        "2024-07-04": None,
        "2024-07-05": "2024-07-05",
        "2024-07-08": "2024-07-08",
    }
    assert xnys().schedule.loc["2024-07-03", "close"].tz_convert(NY).hour == 13  # really an early close


def test_holiday_skip_names_the_holiday():
    skip = session_close_request(dt.datetime(2024, 7, 4, 17, 15, tzinfo=NY))
    assert isinstance(skip, dg.SkipReason) and "July 4th" in skip.skip_message
    assert "Good Friday" in session_close_request(dt.datetime(2024, 3, 29, 17, 15, tzinfo=NY)).skip_message


@pytest.mark.parametrize(
    "start, end, before_utc, after_utc",
    [
        ("2024-03-07", "2024-03-13", "22:15", "21:15"),  # DST starts Sunday 2024-03-10
        ("2024-10-31", "2024-11-06", "21:15", "22:15"),  # DST ends Sunday 2024-11-03
    ],
)
def test_ticks_stay_at_17_15_new_york_across_dst(start, end, before_utc, after_utc):
    times = ticks(start, end)
    assert all(t.astimezone(NY).strftime("%H:%M") == "17:15" for t in times)
    utc = [t.astimezone(UTC).strftime("%H:%M") for t in times]
    assert utc[0] == before_utc and utc[-1] == after_utc
    assert {t.astimezone(NY).weekday() for t in times} <= {0, 1, 2, 3, 4}


def test_requests_the_whole_graph_for_the_session_once():
    request = session_close_request(dt.datetime(2024, 7, 3, 17, 15, tzinfo=NY))
    assert request.partition_key == "2024-07-03" and request.run_key == "session-close-2024-07-03"
    assert session_close_schedule.job_name == "finsig_pipeline"
    assert session_close_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
