"""``latest_session_fresh``: every layer holds the latest finished session, shortly after it ends.

Why not Dagster's ``build_time_partition_freshness_checks``: it expects "the last partition
window" at the deadline, and with trading-day partitions (weekends and holidays excluded, the
session in progress a partition too) that is the *next* session on a holiday evening, which
would fail every holiday. This check asks the exchange calendar instead: the expected partition
is the latest XNYS session whose window closed (17:00 New York) at least ``grace`` ago --
holidays, weekends and early closes included -- and the check passes when that partition of the
asset is materialized.

Where it is evaluated, so that the Checks tab is never "not evaluated" after an update and a
missing session is flagged without anything running:

- inside every run of the asset (``@trading_day_asset`` declares it, and
  :func:`finsig_assets.materialization_metadata.materialize_result` adds the result): fresh when
  this run writes the expected session or it was materialized before;
- by ``freshness_sensor`` once a deadline has passed (17:00 New York + grace), for every asset,
  as check evaluations reported without a run -- no process starts to say that data is late.

Severity WARN: late data is an alert, not corrupt data, so nothing is blocked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from finsig_assets import settings
from finsig_assets.trading_calendar import UTC, cutoff_utc, is_session, previous_session

CHECK_NAME = "latest_session_fresh"
CHECKED_ASSETS = [
    ["bronze", "market_candles"],
    ["bronze", "news_articles"],
    ["silver", "market_bars"],
    ["silver", "news_articles"],
    ["silver", "news_sentiment"],
    ["gold", "market_features"],
    ["gold", "news_signals"],
    ["gold", "training_examples"],
    ["ml", "model_fits"],
    ["ml", "direction_model"],
    ["ml", "predictions"],
]
DESCRIPTION = (
    "The latest XNYS session that has closed (17:00 New York, plus FINSIG_FRESHNESS_GRACE_MINUTES, default 30) "
    "is materialized. Evaluated in every run of the asset and by freshness_sensor at each deadline. WARN when it is not."
)


def check_spec(asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(CHECK_NAME, asset=asset_key, description=DESCRIPTION)


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


def freshness_result(
    instance: dg.DagsterInstance, key: dg.AssetKey, now: dt.datetime, writing: Iterable[dt.date] = ()
) -> dg.AssetCheckResult:
    """Is the latest closed session of ``key`` materialized (or being written by this run: ``writing``)?"""
    start = dt.date.fromisoformat(settings.partitions_start())
    day = expected_session(now)
    deadline = cutoff_utc(day) + grace()
    metadata: dict[str, dg.MetadataValue] = {
        "expected_partition": dg.MetadataValue.text(day.isoformat()),
        "deadline": dg.MetadataValue.timestamp(deadline.timestamp()),
    }

    def result(passed: bool, description: str, **extra: dg.MetadataValue) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_NAME,
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=metadata | extra,
            description=description,
        )

    if day < start:
        return result(True, f"no session has closed since the first partition ({start}); nothing expected yet")
    if day in set(writing):
        return result(True, f"{day}, the latest session that has closed, is written by this run")
    record = _latest_materialized(instance, key, day)
    if record is not None:
        return result(
            True,
            f"{day}, the latest session that has closed, is materialized",
            materialized_at=dg.MetadataValue.timestamp(record.timestamp),
        )
    overdue = (now - deadline).total_seconds() / 60
    return result(
        False,
        f"{day} closed at 17:00 New York and is not materialized {overdue:,.0f} minutes after the "
        f"{grace().total_seconds() / 60:.0f}-minute grace: have its files landed, and did the runs succeed?",
        overdue_minutes=dg.MetadataValue.float(round(overdue, 1)),
    )


def evaluate_deadline(instance: dg.DagsterInstance, cursor: str | None, now: dt.datetime) -> dg.SensorResult:
    """Once per session, after its deadline: every asset's freshness, reported without a run."""
    day = expected_session(now)
    if cursor == day.isoformat():
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{day} was checked after its deadline; next: the next session's"))
    events = []
    for path in CHECKED_ASSETS:
        key = dg.AssetKey(path)
        r = freshness_result(instance, key, now)
        events.append(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=CHECK_NAME,
                passed=r.passed,
                severity=r.severity,
                description=r.description,
                metadata=r.metadata,
            )
        )
    return dg.SensorResult(asset_events=events, cursor=day.isoformat())


@dg.sensor(
    name="freshness_sensor",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After each session's deadline (17:00 New York + FINSIG_FRESHNESS_GRACE_MINUTES): latest_session_fresh "
    "on every asset, reported as check evaluations (no run).",
)
def freshness_sensor(context: dg.SensorEvaluationContext):
    return evaluate_deadline(context.instance, context.cursor, dt.datetime.now(UTC))
