"""The one place finsig's Dagster definitions are assembled (code location `finsig`)."""

from __future__ import annotations

import dagster as dg

from finsig_assets.bronze import bronze_assets
from finsig_assets.jobs import finsig_pipeline, market_refresh, news_refresh
from finsig_assets.landing_zone import LandingZone
from finsig_assets.sensors import landing_sensor
from finsig_assets.silver import silver_assets
from finsig_assets.sql_models import build_sql_assets
from finsig_assets.warehouse import DuckDBWarehouse

defs = dg.Definitions(
    assets=[*bronze_assets, *silver_assets, *build_sql_assets()],
    jobs=[finsig_pipeline, market_refresh, news_refresh],
    sensors=[landing_sensor],
    resources={
        "warehouse": DuckDBWarehouse(),
        "landing": LandingZone(),
    },
)
