"""Small builders for hand-written landing files in the bronze tests."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from finsig_assets.trading_calendar import NEW_YORK, UTC


def ny(text: str) -> str:
    """'2024-06-25 16:59' in New York -> '2024-06-25T20:59:00Z'."""
    local = dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v20(time: str, o=5450.1, h=5450.9, low=5449.8, c=5450.4, volume=12, complete=True) -> str:
    stamp = time.replace("Z", ".000000000Z") if time.endswith(":00Z") else time
    return json.dumps(
        {"complete": complete, "volume": volume, "time": stamp, "mid": {"o": str(o), "h": str(h), "l": str(low), "c": str(c)}}
    )


def flat(time: str, o=5450.1, h=5450.9, low=5449.8, c=5450.4, volume=7, collected_at: str | None = None, **extra) -> str:
    rec: dict[str, Any] = {
        "time": time,
        "instrument": "SPX500_USD",
        "granularity": "M1",
        "open": o,
        "high": h,
        "low": low,
        "close": c,
        "volume": volume,
    }
    if collected_at:
        rec["collected_at"] = collected_at
    rec.update(extra)
    return json.dumps(rec)


def article(n: int, published_at: str = "2024-06-25T14:30:00+00:00", **over) -> dict:
    rec = {
        "article_id": f"{0xB000 + n:032x}",
        "headline": f"Stocks move on day {n}",
        "body": "Shares rose.",
        "url": f"https://example.com/{n}",
        "source": "gdelt_example.com",
        "published_at": published_at,
        "collected_at": "2024-06-25T16:00:00+00:00",
        "sp500_relevant": True,
        "collection_method": "gdelt",
        "language": "English",
        "content_fetched": True,
    }
    rec.update(over)
    return rec


def write_lines(path: Path, lines: list[str], mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def materialize(
    assets: list,
    warehouse,
    landing,
    partition: str | None = None,
    first: str | None = None,
    last: str | None = None,
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    tags = None
    if first is not None:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
    return dg.materialize(
        assets,
        partition_key=partition,
        tags=tags,
        run_config=run_config,
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )


def metadata(result: dg.ExecuteInProcessResult, name: str = "market_candles") -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[-1] == name:
            return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    raise KeyError(name)
