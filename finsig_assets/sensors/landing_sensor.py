"""Starts runs when files land: each changed file's sessions are re-materialized downstream.

One run per dataset per tick covers the whole range of sessions touched (a single-run
backfill), so a historical file spanning a year starts one run, not 252. The run key is
derived from the changed files' fingerprints, so a tick evaluated twice starts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from finsig_assets import settings
from finsig_assets.jobs import market_refresh, news_refresh
from finsig_assets.partitions import trading_day_partitions
from finsig_assets.sensors.landing_changes import changed_files, fingerprints, sessions_touched

JOB_FOR_DATASET = {"market": market_refresh.name, "news": news_refresh.name}


def evaluate_landing(root: Path, cursor: str | None, current_time=None) -> dg.SensorResult | dg.SkipReason:
    seen: dict[str, list[int]] = json.loads(cursor) if cursor else {}
    changed = changed_files(root, seen)
    current = fingerprints(root)
    new_cursor = json.dumps({rel: list(fp) for rel, (_, fp) in current.items()}, sort_keys=True)
    if not changed:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new or changed files under {root}"), cursor=new_cursor)
    valid = set(trading_day_partitions.get_partition_keys(current_time=current_time))
    requests = []
    for dataset, days in sessions_touched(changed).items():
        keys = sorted(d.isoformat() for d in days if d.isoformat() in valid)
        if not keys:
            continue
        files = [f for f in changed if f.dataset == dataset]
        digest = hashlib.sha256(
            "\n".join(f"{f.path}:{f.fingerprint}" for f in files).encode()
        ).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"{dataset}-{digest}",
                job_name=JOB_FOR_DATASET[dataset],
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                    "finsig/changed_files": str(len(files)),
                },
            )
        )
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"{len(changed)} changed file(s) hold no record inside a partition"),
            cursor=new_cursor,
        )
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)


@dg.sensor(
    name="landing_sensor",
    jobs=[market_refresh, news_refresh],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches $FINSIG_LANDING_DIR and re-materializes the sessions that new or changed files touch.",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    return evaluate_landing(settings.landing_dir(), context.cursor)
