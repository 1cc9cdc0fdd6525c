"""Which landing files are new or changed since the last look, and which sessions they touch.

The sensor keeps ``{path: [size, mtime_ns]}`` as its cursor, so a tick costs one directory walk
plus a read of the files that changed — never a re-read of the whole landing zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import polars as pl

from finsig_assets.trading_calendar import assign_trade_dates

PATTERNS = {"market": ("*.ndjson",), "news": ("*.json", "*.ndjson")}
TIME_FIELDS = {"market": "time", "news": "published_at"}


@dataclass(frozen=True)
class ChangedFile:
    dataset: str
    path: Path
    fingerprint: tuple[int, int]


def fingerprints(root: Path) -> dict[str, tuple[str, tuple[int, int]]]:
    """``relative path -> (dataset, (size, mtime_ns))`` for every landing file."""
    out: dict[str, tuple[str, tuple[int, int]]] = {}
    for dataset, patterns in PATTERNS.items():
        base = root / dataset
        if not base.is_dir():
            continue
        for pattern in patterns:
            for path in base.rglob(pattern):
                if path.is_file():
                    st = path.stat()
                    out[str(path.relative_to(root))] = (dataset, (st.st_size, st.st_mtime_ns))
    return out


def changed_files(root: Path, seen: dict[str, list[int]]) -> list[ChangedFile]:
    current = fingerprints(root)
    return [
        ChangedFile(dataset, root / rel, fp)
        for rel, (dataset, fp) in sorted(current.items())
        if tuple(seen.get(rel, ())) != fp
    ]


def record_times(path: Path, dataset: str) -> list[str]:
    """The raw timestamps in a file; unreadable records are skipped (bronze quarantines them)."""
    field = TIME_FIELDS[dataset]
    raw = path.read_bytes()
    chunks: Iterable[bytes] = raw.splitlines() if path.suffix == ".ndjson" else [raw]
    times = []
    for chunk in chunks:
        try:
            record = orjson.loads(chunk)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get(field), str):
            times.append(record[field])
    return times


def sessions_touched(files: Iterable[ChangedFile]) -> dict[str, set[dt.date]]:
    """Trade dates each dataset's changed files hold records for."""
    out: dict[str, set[dt.date]] = {"market": set(), "news": set()}
    for f in files:
        times = record_times(f.path, f.dataset)
        if not times:
            continue
        parsed = pd.to_datetime(pd.Series(times), utc=True, errors="coerce", format="ISO8601").dropna()
        if parsed.empty:
            continue
        frame = pl.DataFrame({"ts": pl.from_pandas(parsed.dt.tz_convert("UTC"))}).with_columns(
            pl.col("ts").dt.cast_time_unit("us").dt.convert_time_zone("UTC")
        )
        dates = assign_trade_dates(frame)["trade_date"].drop_nulls().unique().to_list()
        out[f.dataset].update(dates)
    return out
