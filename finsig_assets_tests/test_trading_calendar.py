"""The ownership windows: [17:00 New York on the previous session, 17:00 New York on D)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from finsig_assets.trading_calendar import (
    assign_trade_dates,
    ownership_window,
    session_frame,
    trade_date_of,
)

NY = ZoneInfo("America/New_York")


def ny(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY)


@pytest.mark.parametrize(
    "instant, expected",
    [
        (ny(2024, 6, 25, 16, 59), "2024-06-25"),  # one minute before the cut-off
        (ny(2024, 6, 25, 17, 0), "2024-06-26"),  # the cut-off belongs to the next session
        (ny(2024, 6, 28, 17, 0), "2024-07-01"),  # Friday evening → Monday
        (ny(2024, 6, 30, 18, 0), "2024-07-01"),  # Sunday open → Monday
        (ny(2024, 7, 3, 16, 59), "2024-07-03"),  # early-close day still owns until 17:00
        (ny(2024, 7, 4, 10, 0), "2024-07-05"),  # holiday → next session
        (ny(2024, 1, 12, 17, 0), "2024-01-16"),  # Friday before MLK Monday → Tuesday
        (ny(2024, 1, 15, 12, 0), "2024-01-16"),  # holiday Monday → Tuesday
        (ny(2024, 3, 10, 18, 0), "2024-03-11"),  # Sunday of the spring DST change
        (ny(2024, 3, 11, 16, 59), "2024-03-11"),
        (ny(2024, 11, 3, 18, 0), "2024-11-04"),  # Sunday of the autumn DST change
        (ny(2024, 11, 4, 17, 0), "2024-11-05"),
    ],
)
def test_trade_date_of(instant, expected):
    assert trade_date_of(instant).isoformat() == expected


def test_window_is_17_new_york_in_utc_across_dst():
    winter = ownership_window("2024-03-08")
    summer = ownership_window("2024-03-11")
    assert winter.start == dt.datetime(2024, 3, 7, 22, 0, tzinfo=dt.timezone.utc)  # EST
    assert summer.start == dt.datetime(2024, 3, 8, 22, 0, tzinfo=dt.timezone.utc)  # Friday, EST
    assert summer.end == dt.datetime(2024, 3, 11, 21, 0, tzinfo=dt.timezone.utc)  # Monday, EDT


def test_range_window_spans_first_to_last():
    window = ownership_window("2024-07-01", "2024-07-05")
    assert window.start == ownership_window("2024-07-01").start
    assert window.end == ownership_window("2024-07-05").end


def test_non_session_key_is_refused():
    with pytest.raises(ValueError, match="not an XNYS session"):
        ownership_window("2024-07-04")


def test_windows_tile_time():
    frame = session_frame().filter(pl.col("trade_date").is_between(dt.date(2020, 1, 2), dt.date(2026, 12, 31)))
    starts = frame["window_start"].to_list()[1:]
    ends = frame["window_end"].to_list()[:-1]
    assert starts == ends


def test_early_close_and_regular_hours():
    frame = session_frame()
    row = frame.filter(pl.col("trade_date") == dt.date(2024, 7, 3)).row(0, named=True)
    assert row["is_early_close"]
    assert row["rth_close"].astimezone(NY).time() == dt.time(13, 0)
    row = frame.filter(pl.col("trade_date") == dt.date(2024, 7, 2)).row(0, named=True)
    assert not row["is_early_close"]
    assert row["rth_open"].astimezone(NY).time() == dt.time(9, 30)


def test_vectorised_assignment_matches_scalar():
    instants = [
        ny(2024, 6, 25, 16, 59),
        ny(2024, 6, 25, 17, 0),
        ny(2024, 7, 4, 10, 0),
        ny(2024, 3, 10, 18, 0),
        ny(2024, 6, 29, 3, 0),
    ]
    frame = pl.DataFrame({"ts": [i.astimezone(dt.timezone.utc) for i in instants]}, schema={"ts": pl.Datetime("us", "UTC")})
    out = assign_trade_dates(frame)
    assert out["trade_date"].to_list() == [trade_date_of(i) for i in instants]
    assert out["ts"].to_list() == frame["ts"].to_list()  # order kept
