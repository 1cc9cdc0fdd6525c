"""The CFD trading-minute grid: weekly hours, daily break, holidays, early closes, DST."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from finsig_assets.demo_data.calendar_grid import build_grid

NY = "America/New_York"


def _ny(grid) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(grid.minute * 60, unit="s", utc=True)).tz_convert(NY)


def _has_minutes(ny: pd.DatetimeIndex, start: str, end: str) -> int:
    lo, hi = pd.Timestamp(start, tz=NY), pd.Timestamp(end, tz=NY)
    return int(((ny >= lo) & (ny < hi)).sum())


def test_default_range_has_the_july_4th_holiday_and_the_july_3rd_early_close():
    grid = build_grid("2024-06-24", 20)
    assert grid.sessions[0] == "2024-06-24" and grid.sessions[-1] == "2024-07-22" and len(grid.sessions) == 20
    assert "2024-07-04" not in grid.sessions
    assert grid.early_close_days == ["2024-07-03"]
    assert grid.holidays == ["2024-07-04"]


def test_weekly_hours_and_daily_break():
    grid = build_grid("2024-06-24", 20)
    ny = _ny(grid)
    minute_of_day = ny.hour * 60 + ny.minute
    assert not ((minute_of_day >= 17 * 60) & (minute_of_day < 18 * 60)).any(), "bars in the 17:00-18:00 break"
    assert not (ny.dayofweek == 5).any(), "bars on Saturday"
    assert not ((ny.dayofweek == 4) & (minute_of_day >= 17 * 60)).any(), "bars after Friday 17:00"
    assert not ((ny.dayofweek == 6) & (minute_of_day < 18 * 60)).any(), "bars before Sunday 18:00"
    # Everything inside the ownership window of the sessions.
    assert ny[0] == pd.Timestamp("2024-06-23 18:00", tz=NY)
    assert ny[-1] == pd.Timestamp("2024-07-22 16:59", tz=NY)
    # A regular weekday: 23 hours.
    assert _has_minutes(ny, "2024-06-25 17:00", "2024-06-26 17:00") == 23 * 60
    assert np.all(np.diff(grid.minute) > 0)


def test_early_close_and_holiday_hours():
    ny = _ny(build_grid("2024-06-24", 20))
    # 2024-07-03 (early close): trades until 13:15, then nothing until 18:00.
    assert ny[ny < pd.Timestamp("2024-07-03 18:00", tz=NY)].max() == pd.Timestamp("2024-07-03 13:14", tz=NY)
    assert _has_minutes(ny, "2024-07-03 13:15", "2024-07-03 18:00") == 0
    # 2024-07-04 (holiday): trades from 18:00 the evening before until 13:00, reopens at 18:00.
    assert _has_minutes(ny, "2024-07-03 18:00", "2024-07-04 13:00") == 19 * 60
    assert _has_minutes(ny, "2024-07-04 13:00", "2024-07-04 18:00") == 0
    assert _has_minutes(ny, "2024-07-04 18:00", "2024-07-04 19:00") == 60


def test_full_closures_good_friday_and_christmas():
    ny = _ny(build_grid("2024-03-25", 5))  # Good Friday 2024-03-29
    assert _has_minutes(ny, "2024-03-28 17:00", "2024-03-31 18:00") == 0
    assert _has_minutes(ny, "2024-03-28 00:00", "2024-03-28 17:00") == 17 * 60
    ny = _ny(build_grid("2024-12-23", 4))  # Christmas Eve early close, Christmas closed
    assert ny[(ny >= pd.Timestamp("2024-12-24", tz=NY)) & (ny < pd.Timestamp("2024-12-25 18:00", tz=NY))].max() == pd.Timestamp(
        "2024-12-24 13:14", tz=NY
    )
    assert _has_minutes(ny, "2024-12-25 18:00", "2024-12-25 19:00") == 60


def test_dst_changes_keep_new_york_hours():
    ny = _ny(build_grid("2024-03-04", 10))  # spring forward on 2024-03-10
    sunday_opens = [t for t in ny if t.dayofweek == 6 and t.hour == 18 and t.minute == 0]
    assert [t.date() for t in sunday_opens] == [dt.date(2024, 3, 3), dt.date(2024, 3, 10)]
    utc_hours = sorted({t.tz_convert("UTC").hour for t in sunday_opens})
    assert utc_hours == [22, 23]
    minute_of_day = ny.hour * 60 + ny.minute
    assert not ((minute_of_day >= 17 * 60) & (minute_of_day < 18 * 60)).any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="not an XNYS session.*2024-07-05"):
        build_grid("2024-07-04", 5)
    with pytest.raises(ValueError, match="at least 1"):
        build_grid("2024-06-24", 0)
    with pytest.raises(ValueError, match="only"):
        build_grid("2024-06-24", 100_000)
