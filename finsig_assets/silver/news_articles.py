"""``silver/news_articles``: one row per article, with availability time and duplicate flags.

**Which partition owns an article.** ``available_at = published_at + latency`` is the first
instant the pipeline may use the article (``availability_latency_minutes``, default 0, from
run config or ``FINSIG_NEWS_LATENCY_MINUTES``; 0..1440). ``trade_date`` comes from
``available_at``, not ``published_at``: partition D holds the articles that *become usable*
inside D's window ``[17:00 NY prev session, 17:00 NY on D)``. With a 5-minute latency an
article published at 16:58 New York on D is available at 17:03 and belongs to the next
session, the first one that may act on it. (``bronze.news_articles.trade_date`` is from
``published_at``, so a silver partition reads bronze published up to ``latency`` before its
window: the late-available articles of the previous partition.)

**Reading.** A run for sessions ``first..last`` with window ``[start, end)`` selects the
article ids with a bronze copy published in ``[start - latency - 24h, end - latency)`` and
reads *every* copy of those ids (wherever they landed), so the copy collapse and the
syndication flag see exactly what a run over all history would see: materializing day by day
or as one range gives identical rows. The 24 hours before the window are there for the
syndication look-back; their articles are used as earlier copies, not written.

**Duplicates** (rules in :mod:`finsig_assets.silver.news_dedup`): landed copies of one
``article_id`` collapse to the most complete one (non-empty body, then ``content_fetched``,
then longest body, then earliest ``collected_at``, then ``source_file``), ``n_copies`` counts
them; syndicated near-duplicates (same normalized headline and source family within 24 h of an
earlier article) are kept, flagged ``is_syndicated_duplicate`` with ``duplicate_of``.

**Language.** ``is_english`` is ``language`` equal to ``english`` or ``en`` (case- and
whitespace-insensitive); other articles stay in the table, flagged, so downstream can skip
them for an English-only model.

**Check** (blocking, ERROR): ``unique_non_null_keys`` on ``article_id`` over the whole table
(the write deletes an article's row in any other partition, so one row per article holds
table-wide). **Metadata**: each partition its own counts (copies, duplicates, languages); the
latency is shared and the run's totals are ``run_*``.
"""

# No `from __future__ import annotations`: Dagster reads the asset function's type hints.

import datetime as dt
import os
import time

import dagster as dg
import polars as pl
from pydantic import Field

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.materialization_metadata import partition_metadata, materialize_result
from finsig_assets.partition_scope import PartitionScope, scope_of
from finsig_assets.partitions import lookback_mapping
from finsig_assets.silver.news_dedup import SYNDICATION_WINDOW, collapse_copies, flag_syndicated
from finsig_assets.table_checks import UniqueKeys, check_specs, run_checks
from finsig_assets.trading_calendar import assign_trade_dates
from finsig_assets.warehouse import Warehouse, fetch_frame, table_columns

TABLE = "silver.news_articles"
ASSET_KEY = dg.AssetKey(["silver", "news_articles"])
CHECKS = (UniqueKeys(TABLE, ("article_id",)),)
BRONZE_KEY = dg.AssetKey(["bronze", "news_articles"])
LATENCY_ENV = "FINSIG_NEWS_LATENCY_MINUTES"
MAX_LATENCY_MINUTES = 24 * 60

OUTPUT_COLUMNS = table_columns("silver.news_articles")  # the DDL in dbt_like_sql/tables is the contract

_READ_COPIES_SQL = """
WITH ids AS (
    SELECT DISTINCT article_id
    FROM bronze.news_articles
    WHERE published_at >= $read_from AND published_at < $read_to
)
SELECT article_id, headline, body, url, source, published_at, collected_at, language,
       content_fetched, source_file, source_line
FROM bronze.news_articles
WHERE article_id IN (SELECT article_id FROM ids)
"""


def default_latency_minutes() -> int:
    return int(os.environ.get(LATENCY_ENV, "0"))


class NewsArticlesConfig(dg.Config):
    availability_latency_minutes: int = Field(
        default_factory=default_latency_minutes,
        description=(
            "Minutes between an article's published_at and the moment the pipeline may use it "
            f"(available_at); 0..{MAX_LATENCY_MINUTES}. Defaults to ${LATENCY_ENV}, else 0."
        ),
    )


def check_latency(minutes: int) -> dt.timedelta:
    if not 0 <= minutes <= MAX_LATENCY_MINUTES:
        raise ValueError(
            f"availability_latency_minutes={minutes} (config or ${LATENCY_ENV}) must be in 0..{MAX_LATENCY_MINUTES}: "
            "the bronze look-back of silver/news_articles covers at most one day of latency"
        )
    return dt.timedelta(minutes=minutes)


