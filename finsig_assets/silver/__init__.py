"""The silver layer: typed, deduplicated, calendar-aware tables built from bronze."""

from finsig_assets.silver.market_bars import market_bars
from finsig_assets.silver.news_articles import NewsArticlesConfig, news_articles

silver_assets = [market_bars, news_articles]

__all__ = ["NewsArticlesConfig", "market_bars", "news_articles", "silver_assets"]
