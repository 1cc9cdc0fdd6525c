"""The SPX500_USD CFD's trading minutes over a range of XNYS sessions.

OANDA's SPX500_USD follows the CME E-mini S&P 500 hours, and so does this grid (all in New
York time):

* the week runs from Sunday 18:00 to Friday 17:00, with a daily break 17:00–18:00;
* on an **early-close** session (e.g. 2024-07-03, cash market closes 13:00) the CFD trades
  on until 13:15 and then stops until 18:00;
* on an ordinary **exchange holiday** that falls on a weekday (e.g. 2024-07-04, Independence
  Day; also MLK, Presidents, Memorial, Juneteenth, Labor, Thanksgiving) the CFD trades a
  shortened, quiet day: from 18:00 the evening before until 13:00, then it stops until 18:00
  (this is what CME does on those days). There is no regular-hours (09:30–16:00) session
  and so no intraday U-shape on such a day;
* on **Good Friday, Christmas and New Year's Day** (actual or observed) the CFD does not
  trade at all: the evening session before the holiday does not open and trading resumes
  at 18:00 on the holiday;
* other weekday closures of the exchange (national days of mourning, storms) are treated
  like an ordinary holiday (trade until 13:00) — an approximation.

The grid spans the ownership window of the sessions (``[17:00 New York on the session
before the first, 17:00 New York on the last)``), so every minute belongs to one of the
sessions. DST changes happen at 02:00 on a Sunday, when the CFD is closed, so each New York
calendar day has one UTC offset for all of its trading minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from finsig_assets.trading_calendar import NEW_YORK, session_frame

MINUTES_PER_DAY = 1440
RTH_OPEN_MINUTE = 9 * 60 + 30
DAILY_BREAK = (17 * 60, 18 * 60)
EARLY_CLOSE_CFD_STOP = 13 * 60 + 15
HOLIDAY_CFD_STOP = 13 * 60

# Kinds of New York calendar day.
SESSION = 0
HOLIDAY_PARTIAL = 1  # weekday exchange holiday: CFD trades until 13:00
HOLIDAY_FULL = 2  # Good Friday, Christmas, New Year: no trading until 18:00
WEEKEND = 3


@dataclass(frozen=True)
class TradingGrid:
    """Every minute the CFD trades in the ownership window of ``sessions`` (bar open times)."""

    sessions: list[str]
    window_start_min: int  # UTC epoch minutes
    window_end_min: int
    days: np.ndarray  # datetime64[D], New York calendar days covering the window
    day_kind: np.ndarray  # int8 per day (SESSION, HOLIDAY_PARTIAL, HOLIDAY_FULL, WEEKEND)
    day_rth_close: np.ndarray  # int16 per day: New York minute of day of the cash close (-1: none)
    day_start_min: np.ndarray  # int64 per day: UTC epoch minute of New York midnight (noon's offset)
    minute: np.ndarray  # int64 UTC epoch minute of each open minute, ascending
    local_minute: np.ndarray  # int16 New York minute of day
    local_day: np.ndarray  # int32 index into ``days``
    is_rth: np.ndarray  # bool: inside the cash session 09:30–close of an XNYS session
    closed_before: np.ndarray  # int32 minutes of closure just before this minute (0 inside a run)

    def __len__(self) -> int:
        return int(self.minute.shape[0])

    def local_time(self, utc_minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into ``days``, New York minute of day) for UTC epoch minutes in the window.

        Uses each day's noon offset, so it is an hour off only between 00:00 and 02:00 on
        the two DST-change Sundays — when the CFD is closed.
        """
        day = np.clip(np.searchsorted(self.day_start_min, utc_minutes, side="right") - 1, 0, self.days.shape[0] - 1)
        return day, utc_minutes - self.day_start_min[day]

    @property
    def early_close_days(self) -> list[str]:
        closes = self.day_rth_close
        return [str(d) for d, c in zip(self.days, closes) if 0 <= c < 16 * 60]

    @property
    def holidays(self) -> list[str]:
        kinds = self.day_kind
        return [str(d) for d, k in zip(self.days, kinds) if k in (HOLIDAY_PARTIAL, HOLIDAY_FULL)]


def select_sessions(first_session: str, n_sessions: int) -> pl.DataFrame:
    """``n_sessions`` XNYS sessions from ``first_session`` (which must itself be a session)."""
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be at least 1, got {n_sessions}")
    first = dt.date.fromisoformat(first_session)
    frame = session_frame()
    later = frame.filter(pl.col("trade_date") >= first)
    if later.is_empty() or later["trade_date"][0] != first:
        hint = f"; the next session is {later['trade_date'][0]}" if not later.is_empty() else ""
        raise ValueError(f"first_session {first_session} is not an XNYS session{hint}")
    chosen = later.head(n_sessions)
    if chosen.height < n_sessions:
        raise ValueError(
            f"the calendar has only {chosen.height} sessions from {first_session}, {n_sessions} were asked for"
        )
    return chosen


