"""``bronze/news_articles``: articles from ``$landing/news/**/*.json`` and ``**/*.ndjson`` batches.

Every landed copy is a row (the same article in several folders gives several rows; silver
dedupes), except that an exact duplicate line inside one batch is one row. The trade date is
the session whose window holds ``published_at``. ``seen_articles.json`` and other JSON objects
that are not articles are skipped and counted (``non_article_files``/``non_article_lines``);
broken articles go to ``bronze.quarantine`` with a reason. Like the candles, a run covers a
range of partitions and replaces that range (rows + the range's news quarantine rows) in one
transaction with the landing-index changes.
"""

# No `from __future__ import annotations` here: Dagster resolves the Config and resource
# parameter annotations of the asset function at decoration time and cannot read strings.
import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.bronze.article_records import PLACED_SCHEMA, ArticleCollector
from finsig_assets.bronze.ingest import BatchParse, Span, collect, commit
from finsig_assets.bronze.landing_index import LandedFile
from finsig_assets.bronze.quarantine import counts_by_kind, quarantine_rows, reason_summary, reasons_markdown
from finsig_assets.bronze.records import UTC_US
from finsig_assets.bronze.rejection_rate_check import (
    BronzeConfig,
    check_spec,
    rejection_rate_result,
    resolve_max_rejection_rate,
)
from finsig_assets.landing_zone import LandingZone
from finsig_assets.materialization_metadata import standard_metadata
from finsig_assets.partition_scope import scope_of
from finsig_assets.warehouse import DuckDBWarehouse, table_columns

ASSET_KEY = ["bronze", "news_articles"]
TABLE = "bronze.news_articles"
DATASET = "news"
TABLE_COLUMNS = table_columns("bronze.news_articles")  # the DDL in dbt_like_sql/tables is the contract


class NewsArticlesConfig(BronzeConfig):
    pass


def parse_news_batch(items: list[tuple[LandedFile, Span | None]], keep) -> BatchParse:
    """Many small files, placed in one vectorised pass."""
    collector = ArticleCollector()
    for landed, span in items:
        collector.add_file(landed.abs_path, span)
    parsed = collector.finish(keep)
    counts = [(c.lines, c.blank_lines, c.duplicate_lines, c.non_article_lines, c.non_article) for c in collector.files]
    return BatchParse(parsed.placed, parsed.unplaceable, parsed.days, counts)


def build_news_articles(
    context: dg.AssetExecutionContext,
    config: NewsArticlesConfig,
    warehouse: DuckDBWarehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    run_at = dt.datetime.now(dt.timezone.utc)
    threshold = resolve_max_rejection_rate(config.max_rejection_rate)

    collected = collect(
        dataset=DATASET,
        warehouse=warehouse,
        landing_root=Path(landing.root),
        scope=scope,
        parse_batch=parse_news_batch,
        placed_schema=PLACED_SCHEMA,
        run_at=run_at,
        log=context.log,
        log_every=config.log_every_files,
    )
    placed = collected.placed
    ok = placed.filter(pl.col("status") == "ok")
    rejected = placed.filter(pl.col("status") == "rejected")
    rows = (
        ok.with_columns(pl.lit(run_at).cast(UTC_US).alias("ingested_at"))
        .select(TABLE_COLUMNS)
        .sort("published_at", "article_id", "source_file", "source_line")
    )
    quarantine = quarantine_rows(DATASET, rejected, run_at)
    write_seconds = commit(warehouse, collected, TABLE, rows, quarantine, scope)

    summary = reason_summary(rejected)
    accepted = ok.height
    n_rejected = rejected.height
    rate = n_rejected / (accepted + n_rejected) if accepted + n_rejected else 0.0
    context.log.info(
        f"bronze/news_articles {scope.label}: {rows.height:,} rows, {n_rejected:,} rejected, "
        f"{collected.counters['non_article_files']:,} non-article files, parse {collected.parse_seconds:.1f}s"
    )
    details = {
        "rows_written": rows.height,
        **collected.counters,
        "accepted_records": accepted,
        "rejected_records": n_rejected,
        "rejection_rate": rate,
        "distinct_articles": int(rows["article_id"].n_unique()) if rows.height else 0,
        "quarantine_rows_written": quarantine.height,
        "parse_seconds": round(collected.parse_seconds, 3),
        "write_seconds": round(write_seconds, 3),
    }
    metadata = standard_metadata(rows.drop("body"), scope.label, details)
    metadata["dagster/column_schema"] = standard_metadata(rows.head(0), scope.label)["dagster/column_schema"]
    metadata["rejected_by_reason"] = dg.MetadataValue.json(counts_by_kind(summary))
    metadata["rejections"] = dg.MetadataValue.md(reasons_markdown(summary))
    metadata["unplaceable_by_reason"] = dg.MetadataValue.json(counts_by_kind(collected.unplaceable_summary))
    check = rejection_rate_result(
        ASSET_KEY, accepted, summary, threshold, scope.label, unplaceable=collected.counters["unplaceable_records"]
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


@trading_day_asset(
    key=ASSET_KEY,
    check_specs=[check_spec(ASSET_KEY)],
    description=(
        "News articles as landed in $FINSIG_LANDING_DIR/news (one per .json file, or per line of .ndjson "
        "batches), every copy kept, with file/line lineage. Broken articles go to bronze.quarantine."
    ),
)
def news_articles(
    context: dg.AssetExecutionContext,
    config: NewsArticlesConfig,
    warehouse: DuckDBWarehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    return build_news_articles(context, config, warehouse, landing)
