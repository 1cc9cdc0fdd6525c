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
from pathlib import Path

import dagster as dg
import polars as pl

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets.bronze.article_records import PLACED_SCHEMA, ArticleCollector
from finsig_assets.bronze.article_dedup import dedup_articles
from finsig_assets.bronze.bronze_build import BronzeDataset, Deduplicated, build_bronze
from finsig_assets.bronze.ingest import BatchParse, Collected, FileCounts, Span
from finsig_assets.bronze.rejection_rate_check import BronzeConfig, check_spec
from finsig_assets.landing_files import LandedFile, LandingReadError
from finsig_assets.landing_zone import LandingZone
from finsig_assets.warehouse import Warehouse

ASSET_KEY = ["bronze", "news_articles"]
TABLE = "bronze.news_articles"
DATASET = "news"


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
    counts = [FileCounts(c.lines, c.blank_lines, c.duplicate_lines, c.non_article_lines, bool(c.non_article)) for c in collector.files]
    digests = [c.digest for c in collector.files]
    return BatchParse(parsed.placed, parsed.unplaceable, parsed.days, counts, digests, failures)


def _deduplicate_articles(ok: pl.DataFrame, collected: Collected, root: Path) -> Deduplicated:
    """Every copy kept but the superseded ones (``article_dedup``), which go to quarantine."""
    dedup = dedup_articles(ok, landing_root=root)
    kept = dedup.kept
    return Deduplicated(
        kept=kept,
        losers=dedup.losers,
        losers_name="superseded_copies",
        run_counts={
            "distinct_articles": int(kept["article_id"].n_unique()) if kept.height else 0,
            "identical_copies": dedup.identical_copies,
            "superseded_copies": dedup.superseded_copies,
        },
        log=(
            f"{dedup.superseded_copies:,} conflicting copies superseded, "
            f"{collected.counters['non_article_files']:,} non-article files"
        ),
    )


def _distinct_articles(per_partition: dict, rows: pl.DataFrame) -> None:
    distinct = dict(rows.group_by("trade_date").agg(pl.col("article_id").n_unique()).iter_rows()) if rows.height else {}
    for day, counts in per_partition.items():
        counts["distinct_articles"] = int(distinct.get(day, 0))


NEWS = BronzeDataset(
    dataset=DATASET,
    asset_key=ASSET_KEY,
    table=TABLE,
    sort_by=("published_at", "article_id", "source_file", "source_line"),
    placed_schema=PLACED_SCHEMA,
    deduplicate=_deduplicate_articles,
    partition_counts=_distinct_articles,
    preview=lambda rows: rows.drop("body"),
)


def build_news_articles(
    context: dg.AssetExecutionContext,
    config: NewsArticlesConfig,
    warehouse: Warehouse,
    landing: LandingZone,
) -> dg.MaterializeResult:
    return build_bronze(
        context, NEWS, parse_news_batch, warehouse, landing, config.max_rejection_rate, config.log_every_files
    )


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
