"""``session_close_schedule``: after each session, its partitions -- for files that arrive in bulk.

Where files arrive in one delivery after the close instead of trickling in, a deployment can
switch the landing sensor off and this schedule on: at 17:15 New York on weekdays it requests
the whole graph for the session that has just ended. Partition D owns the records up to 17:00
New York on D, early closes included (on an early close the cash market stops at 13:00 but the
window still ends at 17:00), so 17:15 is after D is complete on every session; exchange
holidays are skipped with the holiday's name. The cron runs in New York time, so the tick stays
at 17:15 New York across both DST changes (21:15 UTC in summer, 22:15 UTC in winter).

It is off by default: with the landing sensor on it would only redo what the sensor did.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finsig_assets.jobs import finsig_pipeline
from finsig_assets.trading_calendar import NEW_YORK, is_session, xnys

CRON = "15 17 * * 1-5"


def holiday_name(day: dt.date) -> str:
    """The exchange's name for a weekday closure (exchange_calendars' holiday rules), if it knows one."""
    import pandas as pd

    cal = xnys()
    if day.weekday() >= 5:
        return "weekend"
    for rule in cal.regular_holidays.rules if cal.regular_holidays is not None else []:
        if len(rule.dates(pd.Timestamp(day), pd.Timestamp(day))):
            return rule.name
    if pd.Timestamp(day) in set(cal.adhoc_holidays):
        return "special closure"
    return "exchange closed"


def session_close_request(scheduled: dt.datetime) -> dg.RunRequest | dg.SkipReason:
    day = scheduled.astimezone(NEW_YORK).date()
    if not is_session(day):
        return dg.SkipReason(f"{day} is not an XNYS session ({holiday_name(day)}); nothing to request")
    key = day.isoformat()
    return dg.RunRequest(run_key=f"session-close-{key}", partition_key=key, tags={"finsig/trigger": "session_close_schedule"})


@dg.schedule(
    name="session_close_schedule",
    cron_schedule=CRON,
    execution_timezone="America/New_York",
    job=finsig_pipeline,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="17:15 New York on every XNYS session: the whole graph for the session that just ended "
    "(holidays skipped). For bulk deliveries; off by default, the landing sensor covers files that trickle in.",
)
def session_close_schedule(context: dg.ScheduleEvaluationContext):
    return session_close_request(context.scheduled_execution_time)
