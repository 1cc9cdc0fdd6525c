"""Materialization metadata: row count, the table's own column types, a readable summary."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from finsig_assets.materialization_metadata import standard_metadata


def test_standard_metadata_reports_rows_types_and_summary():
    frame = pl.DataFrame(
        {
            "ts": [dt.datetime(2024, 6, 25, 14, 30, tzinfo=dt.timezone.utc)] * 2,
            "trade_date": [dt.date(2024, 6, 25)] * 2,
            "close": [5400.5, 5401.0],
            "volume": [3, 4],
            "instrument": ["SPX500_USD"] * 2,
            "is_rth": [True, False],
        }
    )
    meta = standard_metadata(frame, "2024-06-25", {"rejected_records": 2, "rejection_rate": 0.5})
    assert meta["dagster/row_count"] == dg.MetadataValue.int(2)
    types = {c.name: c.type for c in meta["dagster/column_schema"].columns}
    assert types == {"ts": "TIMESTAMPTZ", "trade_date": "DATE", "close": "DOUBLE", "volume": "BIGINT",
                     "instrument": "VARCHAR", "is_rth": "BOOLEAN"}
    assert meta["rejected_records"] == dg.MetadataValue.int(2)
    assert meta["rejection_rate"] == dg.MetadataValue.float(0.5)
    summary = meta["summary"].value
    assert "**2 rows** for `2024-06-25`" in summary and "SPX500_USD" in summary


def test_empty_frame_has_no_preview():
    meta = standard_metadata(pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)}), "2024-06-25")
    assert meta["dagster/row_count"] == dg.MetadataValue.int(0)
    assert "|" in meta["summary"].value and "x |" not in meta["summary"].value
