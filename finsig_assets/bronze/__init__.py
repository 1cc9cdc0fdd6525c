"""The bronze layer: landed market candles and news articles, as they landed, with lineage.

Assets (both partitioned by trading day, single-run backfills, pool ``duckdb_writer``):

* ``market_candles`` — key ``bronze/market_candles``, table ``bronze.market_candles``;
* ``news_articles`` — key ``bronze/news_articles``, table ``bronze.news_articles``.

Each carries its ``rejection_rate`` asset check as a ``check_spec``. Rejected records land in ``bronze.quarantine``; the landing-file index lives in
``meta.landing_files`` and ``meta.landing_file_days``.

Modules: ``records`` (shared parsing helpers), ``candle_records`` / ``article_records`` (parse
and validate), ``candle_dedup`` / ``article_dedup`` (the duplicate rules), ``landing_index``
(the index; what a landing file is comes from ``finsig_assets.landing_files``, shared with the
landing sensor), ``ingest`` (refresh index -> parse -> one-transaction commit; files that
cannot be read become quarantine rows, never a failed run), ``quarantine``,
``rejection_rate_check`` (config + check), ``run_metadata`` (per-partition and run metadata),
and the two asset modules.
"""

from finsig_assets.bronze.market_candles import MarketCandlesConfig, market_candles
from finsig_assets.bronze.news_articles import NewsArticlesConfig, news_articles

bronze_assets = [market_candles, news_articles]

__all__ = [
    "MarketCandlesConfig",
    "NewsArticlesConfig",
    "bronze_assets",
    "market_candles",
    "news_articles",
]
