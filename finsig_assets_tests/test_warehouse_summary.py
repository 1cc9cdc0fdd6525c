"""`finsig summary`: the model table shows each partition's evidence readably."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets.warehouse_summary import summarize


def _run(day: dt.date, version: int, p_value: float, promoted: bool) -> dict:
    return {
        "trade_date": day, "status": "trained", "model_name": "finsig-direction", "model_version": version,
        "promoted": promoted, "champion_alias_moved": promoted, "window_last": day - dt.timedelta(days=1),
        "model_auc": 0.66, "market_only_auc": 0.52, "majority_auc": 0.5, "value_of_news_auc": 0.14,
        "news_test_p_value": p_value, "return_r2": -0.02, "recorded_at": dt.datetime.now(dt.timezone.utc),
    }


def test_tiny_p_values_and_negative_r2_are_printed_as_they_are(tmp_path):
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"))
    rows = pl.DataFrame([_run(dt.date(2024, 3, 5), 1, 2.4e-5, True), _run(dt.date(2024, 3, 6), 2, 0.31, False)])
    with warehouse.transaction() as tx:
        tx.insert("ml.model_runs", rows)
    text = summarize(warehouse)
    first = next(line for line in text.splitlines() if line.strip().startswith("2024-03-05"))
    second = next(line for line in text.splitlines() if line.strip().startswith("2024-03-06"))
    assert "2.4e-05" in first and "0.000 " not in first and first.rstrip().endswith("yes")
    assert "0.3100" in second and "-0.020" in second and second.rstrip().endswith("no")
    assert "champion: finsig-direction version 1" in text
