"""The session table's on-disk cache: the library's own table, recomputed whenever in doubt."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finsig_assets import trading_calendar_cache
from finsig_assets.trading_calendar import CALENDAR_FIRST_SESSION, session_frame_from_exchange_calendars


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(trading_calendar_cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(compute):
    calls = []

    def wrapped():
        calls.append(1)
        return compute()

    return wrapped, calls


def test_cached_table_equals_exchange_calendars(cache):
    compute, calls = counting(session_frame_from_exchange_calendars)
    first = trading_calendar_cache.cached_session_table(CALENDAR_FIRST_SESSION, compute)
    again = trading_calendar_cache.cached_session_table(CALENDAR_FIRST_SESSION, compute)
    assert calls == [1]  # the second read came from the file
    assert_frame_equal(again, first)
    assert_frame_equal(again, session_frame_from_exchange_calendars())
    # The library's version names the file: an upgrade (new holidays) computes a new table.
    import exchange_calendars

    assert exchange_calendars.__version__ in trading_calendar_cache.cache_path(CALENDAR_FIRST_SESSION).name


def test_an_unreadable_file_is_recomputed_and_replaced(cache):
    path = trading_calendar_cache.cache_path(CALENDAR_FIRST_SESSION)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"ARROW1 truncated")
    table = pl.DataFrame({"trade_date": [1]})
    compute, calls = counting(lambda: table)
    assert_frame_equal(trading_calendar_cache.cached_session_table(CALENDAR_FIRST_SESSION, compute), table)
    assert_frame_equal(pl.read_ipc(path), table)
    assert calls == [1]


def test_a_cache_path_that_is_a_file_only_costs_the_computation(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv(trading_calendar_cache.ENV, str(blocker))
    table = pl.DataFrame({"trade_date": [1]})
    compute, calls = counting(lambda: table)
    for _ in range(2):
        assert_frame_equal(trading_calendar_cache.cached_session_table(CALENDAR_FIRST_SESSION, compute), table)
    assert calls == [1, 1]
