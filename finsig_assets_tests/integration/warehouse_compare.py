"""Compare two warehouses table by table: row counts, a checksum, and values within tolerance.

Columns that say when or by which run a row was written (``ingested_at``, run ids, durations)
differ between any two runs and are left out. Floating-point columns are compared within a
relative 1e-9: a partition computed alone equals the whole range within 1e-9 (the design's
rule), not bit for bit. The checksum (a hash of the rows with floats rounded to 6 decimals) is
what the test reports.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from finsig_assets.warehouse import Warehouse

VOLATILE = frozenset(
    {
        "ingested_at", "quarantined_at", "predicted_at", "recorded_at", "scored_at", "indexed_at", "first_seen_at",
        "dagster_run_id", "mlflow_run_id", "mlflow_experiment_id", "metrics_json", "train_seconds",
        # ml.model_fits: when, how long, and the pickled fits (which carry their timings)
        "fitted_at", "fit_seconds", "fit_bytes", "direction_fit", "return_fit",
    }
)
TABLES = [
    "bronze.market_candles", "bronze.news_articles", "bronze.quarantine",
    "silver.market_bars", "silver.news_articles", "silver.news_sentiment",
    "gold.market_features", "gold.news_signals", "gold.training_examples",
    "ml.model_fits", "ml.model_runs", "ml.predictions", "ml.oos_record",
]
# The model partition of a range's first session: a CLI run over the range records it (no labelled
# session before it: "no data"); a backfill launched from the bronze sessions does not target it
# (Dagster targets the model partitions whose windows those sessions feed).
MODEL_TABLES = ("ml.model_fits", "ml.model_runs")


@dataclass
class TableDigest:
    table: str
    rows: int
    checksum: str
    frame: pl.DataFrame


def digest(source: Path | Warehouse, table: str) -> TableDigest:
    """``source``: a DuckDB file, or any warehouse profile (a DuckLake)."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, Warehouse):
            conn = stack.enter_context(source.read_only_connection())
            if conn is None:
                raise FileNotFoundError(f"no warehouse at {source.location}")
        else:
            conn = duckdb.connect(str(source), read_only=True)
            stack.callback(conn.close)
        schema, name = table.split(".")
        columns = [
            c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                "ORDER BY ordinal_position", [schema, name],
            ).fetchall()
            if c not in VOLATILE
        ]
        frame = conn.sql(f"SELECT {', '.join(columns)} FROM {table}").pl()
    # One spelling of UTC whatever the session's TimeZone was ('UTC' or the machine's 'Etc/UTC').
    frame = frame.with_columns(
        pl.col(c).dt.convert_time_zone("UTC") for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone
    )
    frame = frame.sort(frame.columns, nulls_last=True)
    return TableDigest(table, frame.height, checksum(frame), frame)


def checksum(frame: pl.DataFrame) -> str:
    """Order-independent hash of the rows, floats rounded to 6 decimals."""
    if not frame.height:
        return "empty"
    rounded = frame.with_columns(pl.col(pl.Float64, pl.Float32).round(6))
    return f"{int(rounded.hash_rows(seed=0).sum()) & 0xFFFFFFFFFFFF:012x}"


def restrict(d: TableDigest, mask: pl.Series) -> TableDigest:
    frame = d.frame.filter(mask)
    return TableDigest(d.table, frame.height, checksum(frame), frame)


def differences(a: TableDigest, b: TableDigest, rtol: float = 1e-9, atol: float = 1e-12) -> list[str]:
    """What differs between two digests of one table (empty: equal within tolerance)."""
    if a.rows != b.rows:
        return [f"{a.table}: {a.rows:,} rows vs {b.rows:,}"]
    out = []
    for column in a.frame.columns:
        x, y = a.frame[column], b.frame[column]
        if x.dtype in (pl.Float64, pl.Float32):
            xn, yn = x.is_null().to_numpy(), y.is_null().to_numpy()
            xv, yv = x.fill_null(0).to_numpy(), y.fill_null(0).to_numpy()
            same = (xn == yn) & (np.isclose(xv, yv, rtol=rtol, atol=atol, equal_nan=True) | xn)
            bad = int((~same).sum())
        else:
            bad = int((~(x.eq_missing(y))).sum())
        if bad:
            out.append(f"{a.table}.{column}: {bad:,} of {a.rows:,} values differ")
    return out


def without_first_model_partition(d: TableDigest) -> TableDigest:
    """``d`` (of a table in MODEL_TABLES) less its first partition, which must be a "no data" one."""
    first = d.frame.filter(d.frame["trade_date"] == d.frame["trade_date"].min())
    assert first["status"].to_list() == ["no data"], first
    return restrict(d, d.frame["trade_date"] != first["trade_date"][0])


def model_metrics(home: Path) -> dict[str, dict]:
    """``ml.model_runs.metrics_json`` per session, less its timings (``seconds``)."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT trade_date, metrics_json FROM ml.model_runs WHERE metrics_json IS NOT NULL").fetchall()
    out = {}
    for day, text in rows:
        values = json.loads(text)
        values.pop("seconds", None)
        out[str(day)] = values
    return out


def json_differences(a, b, path: str = "") -> list[str]:
    """Where two parsed JSON values differ (floats within a relative 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())} in one only"]
        return [d for k in a for d in json_differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in json_differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)) else [f"{path}: {a} vs {b}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]
