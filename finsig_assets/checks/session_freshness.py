"""``latest_session_fresh``: every layer holds the latest finished session, shortly after it ends.

Why not Dagster's ``build_time_partition_freshness_checks``: it expects "the last partition
window" at the deadline, and with trading-day partitions (weekends and holidays excluded, the
session in progress a partition too) that is the *next* session on a holiday evening, which
would fail every holiday. This check asks the exchange calendar instead: the expected partition
is the latest XNYS session whose window closed (17:00 New York) at least ``grace`` ago --
holidays, weekends and early closes included -- and the check passes when that partition of the
asset has a materialization.

It runs with every run that materializes the asset (so it turns green when the latest session
arrives), by itself at 17:45 New York on weekdays (``freshness_schedule``: the moment a missing
session becomes late) and on demand from the UI. Severity WARN: late data is an alert, not
corrupt data, so nothing is blocked.
"""

# No `from __future__ import annotations`: Dagster reads the check function's context annotation.

import datetime as dt

import dagster as dg

from finsig_assets import settings
from finsig_assets.trading_calendar import UTC, cutoff_utc, is_session, previous_session

CHECK_NAME = "latest_session_fresh"
CRON = "45 17 * * 1-5"
CHECKED_ASSETS = [
    ["bronze", "market_candles"],
    ["bronze", "news_articles"],
    ["silver", "market_bars"],
    ["silver", "news_articles"],
    ["silver", "news_sentiment"],
    ["gold", "market_features"],
    ["gold", "news_signals"],
    ["gold", "training_examples"],
    ["ml", "direction_model"],
    ["ml", "predictions"],
]


def grace() -> dt.timedelta:
    return dt.timedelta(minutes=settings.float_setting("FINSIG_FRESHNESS_GRACE_MINUTES", 30.0))


def expected_session(now: dt.datetime, grace_period: dt.timedelta | None = None) -> dt.date:
    """The latest session whose window (up to 17:00 New York) closed at least ``grace_period`` ago."""
    grace_period = grace() if grace_period is None else grace_period
    day = now.astimezone(UTC).date() + dt.timedelta(days=1)
    if not is_session(day):
        day = previous_session(day)
    while cutoff_utc(day) + grace_period > now:
        day = previous_session(day)
    return day


def _latest_materialized(instance: dg.DagsterInstance, key: dg.AssetKey, day: dt.date) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    return records[0] if records else None


def freshness_result(instance: dg.DagsterInstance, key: dg.AssetKey, now: dt.datetime) -> dg.AssetCheckResult:
    start = dt.date.fromisoformat(settings.partitions_start())
    day = expected_session(now)
    deadline = cutoff_utc(day) + grace()
    metadata = {
        "expected_partition": dg.MetadataValue.text(day.isoformat()),
        "deadline": dg.MetadataValue.timestamp(deadline.timestamp()),
    }
    if day < start:
        return dg.AssetCheckResult(
            asset_key=key, check_name=CHECK_NAME, passed=True, metadata=metadata,
            description=f"no session has closed since the first partition ({start}); nothing expected yet",
        )
    record = _latest_materialized(instance, key, day)
    if record is not None:
        metadata["materialized_at"] = dg.MetadataValue.timestamp(record.timestamp)
        return dg.AssetCheckResult(
            asset_key=key, check_name=CHECK_NAME, passed=True, metadata=metadata,
            description=f"{day}, the latest session that has closed, is materialized",
        )
    overdue = (now - deadline).total_seconds() / 60
    metadata["overdue_minutes"] = dg.MetadataValue.float(round(overdue, 1))
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            f"{day} closed at 17:00 New York and is not materialized {overdue:,.0f} minutes after the "
            f"{grace().total_seconds() / 60:.0f}-minute grace: have its files landed, and did the runs succeed?"
        ),
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=dg.AssetKey(path),
            description="The latest XNYS session that has closed (17:00 New York, plus FINSIG_FRESHNESS_GRACE_MINUTES, "
            "default 30) is materialized. WARN when it is not.",
        )
        for path in CHECKED_ASSETS
    ],
    can_subset=True,
    name="session_freshness",
)
def session_freshness(context: dg.AssetCheckExecutionContext):
    now = dt.datetime.now(UTC)
    for check_key in context.selected_asset_check_keys:
        yield freshness_result(context.instance, check_key.asset_key, now)


freshness_job = dg.define_asset_job(
    "session_freshness_checks",
    selection=dg.AssetSelection.checks(session_freshness),
    description="latest_session_fresh on every asset (no materialization).",
)

freshness_schedule = dg.ScheduleDefinition(
    name="freshness_schedule",
    cron_schedule=CRON,
    execution_timezone="America/New_York",
    job=freshness_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="17:45 New York on weekdays: is the session that closed at 17:00 materialized on every layer?",
)