def read_window(scope: PartitionScope, latency: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """The published_at range whose articles a run over ``scope`` needs."""
    return scope.window.start - latency - SYNDICATION_WINDOW, scope.window.end - latency


def read_copies(warehouse: Warehouse, scope: PartitionScope, latency: dt.timedelta) -> pl.DataFrame:
    read_from, read_to = read_window(scope, latency)
    with warehouse.connection() as conn:
        return fetch_frame(conn, _READ_COPIES_SQL, {"read_from": read_from, "read_to": read_to})


def build_news_articles(copies: pl.DataFrame, scope: PartitionScope, latency: dt.timedelta) -> pl.DataFrame:
    """The silver rows owned by ``scope`` from every bronze copy of the candidate articles."""
    articles = collapse_copies(copies)
    articles = flag_syndicated(articles)
    articles = articles.with_columns(
        available_at=pl.col("published_at").cast(pl.Datetime("us", "UTC")) + latency,
        is_english=pl.col("language").str.strip_chars().str.to_lowercase().is_in(["english", "en"]).fill_null(False),
    )
    articles = assign_trade_dates(articles, "available_at")
    return (
        articles.filter(pl.col("trade_date").is_between(scope.first, scope.last))
        .select(OUTPUT_COLUMNS)
        .with_columns(pl.col("published_at", "available_at").cast(pl.Datetime("us", "UTC")))
        .sort("available_at", "article_id")
    )


def summarize_by_session(frame: pl.DataFrame, sessions: list[dt.date]) -> dict[dt.date, dict[str, object]]:
    """Each session's own counts, and its languages as one short line ("English 12, (missing) 1")."""
    counts = frame.group_by("trade_date").agg(
        bronze_copies=pl.col("n_copies").sum(),
        copies_collapsed=pl.col("n_copies").sum() - pl.len(),
        syndicated_duplicates=pl.col("is_syndicated_duplicate").sum(),
        non_english=(~pl.col("is_english")).sum(),
        empty_body=(~pl.col("has_body")).sum(),
    )
    languages = (
        frame.group_by("trade_date", pl.col("language").fill_null("(missing)"))
        .len()
        .sort(["trade_date", "len", "language"], descending=[False, True, False])
        .group_by("trade_date", maintain_order=True)
        .agg(languages=pl.format("{} {}", "language", "len").str.join(", "))
    )
    per_day = {
        row["trade_date"]: {k: int(v) for k, v in row.items() if k != "trade_date"}
        for row in counts.iter_rows(named=True)
    }
    lines = dict(languages.iter_rows())
    empty = {"bronze_copies": 0, "copies_collapsed": 0, "syndicated_duplicates": 0, "non_english": 0, "empty_body": 0}
    return {day: {**per_day.get(day, empty), "languages": lines.get(day, "none")} for day in sessions}


@trading_day_asset(
    key=ASSET_KEY,
    deps=[
        dg.AssetDep(
            BRONZE_KEY,
            # Up to 24 h of latency plus the 24 h syndication look-back: at most two sessions
            # back, because every ownership window is at least 24 h long. (The first
            # partitions look back to partitions that do not exist: nothing to read.)
            partition_mapping=lookback_mapping(2),
        )
    ],
    check_specs=check_specs(ASSET_KEY, CHECKS),
    description="One row per article_id: available_at (published_at + latency) decides the trade_date; "
    "landed copies collapsed, syndicated near-duplicates and non-English articles flagged.",
)
def news_articles(
    context: dg.AssetExecutionContext, config: NewsArticlesConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    scope = scope_of(context)
    latency = check_latency(config.availability_latency_minutes)
    started = time.perf_counter()
    copies = read_copies(warehouse, scope, latency)
    context.log.info(f"read {copies.height:,} bronze copies for {scope.label} in {time.perf_counter() - started:.2f}s")
    frame = build_news_articles(copies, scope, latency)
    with warehouse.transaction() as tx:
        # One row per article_id across the table: if an article's owning session changed
        # (a new bronze copy won the collapse), its old row elsewhere goes in the same commit.
        tx.conn.register("__silver_news_ids", frame.select("article_id"))
        try:
            tx.execute(
                f"DELETE FROM {TABLE} WHERE article_id IN (SELECT article_id FROM __silver_news_ids)"
            )
        finally:
            tx.conn.unregister("__silver_news_ids")
        tx.replace(TABLE, frame, scope.first, scope.last)
    context.log.info(f"wrote {frame.height:,} rows to {TABLE} {scope.label} in {time.perf_counter() - started:.2f}s")
    checks = run_checks(warehouse, ASSET_KEY, CHECKS, scope, log=context.log)
    metadata = partition_metadata(
        context, frame, scope.sessions, scope.label,
        run_summary={"bronze_copies_read": copies.height, "seconds": round(time.perf_counter() - started, 3)},
        per_partition=summarize_by_session(frame, scope.sessions),
    )
    metadata["availability_latency_minutes"] = dg.MetadataValue.int(config.availability_latency_minutes)
    return materialize_result(context, scope.sessions, metadata, checks)
