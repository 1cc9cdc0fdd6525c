"""Conflicting article copies, on frames: bronze keeps the copy silver would keep."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl

from finsig_assets.bronze.article_dedup import dedup_articles
from finsig_assets.silver.news_dedup import collapse_copies

UTC = dt.timezone.utc
DAY = dt.date(2024, 6, 25)
SCHEMA = {
    "article_id": pl.String,
    "trade_date": pl.Date,
    "headline": pl.String,
    "body": pl.String,
    "content_fetched": pl.Boolean,
    "collected_at": pl.Datetime("us", "UTC"),
    "published_at": pl.Datetime("us", "UTC"),
    "source_file": pl.String,
    "source_line": pl.Int64,
}


def copies(rows: list[dict]) -> pl.DataFrame:
    base = {
        "article_id": "a" * 32,
        "trade_date": DAY,
        "headline": "Stocks rise",
        "body": "Shares rose.",
        "content_fetched": True,
        "collected_at": dt.datetime(2024, 6, 25, 16, tzinfo=UTC),
        "published_at": dt.datetime(2024, 6, 25, 14, tzinfo=UTC),
        "source_file": "news/a.json",
        "source_line": 1,
    }
    return pl.DataFrame([base | r for r in rows], schema=SCHEMA)


def test_identical_copies_stay_and_conflicting_ones_go():
    frame = copies(
        [
            {"source_file": "news/1.json"},
            {"source_file": "news/2.json", "collected_at": None},  # identical text: stays
            {"source_file": "news/3.json", "body": ""},  # not fetched: superseded
            {"source_file": "news/4.json", "article_id": "b" * 32},
        ]
    )
    out = dedup_articles(frame)
    assert out.kept["source_file"].to_list() == ["news/1.json", "news/2.json", "news/4.json"]
    assert (out.identical_copies, out.superseded_copies) == (1, 1)
    (reason,) = out.losers["reason"].to_list()
    assert reason == (
        f"conflicting copy of article {'a' * 32}: superseded by news/1.json:1 (kept copy has a body; body of 0 vs kept 12 characters)"
    )
    assert '"source_file":"news/3.json"' in out.losers["raw"][0]  # no landing root: the values as JSON


def test_copies_on_different_trade_dates_are_not_compared():
    frame = copies([{"source_file": "news/1.json"}, {"source_file": "news/2.json", "trade_date": DAY + dt.timedelta(days=1), "body": "x"}])
    out = dedup_articles(frame)
    assert out.kept.height == 2 and out.losers.height == 0


def test_the_winner_is_silvers_pick_so_silver_does_not_change():
    rng = random.Random(20240625)
    bodies = ["", "  ", "Short.", "Shares rose.", "A longer body of text.", None]
    rows = []
    for n in range(300):
        article_id = f"{n % 40:032x}"
        rows.append(
            {
                "article_id": article_id,
                "headline": rng.choice(["Stocks rise", "Stocks rise!"]),
                "body": rng.choice(bodies),
                "content_fetched": rng.choice([True, False, None]),
                "collected_at": rng.choice([None, dt.datetime(2024, 6, 25, rng.randint(15, 20), tzinfo=UTC)]),
                "source_file": f"news/{rng.randint(0, 3)}/{n}.json",
                "source_line": 1,
            }
        )
    frame = copies(rows)
    out = dedup_articles(frame)
    assert out.superseded_copies > 0 and out.identical_copies > 0
    assert out.kept.height + out.losers.height == frame.height
    pick = ["article_id", "source_file", "source_line"]
    assert collapse_copies(out.kept).select(pick).sort("article_id").rows() == collapse_copies(frame).select(pick).sort("article_id").rows()
    # What stays of an article is its winner and the copies with the winner's text.
    winners = collapse_copies(frame).select("article_id", pl.col("headline").alias("w_headline"), pl.col("body").fill_null("").alias("w_body"))
    joined = out.kept.join(winners, on="article_id")
    assert (joined["headline"] == joined["w_headline"]).all() and (joined["body"].fill_null("") == joined["w_body"]).all()
