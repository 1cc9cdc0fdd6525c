"""silver/news_articles: copy collapse, language flag, syndication, availability, independence."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finsig_assets.silver import news_articles
from finsig_assets.silver.news_dedup import normalize_headline, source_family
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.silver.bronze_rows import insert_news, materialize, metadata_by_partition, metadata_of, news_row, ny

D = "2024-03-12"


def silver(warehouse) -> pl.DataFrame:
    return warehouse.query("SELECT * FROM silver.news_articles ORDER BY article_id")


def rows_by_id(warehouse) -> dict[str, dict]:
    return {r["article_id"]: r for r in silver(warehouse).iter_rows(named=True)}


def latency(minutes: int) -> dict:
    return {"ops": {"silver__news_articles": {"config": {"availability_latency_minutes": minutes}}}}


def test_copies_collapse_to_the_most_complete_one(warehouse):
    t = ny(D, "10:00")
    insert_news(
        warehouse,
        [
            news_row("a1", t, body="", content_fetched=False, collected_at=t, source_file="news/2024-03-12/a1.json"),
            news_row("a1", t, body="short body", content_fetched=False, collected_at=t, source_file="news/2024-03-13/a1.json"),
            news_row("a1", t, body="a longer fetched body", collected_at=t + dt.timedelta(days=2), source_file="news/2024-03-15/a1.json"),
            news_row("a1", t, body="same length fetched!!", collected_at=t + dt.timedelta(days=1), source_file="news/2024-03-14/a1.json"),
            news_row("a2", t, body="", content_fetched=False, source_file="news/2024-03-12/a2.json"),
            news_row("a2", t, body="   ", content_fetched=True, source_file="news/2024-03-13/a2.json"),
        ],
    )
    result = materialize(news_articles, warehouse, D)
    rows = rows_by_id(warehouse)

    assert set(rows) == {"a1", "a2"}
    # body first, then content_fetched, then length, then earliest collected_at
    assert rows["a1"]["body"] == "same length fetched!!"
    assert rows["a1"]["source_file"] == "news/2024-03-14/a1.json"
    assert rows["a1"]["n_copies"] == 4 and rows["a1"]["has_body"]
    # no copy has a body: content_fetched decides; a whitespace body counts as empty
    assert rows["a2"]["source_file"] == "news/2024-03-13/a2.json"
    assert rows["a2"]["n_copies"] == 2 and not rows["a2"]["has_body"]
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 2
    assert meta["copies_collapsed"] == 4
    assert meta["empty_body"] == 1


def test_english_flag_keeps_other_languages(warehouse):
    t = ny(D, "11:00")
    languages = {"e1": "English", "e2": "en", "e3": " EN ", "x1": "Indonesian", "x2": None, "x3": "Spanish"}
    insert_news(warehouse, [news_row(i, t, language=lang) for i, lang in languages.items()])
    result = materialize(news_articles, warehouse, D)
    rows = rows_by_id(warehouse)
    assert {i: r["is_english"] for i, r in rows.items()} == {
        "e1": True, "e2": True, "e3": True, "x1": False, "x2": False, "x3": False
    }
    meta = metadata_of(result)
    assert meta["non_english"] == 3
    assert "Indonesian 1" in meta["languages"]
    assert "(missing) 1" in meta["languages"]


def test_source_family_and_headline_rules():
    assert source_family("gdelt_finance.yahoo.com") == source_family("gdelt_yahoo.com") == "yahoo.com"
    assert source_family(None, "https://www.yahoo.com/news/x.html") == "yahoo.com"
    assert source_family("gdelt_m.cnbc.com") == "cnbc.com"
    assert source_family("gdelt_uk.reuters.com") == "reuters.com"
    assert source_family("gdelt_bbc.co.uk") == "bbc.co.uk"
    assert source_family("gdelt_fool.com") == "fool.com"
    assert source_family("Reuters") == "reuters"
    assert source_family("", None) is None
    assert normalize_headline("  Stocks RALLY -- as U.S. jobs beat!! ") == "stocks rally as u s jobs beat"
    assert normalize_headline("?!") is None


def test_syndicated_duplicates_by_family_and_24h_limit(warehouse):
    t0 = ny(D, "08:00")
    h = dt.timedelta(hours=1)
    story = "Stocks rally as jobs report beats forecasts"
    insert_news(
        warehouse,
        [
            news_row("s1", t0, headline=story, source="gdelt_yahoo.com"),
            news_row("s2", t0 + 2 * h, headline=story.upper() + "!", source="gdelt_finance.yahoo.com"),
            news_row("s3", t0 + 1 * h, headline=story, source="gdelt_fool.com"),  # other family
            news_row("s0", t0, headline=f"  {story}. ", source="gdelt_www.yahoo.com"),  # same instant: id order
            news_row("s4", t0 + 3 * h, headline=story + " today", source="gdelt_yahoo.com"),  # other headline
            # the 24 h limit (inclusive), for a story with exactly two articles
            news_row("w1", t0, headline="Fed holds rates", source="gdelt_cnbc.com"),
            news_row("w2", t0 + 24 * h, headline="Fed holds rates", source="gdelt_cnbc.com"),
            news_row("v1", t0, headline="Oil slides", source="gdelt_cnbc.com"),
            news_row("v2", t0 + 24 * h + dt.timedelta(minutes=15), headline="Oil slides", source="gdelt_cnbc.com"),
        ],
    )
    result = materialize(news_articles, warehouse, D, "2024-03-13")
    rows = rows_by_id(warehouse)
    flags = {i: (r["is_syndicated_duplicate"], r["duplicate_of"]) for i, r in rows.items()}
    assert flags == {
        "s0": (False, None),
        "s1": (True, "s0"),
        "s2": (True, "s0"),
        "s3": (False, None),
        "s4": (False, None),
        "w1": (False, None),
        "w2": (True, "w1"),
        "v1": (False, None),
        "v2": (False, None),
    }
    assert rows["s2"]["source_family"] == "yahoo.com"
    by_partition = metadata_by_partition(result)
    assert sum(meta["syndicated_duplicates"] for meta in by_partition.values()) == 3


def test_syndication_looks_back_into_the_previous_partition(warehouse):
    first = ny("2024-03-11", "15:00")  # partition 2024-03-11
    later = ny("2024-03-12", "09:00")  # partition 2024-03-12, 18 h later
    insert_news(
        warehouse,
        [
            news_row("p1", first, headline="Tech leads gains", source="gdelt_yahoo.com"),
            news_row("p2", later, headline="Tech leads gains", source="gdelt_finance.yahoo.com"),
        ],
    )
    materialize(news_articles, warehouse, D)  # D alone: p1 is read, not written
    rows = rows_by_id(warehouse)
    assert set(rows) == {"p2"}
    assert rows["p2"]["duplicate_of"] == "p1"


def test_available_at_latency_moves_a_late_article_to_the_next_partition(warehouse, monkeypatch):
    published = ny(D, "16:58")
    insert_news(warehouse, [news_row("late", published), news_row("early", ny(D, "16:50"))])

    materialize(news_articles, warehouse, D)
    assert {i: r["trade_date"] for i, r in rows_by_id(warehouse).items()} == {
        "late": dt.date(2024, 3, 12), "early": dt.date(2024, 3, 12)
    }

    # With a 5-minute latency, 'late' becomes available at 17:03 NY: the next session owns it,
    # and materializing D again removes it from D.
    materialize(news_articles, warehouse, D, run_config=latency(5))
    assert set(rows_by_id(warehouse)) == {"early"}
    result = materialize(news_articles, warehouse, "2024-03-13", run_config=latency(5))
    rows = rows_by_id(warehouse)
    assert rows["late"]["trade_date"] == dt.date(2024, 3, 13)
    assert rows["late"]["available_at"] == ny(D, "17:03")
    assert rows["late"]["published_at"] == published
    assert rows["early"]["available_at"] == ny(D, "16:55")
    assert metadata_of(result)["availability_latency_minutes"] == 5

    # The environment variable sets the default.
    monkeypatch.setenv("FINSIG_NEWS_LATENCY_MINUTES", "0")
    materialize(news_articles, warehouse, D)
    materialize(news_articles, warehouse, "2024-03-13")
    assert {i: r["trade_date"] for i, r in rows_by_id(warehouse).items()} == {
        "late": dt.date(2024, 3, 12), "early": dt.date(2024, 3, 12)
    }
    monkeypatch.setenv("FINSIG_NEWS_LATENCY_MINUTES", "5")
    materialize(news_articles, warehouse, D, "2024-03-13")
    assert rows_by_id(warehouse)["late"]["trade_date"] == dt.date(2024, 3, 13)


def test_latency_out_of_range_is_refused(warehouse):
    with pytest.raises(Exception, match="availability_latency_minutes"):
        materialize(news_articles, warehouse, D, run_config=latency(2000))


def _week_of_news() -> list[dict]:
    rows = []
    start = ny("2024-03-07", "12:00")
    sources = ["gdelt_yahoo.com", "gdelt_finance.yahoo.com", "gdelt_fool.com", "gdelt_cnbc.com"]
    for i in range(0, 7 * 24 * 4, 3):  # every 45 minutes for a week (weekend included)
        t = start + dt.timedelta(minutes=15 * i)
        rows.append(
            news_row(
                f"n{i:04d}",
                t,
                headline=f"Story {i % 7}",  # recurring headlines: syndication chains across days
                source=sources[i % 4],
                body="" if i % 2 else f"body {i}",
                language="English" if i % 5 else "Indonesian",
            )
        )
        if i % 6 == 0:  # a second landed copy, in a later folder
            rows.append(rows[-1] | {"body": "", "source_file": f"news/later/n{i:04d}.json"})
    return rows


def test_day_by_day_equals_one_range_and_rematerializing_is_idempotent(warehouse, tmp_path):
    rows = _week_of_news()
    other = DuckDBWarehouse(database=str(tmp_path / "other.duckdb"), lock_timeout_seconds=60)
    insert_news(warehouse, rows)
    insert_news(other, rows)
    days = ["2024-03-08", "2024-03-11", "2024-03-12", "2024-03-13"]
    config = latency(20)

    materialize(news_articles, warehouse, days[0], days[-1], run_config=config)
    for day in days:
        materialize(news_articles, other, day, run_config=config)
    ranged, daily = silver(warehouse), silver(other)
    assert ranged.height > 50
    assert ranged["is_syndicated_duplicate"].sum() > 0
    assert ranged.equals(daily)

    materialize(news_articles, warehouse, days[0], days[-1], run_config=config)
    materialize(news_articles, warehouse, days[2], run_config=config)
    again = silver(warehouse)
    assert again.equals(ranged)
    assert again["article_id"].is_unique().all()


def test_empty_partition_writes_nothing_and_reports_zero(warehouse):
    result = materialize(news_articles, warehouse, D)
    assert silver(warehouse).height == 0
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 0
    assert meta["copies_collapsed"] == 0
