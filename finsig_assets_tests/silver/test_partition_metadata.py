"""A single-run backfill over three sessions: each silver partition carries its own numbers."""

from __future__ import annotations

import datetime as dt

from finsig_assets.silver import market_bars, news_articles
from finsig_assets_tests.silver.bronze_rows import (
    candle_rows,
    insert_candles,
    insert_news,
    materialize,
    metadata_by_partition,
    news_row,
    ny,
)

DAYS = ["2024-03-11", "2024-03-12", "2024-03-13"]


def rows_per_day(warehouse, table: str) -> dict[str, int]:
    frame = warehouse.query(f"SELECT trade_date::VARCHAR AS d, count(*) AS n FROM {table} GROUP BY ALL")
    return dict(frame.iter_rows())


def test_market_bars_partitions_report_their_own_rows(warehouse):
    times = []
    for i, day in enumerate(DAYS):  # 3, 5 and 7 bars
        times += [ny(day, "10:00") + dt.timedelta(minutes=m) for m in range(3 + 2 * i)]
    times.append(ny(DAYS[1], "10:30"))  # a 26-minute gap on the second day
    insert_candles(warehouse, candle_rows(sorted(times)))
    result = materialize(market_bars, warehouse, DAYS[0], DAYS[-1])

    meta = metadata_by_partition(result)
    assert sorted(meta) == DAYS
    counts = {day: meta[day]["dagster/row_count"] for day in DAYS}
    assert counts == rows_per_day(warehouse, "silver.market_bars") == {DAYS[0]: 3, DAYS[1]: 6, DAYS[2]: 7}
    # The overnight gap before each later day's first bar, and the 26-minute one on the second day.
    assert [meta[day]["gaps_over_5_min"] for day in DAYS] == [0, 2, 1]
    assert [meta[day]["first_ts"] for day in DAYS] == [ny(day, "10:00").isoformat() for day in DAYS]
    assert all(meta[day]["run_rows"] == 16 and meta[day]["run_sessions_covered"] == 3 for day in DAYS)


def test_news_articles_partitions_report_their_own_counts(warehouse):
    rows = [news_row("a1", ny(DAYS[0], "10:00")), news_row("a2", ny(DAYS[0], "10:05"), language="Spanish")]
    rows += [news_row("b1", ny(DAYS[2], "11:00"))]
    rows += [news_row("b1", ny(DAYS[2], "11:00"), source_file="news/copy/b1.json")]  # a landed copy
    insert_news(warehouse, rows)
    result = materialize(news_articles, warehouse, DAYS[0], DAYS[-1])

    meta = metadata_by_partition(result)
    counts = {day: meta[day]["dagster/row_count"] for day in DAYS}
    assert counts == {DAYS[0]: 2, DAYS[1]: 0, DAYS[2]: 1}
    assert {d: n for d, n in counts.items() if n} == rows_per_day(warehouse, "silver.news_articles")
    assert [meta[day]["copies_collapsed"] for day in DAYS] == [0, 0, 1]
    assert [meta[day]["non_english"] for day in DAYS] == [1, 0, 0]
    assert meta[DAYS[0]]["languages"] == "English 1, Spanish 1" and meta[DAYS[1]]["languages"] == "none"
    assert all(meta[day]["availability_latency_minutes"] == 0 for day in DAYS)
    assert all(meta[day]["run_rows"] == 3 for day in DAYS)
