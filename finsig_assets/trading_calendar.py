"""XNYS sessions and the time windows that trading-day partitions own.

A partition D owns ``[17:00 New York on the previous session, 17:00 New York on D)``. The
windows tile time: a weekend, holiday or evening record belongs to the next session, and no
record belongs to two partitions or to none. All instants returned here are UTC; the calendar
arithmetic happens in New York time so DST changes land where they should.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from finsig_assets.trading_calendar_cache import cached_session_table

if TYPE_CHECKING:
    import exchange_calendars as xc

NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
PARTITION_CUTOFF = dt.time(17, 0)
CALENDAR_FIRST_SESSION = "2000-01-03"


@lru_cache(maxsize=1)
def xnys() -> xc.ExchangeCalendar:
    """The NYSE calendar from exchange_calendars (holidays, special closures, early closes)."""
    import exchange_calendars as xc

    return xc.get_calendar("XNYS", start=CALENDAR_FIRST_SESSION)


@lru_cache(maxsize=1)
def _session_dates() -> tuple[dt.date, ...]:
    return tuple(session_frame()["trade_date"].to_list())


@lru_cache(maxsize=1)
def _session_array() -> np.ndarray:
    return np.array(_session_dates(), dtype="datetime64[D]")


@lru_cache(maxsize=1)
def _session_set() -> frozenset[dt.date]:
    return frozenset(_session_dates())


def sessions_between(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """XNYS sessions in ``[start, end]`` (inclusive)."""
    start_d, end_d = _as_date(start), _as_date(end)
    return [d for d in _session_dates() if start_d <= d <= end_d]


def is_session(day: dt.date | str) -> bool:
    return _as_date(day) in _session_set()


def previous_session(day: dt.date | str) -> dt.date:
    """The session before ``day`` (``day`` itself need not be a session)."""
    d = _as_date(day)
    dates = _session_dates()
    idx = int(np.searchsorted(_session_array(), np.datetime64(d), side="left"))
    if idx == 0:
        raise ValueError(f"{d} is at or before the first session the calendar knows ({dates[0]})")
    return dates[idx - 1]


def next_session(day: dt.date | str) -> dt.date:
    d = _as_date(day)
    dates = _session_dates()
    idx = int(np.searchsorted(_session_array(), np.datetime64(d), side="right"))
    if idx >= len(dates):
        raise ValueError(f"{d} is at or after the last session the calendar knows ({dates[-1]})")
    return dates[idx]


def cutoff_utc(day: dt.date) -> dt.datetime:
    """17:00 New York on ``day``, as a UTC instant."""
    return dt.datetime.combine(day, PARTITION_CUTOFF, tzinfo=NEW_YORK).astimezone(UTC)


@dataclass(frozen=True)
class OwnershipWindow:
    """The half-open UTC interval ``[start, end)`` owned by the sessions ``first..last``."""

    first_session: dt.date
    last_session: dt.date
    start: dt.datetime
    end: dt.datetime

    def contains(self, ts: dt.datetime) -> bool:
        return self.start <= ts < self.end


def ownership_window(first: dt.date | str, last: dt.date | str | None = None) -> OwnershipWindow:
    """The window owned by one partition key, or by a range of keys (a single-run backfill)."""
    first_d = _as_date(first)
    last_d = _as_date(last) if last is not None else first_d
    for d in (first_d, last_d):
        if not is_session(d):
            raise ValueError(f"{d} is not an XNYS session, so it is not a partition key")
    if last_d < first_d:
        raise ValueError(f"empty partition range {first_d}..{last_d}")
    return OwnershipWindow(first_d, last_d, cutoff_utc(previous_session(first_d)), cutoff_utc(last_d))


def trade_date_of(ts: dt.datetime) -> dt.date:
    """The session whose window holds the instant ``ts`` (timezone-aware)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {ts!r}: finsig only accepts timezone-aware instants")
    local = ts.astimezone(NEW_YORK)
    day = local.date() if local.time() < PARTITION_CUTOFF else local.date() + dt.timedelta(days=1)
    return day if is_session(day) else next_session(day)


@lru_cache(maxsize=1)
def session_frame() -> pl.DataFrame:
    """One row per session: ownership window and regular-hours open/close (early closes known).

    Joining records to this frame (an as-of join on ``window_start``) assigns trade dates
    vectorised, which is how the bronze and silver assets do it. Computed by exchange_calendars
    once per library version (:mod:`finsig_assets.trading_calendar_cache`).
    """
    return cached_session_table(CALENDAR_FIRST_SESSION, session_frame_from_exchange_calendars)


def session_frame_from_exchange_calendars() -> pl.DataFrame:
    """:func:`session_frame`, computed from exchange_calendars' XNYS calendar (no cache)."""
    import pandas as pd

    cal = xnys()
    sessions = cal.sessions
    opens = cal.schedule["open"].reindex(sessions)
    closes = cal.schedule["close"].reindex(sessions)
    dates = [ts.date() for ts in sessions]
    ends = [cutoff_utc(d) for d in dates]
    # The first session's window has no previous session to hang on; use the evening before.
    starts = [cutoff_utc(dates[0] - dt.timedelta(days=1)), *ends[:-1]]
    regular_close = pd.Timestamp("16:00").time()
    return pl.DataFrame(
        {
            "trade_date": dates,
            "window_start": starts,
            "window_end": ends,
            "rth_open": [o.to_pydatetime() for o in opens],
            "rth_close": [c.to_pydatetime() for c in closes],
            "is_early_close": [c.tz_convert(NEW_YORK).time() < regular_close for c in closes],
        },
        schema={
            "trade_date": pl.Date,
            "window_start": pl.Datetime("us", "UTC"),
            "window_end": pl.Datetime("us", "UTC"),
            "rth_open": pl.Datetime("us", "UTC"),
            "rth_close": pl.Datetime("us", "UTC"),
            "is_early_close": pl.Boolean,
        },
    )


def assign_trade_dates(frame: pl.DataFrame, ts_column: str = "ts") -> pl.DataFrame:
    """Add ``trade_date`` to ``frame`` from its UTC ``ts_column`` (vectorised as-of join)."""
    sessions = session_frame().select("window_start", "window_end", "trade_date")
    out = (
        frame.with_row_index("__order")
        .sort(ts_column)
        .join_asof(sessions, left_on=ts_column, right_on="window_start", strategy="backward")
        .with_columns(
            pl.when(pl.col(ts_column) < pl.col("window_end")).then(pl.col("trade_date")).otherwise(None).alias("trade_date")
        )
        .sort("__order")
        .drop("__order", "window_start", "window_end")
    )
    return out


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)
