"""Asset jobs: the whole graph, and the two refresh chains the landing sensor starts."""

from __future__ import annotations

import dagster as dg


finsig_pipeline = dg.define_asset_job(
    "finsig_pipeline",
    selection=dg.AssetSelection.all(),
    description="Every asset, landing files to the latest layer, for the selected sessions.",
)

market_refresh = dg.define_asset_job(
    "market_refresh",
    selection=dg.AssetSelection.assets(dg.AssetKey(["bronze", "market_candles"])).downstream(),
    description="bronze/market_candles and everything downstream of it.",
)

news_refresh = dg.define_asset_job(
    "news_refresh",
    selection=dg.AssetSelection.assets(dg.AssetKey(["bronze", "news_articles"])).downstream(),
    description="bronze/news_articles and everything downstream of it.",
)
