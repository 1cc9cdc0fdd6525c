"""``bronze/news_articles``: articles from ``$landing/news/**/*.json`` and ``**/*.ndjson`` batches.

Every landed copy is a row (the same article in several folders gives several rows; silver
collapses them), except that an exact duplicate line inside one batch is one row, and that a
copy whose headline or body differs from the copy silver keeps is superseded: it goes to
``bronze.quarantine`` naming the kept copy (``article_dedup``), counted, not rejected. The trade date is
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

from finsig_assets.materialization_metadata import materialize_result
from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.bronze.article_records import PLACED_SCHEMA, ArticleCollector
from finsig_assets.bronze.article_dedup import dedup_articles
from finsig_assets.bronze.ingest import BatchParse, Span, collect, commit
from finsig_assets.bronze.quarantine import quarantine_rows, reason_summary
from finsig_assets.bronze.records import UTC_US
from finsig_assets.bronze.rejection_rate_check import (
    BronzeConfig,
    check_spec,
    rejection_rate_result,
    resolve_max_rejection_rate,
)
from finsig_assets.bronze.run_metadata import bronze_metadata, per_session_counts, rate
from finsig_assets.landing_files import LandedFile, LandingReadError
from finsig_assets.landing_zone import LandingZone
from finsig_assets.partition_scope import scope_of
from finsig_assets.warehouse import Warehouse, table_columns

ASSET_KEY = ["bronze", "news_articles"]
TABLE = "bronze.news_articles"
DATASET = "news"
TABLE_COLUMNS = table_columns("bronze.news_articles")  # the DDL in dbt_like_sql/tables is the contract


class NewsArticlesConfig(BronzeConfig):
    pass


def parse_news_batch(items: list[tuple[LandedFile, Span | None]], keep) -> BatchParse:
    """Many small files, placed in one vectorised pass. A file that cannot be read is reported
    in ``failures``; the others are unaffected."""
    collector = ArticleCollector()
    failures: dict[int, LandingReadError] = {}
    for i, (landed, span) in enumerate(items):
        try:
            collector.add_file(landed.abs_path, span, rel=landed.path)
        except LandingReadError as err:
            collector.add_failed()
            failures[i] = err
    parsed = collector.finish(keep)
    counts = [(c.lines, c.blank_lines, c.duplicate_lines, c.non_article_lines, c.non_article) for c in collector.files]
    digests = [c.digest for c in collector.files]
    return BatchParse(parsed.placed, parsed.unplaceable, parsed.days, counts, digests, failures)


def build_news_articles(
    context: dg.AssetExecutionContext,
    config: NewsArticlesConfig,
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    scope = scope_of(context)
    run_at = dt.datetime.now(dt.timezone.utc)
    threshold = resolve_max_rejection_rate(config.max_rejection_rate)
    root = Path(landing.root)

    collected = collect(
        dataset=DATASET,
        warehouse=warehouse,
        landing_root=root,
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
    dedup = dedup_articles(ok, landing_root=root)
    rows = (
        dedup.kept.with_columns(pl.lit(run_at).cast(UTC_US).alias("ingested_at"))
        .select(TABLE_COLUMNS)
        .sort("published_at", "article_id", "source_file", "source_line")
    )
    quarantine = pl.concat([quarantine_rows(DATASET, rejected, run_at), quarantine_rows(DATASET, dedup.losers, run_at)])
    write_seconds = commit(warehouse, collected, TABLE, rows, quarantine, scope, run_at)

    summary = reason_summary(rejected)
    counted = reason_summary(pl.concat([rejected.select("kind", "reason"), collected.counted_rejections()]))
    accepted = ok.height
    n_rejected = rejected.height
    unplaceable = collected.counters["unplaceable_records"]
    files_not_read = len(collected.skipped)
    check = rejection_rate_result(
        ASSET_KEY, accepted, counted, threshold, scope.label,
        placed_rejected=n_rejected, unplaceable=unplaceable, files_not_read=files_not_read,
    )
    context.log.info(
        f"bronze/news_articles {scope.label}: {rows.height:,} rows, {n_rejected:,} rejected, "
        f"{unplaceable:,} unplaceable, {files_not_read:,} file(s) not read, "
        f"{dedup.superseded_copies:,} conflicting copies superseded, "
        f"{collected.counters['non_article_files']:,} non-article files, parse {collected.parse_seconds:.1f}s"
    )

    problems = collected.file_problems.filter(pl.col("trade_date").is_not_null())
    per_partition = per_session_counts(
        scope.sessions,
        rows_written=rows,
        accepted_records=ok,
        rejected_records=rejected,
        superseded_copies=dedup.losers,
        files_not_read=problems,
    )
    distinct = dict(rows.group_by("trade_date").agg(pl.col("article_id").n_unique()).iter_rows()) if rows.height else {}
    for day, counts in per_partition.items():
        counts["distinct_articles"] = int(distinct.get(day, 0))
        counts["rejection_rate"] = rate(counts["rejected_records"], counts["accepted_records"])
        counts["quarantine_rows_written"] = counts["rejected_records"] + counts["superseded_copies"] + counts["files_not_read"]
    run_summary = {
        **collected.counters,
        "accepted_records": accepted,
        "rejected_records": n_rejected,
        "rejection_rate": rate(n_rejected + unplaceable + files_not_read, accepted),
        "distinct_articles": int(rows["article_id"].n_unique()) if rows.height else 0,
        "identical_copies": dedup.identical_copies,
        "superseded_copies": dedup.superseded_copies,
        "quarantine_rows_written": quarantine.height + collected.file_problems.height,
        "parse_seconds": round(collected.parse_seconds, 3),
        "write_seconds": round(write_seconds, 3),
    }
    metadata = bronze_metadata(
        context, rows, scope, collected,
        per_partition=per_partition, run_summary=run_summary, placed_summary=summary, counted_summary=counted,
        preview=rows.drop("body"),
    )
    return materialize_result(context, scope.sessions, metadata, [check])


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
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    return build_news_articles(context, config, warehouse, landing)