def _noon_offset_minutes(day: dt.date) -> int:
    """New York's UTC offset at noon on ``day``, in minutes."""
    offset = dt.datetime.combine(day, dt.time(12), NEW_YORK).utcoffset()
    assert offset is not None  # NEW_YORK is a zone: an aware datetime has an offset
    return offset // dt.timedelta(minutes=1)


def build_grid(first_session: str, n_sessions: int) -> TradingGrid:
    chosen = select_sessions(first_session, n_sessions)
    window_start: dt.datetime = chosen["window_start"][0]
    window_end: dt.datetime = chosen["window_end"][-1]
    start_min = int(window_start.timestamp()) // 60
    end_min = int(window_end.timestamp()) // 60

    first_day = window_start.astimezone(NEW_YORK).date()
    last_day = window_end.astimezone(NEW_YORK).date()
    days = np.arange(np.datetime64(first_day, "D"), np.datetime64(last_day, "D") + 1)
    day_int = days.astype(np.int64)
    dow = (day_int + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    offsets = np.array([_noon_offset_minutes(d) for d in days.tolist()], dtype=np.int64)

    # Classify each New York day with the whole calendar (not just the chosen sessions).
    frame = session_frame().filter(
        (pl.col("trade_date") >= first_day) & (pl.col("trade_date") <= last_day)
    )
    session_days = np.array(frame["trade_date"].to_list(), dtype="datetime64[D]")
    rth_close_local = np.array(
        [c.astimezone(NEW_YORK).hour * 60 + c.astimezone(NEW_YORK).minute for c in frame["rth_close"].to_list()],
        dtype=np.int16,
    )
    is_session_day = np.isin(days, session_days)
    day_rth_close = np.full(days.shape[0], -1, dtype=np.int16)
    day_rth_close[np.searchsorted(days, session_days)] = rth_close_local

    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    weekday = dow < 5
    holiday = weekday & ~is_session_day
    full_closure = holiday & (
        ((months == 12) & (dom >= 24) & (dom <= 26))
        | ((months == 1) & (dom <= 2))
        | ((dow == 4) & ((months == 3) | (months == 4)))  # Good Friday
    )
    day_kind = np.full(days.shape[0], WEEKEND, dtype=np.int8)
    day_kind[is_session_day] = SESSION
    day_kind[holiday] = HOLIDAY_PARTIAL
    day_kind[full_closure] = HOLIDAY_FULL

    mask = np.ones((days.shape[0], MINUTES_PER_DAY), dtype=bool)
    mask[:, DAILY_BREAK[0] : DAILY_BREAK[1]] = False
    mask[dow == 5] = False
    mask[dow == 4, DAILY_BREAK[0] :] = False
    mask[dow == 6, : DAILY_BREAK[1]] = False
    early = is_session_day & (day_rth_close >= 0) & (day_rth_close < 16 * 60)
    mask[early, EARLY_CLOSE_CFD_STOP : DAILY_BREAK[1]] = False
    mask[day_kind == HOLIDAY_PARTIAL, HOLIDAY_CFD_STOP : DAILY_BREAK[1]] = False
    full_idx = np.flatnonzero(day_kind == HOLIDAY_FULL)
    mask[full_idx, : DAILY_BREAK[1]] = False
    before = full_idx[full_idx > 0] - 1
    mask[before, DAILY_BREAK[1] :] = False

    flat = np.flatnonzero(mask.ravel())
    local_day = (flat // MINUTES_PER_DAY).astype(np.int32)
    local_minute = (flat % MINUTES_PER_DAY).astype(np.int16)
    minute = day_int[local_day] * MINUTES_PER_DAY + local_minute - offsets[local_day]
    keep = (minute >= start_min) & (minute < end_min)
    minute, local_day, local_minute = minute[keep], local_day[keep], local_minute[keep]

    close_of_day = day_rth_close[local_day]
    is_rth = (day_kind[local_day] == SESSION) & (local_minute >= RTH_OPEN_MINUTE) & (local_minute < close_of_day)
    closed_before = np.zeros(minute.shape[0], dtype=np.int32)
    if minute.shape[0]:
        closed_before[1:] = (np.diff(minute) - 1).astype(np.int32)
        closed_before[0] = int(minute[0] - start_min)

    return TradingGrid(
        sessions=[d.isoformat() for d in chosen["trade_date"].to_list()],
        window_start_min=start_min,
        window_end_min=end_min,
        days=days,
        day_kind=day_kind,
        day_rth_close=day_rth_close,
        day_start_min=day_int * MINUTES_PER_DAY - offsets,
        minute=minute.astype(np.int64),
        local_minute=local_minute,
        local_day=local_day,
        is_rth=is_rth,
        closed_before=closed_before,
    )
