"""gold/news_signals uses only news available at each bar: (t - w, t] by available_at."""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import polars as pl
import pytest

from finsig_assets.sql_models import build_sql_assets

UTC = dt.timezone.utc
D = "2024-06-26"  # a Wednesday; its window is 2024-06-25 21:00 UTC .. 2024-06-26 21:00 UTC


def news_signals_asset():
    (asset,) = [a for a in build_sql_assets() if a.key == dg.AssetKey(["gold", "news_signals"])]
    return asset


def bars(start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    ts = pl.datetime_range(start, end, "1m", closed="left", eager=True, time_zone="UTC")
    from finsig_assets.trading_calendar import assign_trade_dates

    frame = pl.DataFrame({"ts": ts}).with_columns(
        instrument=pl.lit("SPX500_USD"), open=5400.0, high=5401.0, low=5399.0, close=5400.0,
        volume=pl.lit(5, pl.Int64), is_rth=False, minutes_to_close=0.0, gap_minutes=1.0,
    )
    return assign_trade_dates(frame)


def articles(rows: list[tuple[str, dt.datetime, float]], model: str = "lexicon:test") -> pl.DataFrame:
    from finsig_assets.trading_calendar import assign_trade_dates

    frame = pl.DataFrame(
        {
            "article_id": [r[0] for r in rows],
            "available_at": [r[1] for r in rows],
            "sentiment": [r[2] for r in rows],
        },
        schema={"article_id": pl.Utf8, "available_at": pl.Datetime("us", "UTC"), "sentiment": pl.Float64},
    ).with_columns(
        p_positive=pl.col("sentiment").clip(0, 1),
        p_negative=(-pl.col("sentiment")).clip(0, 1),
        sentiment_model=pl.lit(model),
        text_mode=pl.lit("headline"),
        n_chunks=pl.lit(1),
        text_sha256=pl.col("article_id"),
    ).with_columns(
        p_neutral=1 - pl.col("p_positive") - pl.col("p_negative"),
        confidence=pl.max_horizontal("p_positive", "p_negative", 1 - pl.col("p_positive") - pl.col("p_negative")),
    )
    return assign_trade_dates(frame, "available_at")


def load(warehouse, bar_frame, article_frame):
    with warehouse.transaction() as tx:
        tx.replace("silver.market_bars", bar_frame)
        tx.replace("silver.news_sentiment", article_frame)


def materialize(warehouse, first=D, last=None):
    tags = {}
    if last:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = dg.materialize(
        [news_signals_asset()],
        partition_key=None if last else first,
        tags=tags,
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return warehouse.query("SELECT * FROM gold.news_signals ORDER BY ts")


def at(frame: pl.DataFrame, when: dt.datetime) -> dict:
    return frame.filter(pl.col("ts") == when).row(0, named=True)


T = dt.datetime(2024, 6, 26, 14, 7, tzinfo=UTC)  # 10:07 New York


def test_article_counts_from_its_available_minute_never_before(warehouse):
    load(warehouse, bars(T - dt.timedelta(hours=3), T + dt.timedelta(hours=5)), articles([("a", T, 0.8)]))
    out = materialize(warehouse)
    before, same, later = at(out, T - dt.timedelta(minutes=1)), at(out, T), at(out, T + dt.timedelta(minutes=14))
    assert before["news_count_15m"] == 0 and before["news_sentiment_mean_15m"] is None
    assert before["news_minutes_since_last"] is None and before["news_decayed_sentiment"] == 0.0
    assert same["news_count_15m"] == 1 and same["news_sentiment_mean_15m"] == pytest.approx(0.8)
    assert same["news_minutes_since_last"] == 0.0
    assert same["news_decayed_sentiment"] == pytest.approx(0.8)
    assert later["news_count_15m"] == 1  # 14 minutes later: still inside (t - 15, t]
    assert at(out, T + dt.timedelta(minutes=15))["news_count_15m"] == 0  # left the 15-minute window
    assert at(out, T + dt.timedelta(minutes=15))["news_count_60m"] == 1
    # Half-life 30 minutes.
    assert at(out, T + dt.timedelta(minutes=30))["news_decayed_sentiment"] == pytest.approx(0.4)
    assert at(out, T + dt.timedelta(minutes=240))["news_count_240m"] == 0
    assert same["sentiment_model"] == "lexicon:test"


def test_window_means_and_surprise(warehouse):
    rows = [("old", T - dt.timedelta(hours=5), -0.5), ("a", T - dt.timedelta(minutes=10), 0.2), ("b", T, 0.6)]
    load(warehouse, bars(T - dt.timedelta(hours=6), T + dt.timedelta(hours=1)), articles(rows))
    row = at(materialize(warehouse), T)
    assert row["news_count_60m"] == 2
    assert row["news_sentiment_mean_60m"] == pytest.approx(0.4)
    assert row["news_sentiment_mean_1440m"] == pytest.approx((0.2 + 0.6 - 0.5) / 3)
    assert row["news_sentiment_surprise_60m"] == pytest.approx(0.4 - 0.1)
    conf = {"a": 0.8, "b": 0.6}  # max(p_neutral, |s|): 0.8 neutral for a, 0.6 positive for b
    expected = (conf["a"] * 0.2 + conf["b"] * 0.6) / (conf["a"] + conf["b"])
    assert row["news_confidence_weighted_sentiment_60m"] == pytest.approx(expected)


def test_weekend_articles_count_from_the_sunday_evening_bars(warehouse):
    sunday_open = dt.datetime(2024, 6, 30, 22, 0, tzinfo=UTC)  # 18:00 New York
    saturday = dt.datetime(2024, 6, 29, 23, 0, tzinfo=UTC)  # Saturday 19:00 New York, 23 h before
    sunday = sunday_open - dt.timedelta(minutes=20)
    frame = pl.concat([
        bars(dt.datetime(2024, 6, 28, 19, 0, tzinfo=UTC), dt.datetime(2024, 6, 28, 21, 0, tzinfo=UTC)),
        bars(sunday_open, sunday_open + dt.timedelta(hours=2)),
    ])
    load(warehouse, frame, articles([("sat", saturday, -0.9), ("sun", sunday, 0.5)]))
    out = materialize(warehouse, "2024-07-01")
    first = out.row(0, named=True)
    assert first["ts"] == sunday_open
    assert first["news_count_60m"] == 1 and first["news_sentiment_mean_60m"] == pytest.approx(0.5)
    assert first["news_sentiment_mean_1440m"] == pytest.approx(-0.2)  # Saturday's article is within 24 h
    assert first["news_minutes_since_last"] == pytest.approx(20.0)


def test_changing_articles_after_t_changes_nothing_at_or_before_t(warehouse, tmp_path):
    from finsig_assets.warehouse import DuckDBWarehouse

    start, end = T - dt.timedelta(hours=6), T + dt.timedelta(hours=6)
    base = [(f"a{i}", start + dt.timedelta(minutes=17 * i), math.sin(i)) for i in range(40)]
    perturbed = [(k, when, (-s if when > T else s)) for k, when, s in base] + [("late", T + dt.timedelta(minutes=1), 1.0)]
    other = DuckDBWarehouse(database=str(tmp_path / "other.duckdb"))
    load(warehouse, bars(start, end), articles(base))
    load(other, bars(start, end), articles(perturbed))
    a = materialize(warehouse).filter(pl.col("ts") <= T)
    b = materialize(other).filter(pl.col("ts") <= T)
    assert a.height > 300
    assert a.equals(b)


def test_partition_alone_equals_range(warehouse, tmp_path):
    from finsig_assets.warehouse import DuckDBWarehouse

    start = dt.datetime(2024, 6, 24, 22, 0, tzinfo=UTC)
    end = dt.datetime(2024, 6, 27, 20, 0, tzinfo=UTC)
    news = articles([(f"a{i}", start + dt.timedelta(minutes=37 * i), math.cos(i)) for i in range(110)])
    load(warehouse, bars(start, end), news)
    whole = materialize(warehouse, "2024-06-25", "2024-06-27")
    alone = DuckDBWarehouse(database=str(tmp_path / "alone.duckdb"))
    load(alone, bars(start, end), news)
    for day in ("2024-06-27", "2024-06-25", "2024-06-26"):  # one at a time, out of order
        parts = materialize(alone, day)
    assert parts.height == whole.height > 3000
    assert parts.sort("ts").equals(whole.sort("ts"))
