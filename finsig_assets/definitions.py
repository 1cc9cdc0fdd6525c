"""The one place finsig's Dagster definitions are assembled (code location `finsig`).

Resources come from the environment with defaults that make a fresh checkout work
(``finsig_assets/settings.py``): ``warehouse`` (a DuckDB file, or a DuckLake with ``FINSIG_WAREHOUSE=ducklake``), ``landing`` (raw files),
``sentiment`` (FinBERT or the lexicon fallback, by ``FINSIG_SENTIMENT_BACKEND``) and
``mlflow`` (tracking URI and registry).

What runs by itself, and why it is on by default (``make ui`` shows a live system):

- ``landing_sensor`` ingests new, changed and deleted landing files into bronze;
- ``default_automation_condition_sensor`` evaluates the assets' automation conditions, so every
  layer below bronze follows its upstream partitions (``finsig_assets/automation.py``);
- ``freshness_sensor`` reports ``latest_session_fresh`` on every asset once each session's deadline
  has passed, without a run (every run of an asset evaluates it too);
- ``dead_run_cleanup`` stops the step processes a run left orphaned when its worker process died
  (:mod:`finsig_assets.run_worker_health`);
- ``session_close_schedule`` (off by default) requests the whole graph for each session at
  17:15 New York, for deployments whose files arrive in bulk.
"""

import dagster as dg

from finsig_assets.bronze import bronze_assets
from finsig_assets.checks.session_freshness import freshness_sensor
from finsig_assets.jobs import finsig_pipeline
from finsig_assets.landing_zone import LandingZone
from finsig_assets.ml import MlflowTracking, ml_assets, ml_training_job
from finsig_assets.run_worker_executor import finsig_executor
from finsig_assets.schedules import session_close_schedule
from finsig_assets.sensors import dead_run_cleanup, landing_sensor
from finsig_assets.sentiment import SentimentResource, sentiment_assets
from finsig_assets.silver import silver_assets
from finsig_assets.sql_models import build_sql_assets
from finsig_assets.warehouse_profiles import configured_warehouse

automation_sensor = dg.AutomationConditionSensorDefinition(
    "default_automation_condition_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Evaluates the automation conditions: every layer below bronze follows the partitions its upstream "
    "updated (one run per session, or a backfill honouring the single-run policies for several sessions).",
)

defs = dg.Definitions(
    assets=[*bronze_assets, *silver_assets, *sentiment_assets, *build_sql_assets(), *ml_assets],
    jobs=[finsig_pipeline, ml_training_job],
    sensors=[landing_sensor, automation_sensor, freshness_sensor, dead_run_cleanup],
    schedules=[session_close_schedule],
    # Dagster's in-process (default) or multiprocess executor, recording each run's worker process
    # for run monitoring (FINSIG_EXECUTOR; finsig_assets/run_worker_executor.py says why in-process).
    executor=finsig_executor,
    resources={
        # The DuckDB file, or a DuckLake on PostgreSQL (FINSIG_WAREHOUSE; finsig_assets/warehouse_profiles.py).
        "warehouse": configured_warehouse(),
        "landing": LandingZone(),
        "sentiment": SentimentResource(),
        "mlflow": MlflowTracking(),
    },
)
