"""``silver/news_sentiment``: class probabilities for every English, non-duplicate article.

For the sessions of the run (one partition or a single-run backfill range) it reads the rows of
``silver.news_articles`` with ``is_english AND NOT is_syndicated_duplicate``, looks their texts
up in ``meta.sentiment_cache`` (:mod:`finsig_assets.sentiment.score_cache`), scores only the
texts not found there - each distinct text once - and writes the new cache entries and the
partition rows in one transaction. No DuckDB connection is open while the model runs, so other
runs can read and write meanwhile; the ``gpu`` pool (limit 1 in the instance's ``dagster.yaml``)
keeps two runs from loading the model onto one GPU, and the warehouse's lock retries cover the
write.

Rows: ``p_positive, p_negative, p_neutral`` (token-weighted over the article's chunks; see
:mod:`finsig_assets.sentiment.text_chunks`), ``sentiment = p_positive - p_negative``,
``confidence`` = the largest probability, ``n_chunks``, ``sentiment_model`` (``name@revision``
of whatever scored it), ``text_mode``, ``available_at`` (copied from silver.news_articles so
signals need no join) and ``text_sha256``. An article with no text at all (empty headline,
no body sentence) gets no row - there is nothing to score and no score is invented - and is
counted in the metadata and logged.

One row per ``article_id`` in the whole table: the write also deletes the rows of the articles
it writes from other partitions (an article whose availability moved to another session), and
the blocking ``unique_non_null_keys`` check verifies it after the write. Metadata: each
partition its own articles and rows; the backend is shared; scoring counts and timings, which
belong to the run's distinct texts rather than to a partition, are ``run_*``.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import time

import dagster as dg
import polars as pl

from finsig_assets import settings
from finsig_assets.trading_day_asset import runs_of_at_most, trading_day_asset
from finsig_assets.materialization_metadata import partition_metadata, typed_metadata, materialize_result
from finsig_assets.partition_scope import scope_of
from finsig_assets.sentiment.backend_selection import SentimentResource
from finsig_assets.sentiment.score_cache import add_entries, cache_entries, lookup, text_keys
from finsig_assets.table_checks import UniqueKeys, check_specs, run_checks
from finsig_assets.warehouse import Warehouse, table_columns

TABLE = "silver.news_sentiment"
ASSET_KEY = dg.AssetKey(["silver", "news_sentiment"])
CHECKS = (UniqueKeys(TABLE, ("article_id",)),)
ARTICLES_KEY = dg.AssetKey(["silver", "news_articles"])
PROGRESS_EVERY_SECONDS = 15.0

OUTPUT_COLUMNS = table_columns("silver.news_sentiment")  # the DDL in dbt_like_sql/tables is the contract

_READ_SQL = """
SELECT article_id, trade_date, headline, body, available_at
FROM silver.news_articles
WHERE trade_date BETWEEN ? AND ? AND is_english AND NOT is_syndicated_duplicate
ORDER BY trade_date, available_at, article_id
"""


class ProgressLog:
    """``progress(done, total)`` that logs at most every ``every`` seconds, and at the end."""

    def __init__(self, log, what: str, every: float = PROGRESS_EVERY_SECONDS):
        self.log, self.what, self.every = log, what, every
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-9)
        self.log.info(f"{self.what}: {done:,}/{total:,} distinct chunks scored ({rate:,.0f}/s)")


def sentiment_backfill_policy() -> dg.BackfillPolicy:
    return runs_of_at_most(settings.sentiment_partitions_per_run())


@trading_day_asset(
    key=ASSET_KEY,
    pool="gpu",
    # The celery executor sends this step to the workers of the `gpu` queue (finsig_assets/celery_workers.py).
    op_tags={"dagster-celery/queue": "gpu"},
    # One run over a backfill's range, unless FINSIG_SENTIMENT_PARTITIONS_PER_RUN splits it for
    # several GPU workers (docs/scale-out.md, "Backfill policies").
    backfill_policy=sentiment_backfill_policy(),
    kinds={"duckdb", "polars", "pytorch"},
    deps=[dg.AssetDep(ARTICLES_KEY)],
    check_specs=check_specs(ASSET_KEY, CHECKS),
    description="FinBERT (or lexicon) class probabilities per English, non-duplicate article.",
)
def news_sentiment(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    sentiment: SentimentResource,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    backend = sentiment.active
    text_mode = sentiment.text_mode
    info = sentiment.describe()
    if sentiment.fallback_reason:
        context.log.warning(
            f"FinBERT was not available, so {scope.label} is scored with {backend.sentiment_model}:"
            f" {sentiment.fallback_reason}"
        )

    articles = warehouse.query(_READ_SQL, [scope.first, scope.last])
    keys = text_keys(articles["headline"].to_list(), articles["body"].to_list(), text_mode)
    articles = articles.with_columns(pl.Series("text_sha256", keys, dtype=pl.String))
    cached = lookup(warehouse, backend.model_id, backend.revision, text_mode, keys)
    todo = (
        articles.filter(~pl.col("text_sha256").is_in(cached["text_sha256"].implode()))
        .unique("text_sha256", keep="first", maintain_order=True)
        .select("text_sha256", "headline", "body")
    )
    context.log.info(
        f"{scope.label}: {articles.height:,} articles, {cached.height:,} distinct texts cached,"
        f" {todo.height:,} to score with {backend.sentiment_model} ({text_mode}, {backend.device}/{backend.dtype})"
    )

    t0 = time.perf_counter()
    scores = backend.score_articles(
        todo["headline"].to_list(),
        todo["body"].to_list(),
        text_mode,
        progress=ProgressLog(context.log, scope.label),
    )
    seconds = time.perf_counter() - t0
    fresh = todo.select("text_sha256").hstack(scores)
    empty = fresh.filter(pl.col("n_chunks") == 0)
    fresh = fresh.filter(pl.col("n_chunks") > 0)
    entries = cache_entries(
        fresh["text_sha256"].to_list(),
        fresh,
        model=backend.model_id,
        revision=backend.revision,
        text_mode=text_mode,
        device=backend.device,
        dtype=backend.dtype,
    )
    all_scores = pl.concat([cached, fresh.select(cached.columns)], how="vertical_relaxed")
    rows = (
        articles.join(all_scores, on="text_sha256", how="inner")
        .with_columns(
            pl.lit(backend.sentiment_model).alias("sentiment_model"),
            pl.lit(text_mode).alias("text_mode"),
            (pl.col("p_positive") - pl.col("p_negative")).alias("sentiment"),
            pl.max_horizontal("p_positive", "p_negative", "p_neutral").alias("confidence"),
            pl.col("n_chunks").cast(pl.Int32),
        )
        .sort("trade_date", "available_at", "article_id")
        .select(OUTPUT_COLUMNS)
    )
    skipped = articles.height - rows.height
    if skipped:
        context.log.warning(
            f"{skipped} article(s) have no text to score (empty headline and body) and get no row:"
            f" {', '.join(articles.filter(pl.col('text_sha256').is_in(empty['text_sha256'].implode()))['article_id'].head(10).to_list())}"
        )

    with warehouse.transaction() as tx:
        add_entries(tx, entries)
        # One row per article_id table-wide: an article written here loses any row it still
        # has in another partition (its available_at, hence its session, changed).
        tx.register("__sentiment_ids", rows.select("article_id"))
        try:
            tx.execute(f"DELETE FROM {TABLE} WHERE article_id IN (SELECT article_id FROM __sentiment_ids)")
        finally:
            tx.unregister("__sentiment_ids")
        tx.replace(TABLE, rows, scope.first, scope.last)
    checks = run_checks(warehouse, ASSET_KEY, CHECKS, scope, log=context.log)

    oom = getattr(backend, "oom_events", [])
    run_summary = {
        "texts_scored": fresh.height,
        "texts_cached": cached.height,
        "chunks_scored": int(fresh["n_chunks"].sum() or 0),
        "scoring_seconds": round(seconds, 3),
        "texts_per_second": round(fresh.height / seconds, 1) if fresh.height and seconds > 0 else 0.0,
        "oom_backoffs": len(oom),
    }
    context.log.info(
        f"{scope.label}: wrote {rows.height:,} rows; scored {fresh.height:,} texts in {seconds:.1f}s,"
        f" {cached.height:,} from the cache"
    )
    metadata = partition_metadata(
        context, rows, scope.sessions, scope.label, run_summary, per_session(articles, rows, scope.sessions)
    )
    shared = typed_metadata({**info, "text_mode": text_mode})  # true of every partition of the run
    return materialize_result(context, scope.sessions, metadata | shared, checks)


def per_session(articles: pl.DataFrame, rows: pl.DataFrame, sessions: list) -> dict:
    """Each session's articles read and articles without text (read but given no row)."""
    read = dict(articles.group_by("trade_date").len().iter_rows())
    written = dict(rows.group_by("trade_date").len().iter_rows())
    return {
        day: {"articles_read": int(read.get(day, 0)), "articles_without_text": int(read.get(day, 0) - written.get(day, 0))}
        for day in sessions
    }
