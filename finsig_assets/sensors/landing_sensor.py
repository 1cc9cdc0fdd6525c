"""``landing_sensor``: files land, bronze ingests exactly the sessions they touch.

Each tick compares the landing zone with the warehouse (:mod:`.landing_state`) and requests, per
run of consecutive pending sessions, one ranged run of the bronze asset (a single-run backfill:
a year-long historical file is one run, not 252) -- of both bronze assets when market and news
files are pending for the same sessions, as when a collector drops a new session. Everything below bronze
follows by declarative automation (:mod:`finsig_assets.automation`), so the sensor never starts
silver, gold or the model itself.

Run keys are derived from what is pending (files and fingerprints, stale markers), so a tick
evaluated twice, or the next tick while the run still waits in the queue, starts nothing twice;
once the run has ingested the files, nothing is pending any more. An idle tick says why it
skipped. The sensor is on by default: ``make ui`` shows a live system.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from finsig_assets import settings
from finsig_assets.landing_zone import LandingZone
from finsig_assets.partitions import trading_day_partitions
from finsig_assets.sensors.landing_state import DATASETS, contiguous_ranges, landing_state, run_key
from finsig_assets.warehouse import Warehouse, WarehouseLockTimeout

BRONZE_KEYS = {"market": dg.AssetKey(["bronze", "market_candles"]), "news": dg.AssetKey(["bronze", "news_articles"])}
MAX_LISTED = 5
# A tick lists the landing zone and reads the index (well under a second when nothing changed),
# so it can look often: a new file waits at most this long (plus the settle time) to be ingested.
LANDING_SENSOR_INTERVAL_SECONDS = 5


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def evaluate_landing(
    context: dg.SensorEvaluationContext,
    warehouse: Warehouse,
    landing: LandingZone,
    settle_seconds: float | None = None,
    now_ns: int | None = None,
    current_time=None,
) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    settle = settings.landing_settle_seconds() if settle_seconds is None else settle_seconds
    root = landing.root_path
    try:
        with warehouse.read_only_connection(wait_seconds=5.0) as conn:
            state = landing_state(root, conn, settle_seconds=settle, now_ns=now_ns, touched=cursor.get("touched"))
    except WarehouseLockTimeout as exc:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"the warehouse is busy ({exc}); looking again on the next tick"))
    for line in state.unusable:
        context.log.warning(f"landing file not used: {line}")

    valid = trading_day_partitions.get_partition_keys(current_time=current_time)
    valid_set = set(valid)
    pending: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    notes = []
    for dataset in DATASETS:
        ds = state.datasets[dataset]
        keys = sorted(d.isoformat() for d in ds.pending)
        future = [k for k in keys if k not in valid_set]
        if future:
            notes.append(f"{dataset}: {len(future)} session(s) without a partition yet ({_listing(future)})")
        for first, last in contiguous_ranges(keys, valid):
            sessions_causes = sorted({c for d, causes in ds.pending.items() if first <= d.isoformat() <= last for c in causes})
            context.log.info(f"{dataset}: ingest {first}..{last} ({_listing(sessions_causes)})")
            pending.setdefault((first, last), []).append((dataset, sessions_causes))
    # Both datasets over the same sessions (a collector's drop for a new session): one run of
    # both bronze assets, so the automation carries the session on once both are in -- and one
    # run's start-up, not two.
    requests = []
    for (first, last), parts in pending.items():
        datasets = [dataset for dataset, _ in parts]
        requests.append(
            dg.RunRequest(
                run_key="+".join(run_key(d, first, last, state.datasets[d].digest) for d in datasets),
                asset_selection=[BRONZE_KEYS[d] for d in datasets],
                tags={
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                    "finsig/trigger": "landing_sensor",
                    "finsig/changed_files": str(sum(state.datasets[d].n_changed_files for d in datasets)),
                },
            )
        )
    new_cursor = json.dumps({"touched": state.touched}, sort_keys=True) if state.touched else "{}"
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)
    n_files = sum(ds.n_files for ds in state.datasets.values())
    reason = f"nothing to ingest: the {n_files:,} landing files under {root} match the warehouse"
    if state.waiting:
        reason += f"; waiting for {len(state.waiting)} file(s) still being written ({_listing(state.waiting)})"
    if state.unusable:
        reason += f"; {len(state.unusable)} file(s) cannot be used ({_listing(state.unusable)})"
    if notes:
        reason += "; " + "; ".join(notes)
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=new_cursor)


@dg.sensor(
    name="landing_sensor",
    target=list(BRONZE_KEYS.values()),
    minimum_interval_seconds=LANDING_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Compares $FINSIG_LANDING_DIR with the warehouse and ingests the sessions that new, changed or "
    "deleted files touch (one ranged bronze run per run of sessions, both datasets in one run when their sessions "
    "match); the automation carries them on.",
)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse, landing: LandingZone):
    started = time.perf_counter()
    result = evaluate_landing(context, warehouse, landing)
    context.log.info(f"tick took {time.perf_counter() - started:.2f}s")
    return result
