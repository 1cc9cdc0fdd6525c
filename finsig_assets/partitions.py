"""The trading-day partitions every asset shares (docs/design.md contract).

Dagster 1.13's ``DailyPartitionsDefinition(exclusions=...)`` removes weekends (cron) and the
weekday holidays and special closures that exchange_calendars knows, so the keys are exactly
the XNYS sessions. A weekday cron schedule could not express this: Friday's partition would
wait for Monday, and Good Friday would be a partition.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finsig_assets import settings
from finsig_assets.trading_calendar import _session_dates


def build_trading_day_partitions(start: str | None = None) -> dg.DailyPartitionsDefinition:
    start_date = dt.date.fromisoformat(start or settings.partitions_start())
    sessions = set(_session_dates())
    last = max(sessions)
    weekdays = (start_date + dt.timedelta(days=i) for i in range((last - start_date).days + 1))
    weekday_closures = [dt.datetime(d.year, d.month, d.day) for d in weekdays if d.weekday() < 5 and d not in sessions]
    first = min(d for d in sessions if d >= start_date)
    return dg.DailyPartitionsDefinition(
        start_date=first.isoformat(),
        end_date=(last + dt.timedelta(days=1)).isoformat(),
        timezone="America/New_York",
        # The session in progress is a partition too: its window fills up as data lands.
        end_offset=1,
        exclusions=["0 0 * * 6", "0 0 * * 0", *weekday_closures],
    )


trading_day_partitions = build_trading_day_partitions()


def lookback_mapping(sessions: int, end_offset: int = 0) -> dg.TimeWindowPartitionMapping:
    """Partition D reads D - ``sessions`` .. D + ``end_offset`` of its upstream.

    Before the first partition (``FINSIG_PARTITIONS_START``) the look-back simply has nothing
    to read: ``allow_nonexistent_upstream_partitions`` (beta in Dagster 1.13, hence the
    warning filter) keeps the first partitions materializable.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=-sessions, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )
