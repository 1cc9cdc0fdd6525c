"""The one place finsig's Dagster definitions are assembled (code location `finsig`).

Resources come from the environment with defaults that make a fresh checkout work
(``finsig_assets/settings.py``): ``warehouse`` (DuckDB), ``landing`` (raw files),
``sentiment`` (FinBERT or the lexicon fallback, by ``FINSIG_SENTIMENT_BACKEND``) and
``mlflow`` (tracking URI and registry).
"""

import dagster as dg

from finsig_assets.bronze import bronze_assets
from finsig_assets.jobs import finsig_pipeline, market_refresh, news_refresh
from finsig_assets.landing_zone import LandingZone
from finsig_assets.ml import MlflowTracking, ml_assets, ml_training_job
from finsig_assets.sensors import landing_sensor
from finsig_assets.sentiment import SentimentResource, sentiment_assets
from finsig_assets.silver import silver_assets
from finsig_assets.sql_models import build_sql_assets
from finsig_assets.warehouse import DuckDBWarehouse

defs = dg.Definitions(
    assets=[*bronze_assets, *silver_assets, *sentiment_assets, *build_sql_assets(), *ml_assets],
    jobs=[finsig_pipeline, market_refresh, news_refresh, ml_training_job],
    sensors=[landing_sensor],
    resources={
        "warehouse": DuckDBWarehouse(),
        "landing": LandingZone(),
        "sentiment": SentimentResource(),
        "mlflow": MlflowTracking(),
    },
)
