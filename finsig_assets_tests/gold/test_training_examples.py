"""gold/training_examples: labels by timestamp, NULL across closes and gaps, no look-ahead."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import numpy as np
import polars as pl
import pytest

from finsig_assets.sql_models import build_sql_assets
from finsig_assets.trading_calendar import session_frame
from finsig_assets_tests.sql_models.synthetic_bars import finish_silver, synthetic_bars, warehouse_with_bars

FIRST, LAST = "2024-07-01", "2024-07-05"  # 07-03 closes at 13:00, 07-04 is a holiday
HORIZON = dt.timedelta(minutes=30)


def gold_assets():
    wanted = {"gold/market_features", "gold/news_signals", "gold/training_examples"}
    return [a for a in build_sql_assets() if a.key.to_user_string() in wanted]


def build(warehouse, rth_only: bool) -> pl.DataFrame:
    result = dg.materialize(
        gold_assets(),
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
        run_config={"ops": {"gold__training_examples": {"config": {"rth_only": rth_only}}}},
    )
    assert result.success
    return warehouse.query("SELECT * FROM gold.training_examples ORDER BY ts")


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    frame = synthetic_bars(FIRST, LAST, seed=3, missing_fraction=0.01)
    # A 12-minute outage inside regular hours on 07-02.
    outage = (pl.col("ts") >= dt.datetime(2024, 7, 2, 15, 0, tzinfo=dt.timezone.utc)) & (
        pl.col("ts") < dt.datetime(2024, 7, 2, 15, 12, tzinfo=dt.timezone.utc)
    )
    return finish_silver(frame.filter(~outage).drop("trade_date", "is_rth", "minutes_to_close", "gap_minutes"))


@pytest.fixture(scope="module")
def examples(bars, tmp_path_factory) -> pl.DataFrame:
    warehouse = warehouse_with_bars(tmp_path_factory.mktemp("te") / "w.duckdb", bars)
    return build(warehouse, rth_only=False)


def reference_labels(bars: pl.DataFrame, max_gap: float = 5.0) -> dict:
    """The label rule, written out bar by bar in plain Python."""
    closes = dict(zip(bars["ts"].to_list(), bars["close"].to_list()))
    dates = dict(zip(bars["ts"].to_list(), bars["trade_date"].to_list()))
    gaps = dict(zip(bars["ts"].to_list(), bars["gap_minutes"].to_list()))
    rth_close = dict(session_frame().select("trade_date", "rth_close").iter_rows())
    ordered = bars["ts"].to_list()
    out = {}
    for i, t in enumerate(ordered):
        later = t + HORIZON
        value = None
        if later in closes and dates[later] == dates[t]:
            close_at = rth_close[dates[t]]
            crosses = t < close_at <= later
            j, big_gap = i + 1, False
            while j < len(ordered) and ordered[j] <= later:
                big_gap |= (gaps[ordered[j]] or 0) > max_gap
                j += 1
            if not crosses and not big_gap:
                value = math.log(closes[later] / closes[t])
        out[t] = value
    return out


def test_labels_follow_the_rule(bars, examples):
    expected = reference_labels(bars)
    got = dict(zip(examples["ts"].to_list(), examples["fwd_return_30m"].to_list()))
    assert set(got) == set(expected)
    mismatches = [t for t in expected if (expected[t] is None) != (got[t] is None)
                  or (expected[t] is not None and abs(expected[t] - got[t]) > 1e-12)]
    assert mismatches == []
    labelled = examples.filter(pl.col("fwd_return_30m").is_not_null())
    assert (labelled["label_up"] == (labelled["fwd_return_30m"] > 0)).all()
    assert examples.filter(pl.col("fwd_return_30m").is_null())["label_up"].null_count() == examples[
        "fwd_return_30m"].null_count()


def test_no_label_crosses_a_close_or_the_outage(examples):
    utc = dt.timezone.utc
    by_ts = dict(zip(examples["ts"].to_list(), examples["fwd_return_30m"].to_list()))
    # 15:45 New York on a normal day: the 16:00 close is inside the horizon.
    assert by_ts[dt.datetime(2024, 7, 1, 19, 45, tzinfo=utc)] is None
    # 12:40 New York on the 13:00 early close.
    assert by_ts.get(dt.datetime(2024, 7, 3, 16, 40, tzinfo=utc)) is None
    # 14:45 UTC on 07-02: the outage (15:00-15:12) is inside the horizon.
    assert by_ts.get(dt.datetime(2024, 7, 2, 14, 45, tzinfo=utc)) is None
    rth = examples.filter(pl.col("is_rth"))
    assert rth["fwd_return_30m"].is_not_null().mean() > 0.8


def test_rth_only_by_default(bars, tmp_path):
    warehouse = warehouse_with_bars(tmp_path / "w.duckdb", bars)
    result = dg.materialize(
        gold_assets(), resources={"warehouse": warehouse}, instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
    )
    assert result.success
    out = warehouse.query("SELECT is_rth, count(*) AS n FROM gold.training_examples GROUP BY ALL")
    assert out["is_rth"].to_list() == [True]


def perturb_after(bars: pl.DataFrame, t: dt.datetime, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    after = pl.col("ts") > t
    factor = pl.Series(np.exp(rng.normal(0, 0.01, bars.height)))
    return bars.with_columns(
        *[pl.when(after).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "close")],
        pl.when(after).then(pl.col("high") * factor * 1.01).otherwise(pl.col("high")).alias("high"),
        pl.when(after).then(pl.col("low") * factor * 0.99).otherwise(pl.col("low")).alias("low"),
        pl.when(after).then(pl.col("volume") * 3).otherwise(pl.col("volume")).alias("volume"),
    )


def test_future_perturbation(bars, examples, tmp_path):
    t = dt.datetime(2024, 7, 2, 17, 10, tzinfo=dt.timezone.utc)
    # Changing everything after t + horizon changes nothing at or before t.
    late = build(warehouse_with_bars(tmp_path / "late.duckdb", perturb_after(bars, t + HORIZON, 1)), rth_only=False)
    assert late.filter(pl.col("ts") <= t).equals(examples.filter(pl.col("ts") <= t))
    # Changing everything after t changes no feature at or before t (labels may change).
    soon = build(warehouse_with_bars(tmp_path / "soon.duckdb", perturb_after(bars, t, 2)), rth_only=False)
    features = [c for c in examples.columns if c not in ("fwd_return_30m", "label_up")]
    assert soon.filter(pl.col("ts") <= t).select(features).equals(examples.filter(pl.col("ts") <= t).select(features))
    changed = soon.filter(pl.col("ts") <= t)["fwd_return_30m"] != examples.filter(pl.col("ts") <= t)["fwd_return_30m"]
    assert changed.any()  # the perturbation was real: labels just before t see it
