"""SQL-shaped models: ``dbt_like_sql/<layer>.<name>.sql`` files turned into Dagster assets.

- :func:`build_sql_assets` builds one asset per model file (not the ``tables/`` DDL files);
  put its result in ``Definitions`` (it already contains :data:`market_features`, as the very
  same object, so listing both is harmless).
- :data:`market_features` is ``gold/market_features`` (``dbt_like_sql/gold.market_features.sql``
  plus the ``recursive_indicators`` post step).

See :mod:`finsig_assets.sql_models.runner` for the header format and how a model runs.
"""

from finsig_assets import settings
from finsig_assets.sql_models import recursive_indicators  # noqa: F401  (registers its post step)
from finsig_assets.sql_models.runner import (
    SqlModel,
    SqlModelError,
    build_sql_asset,
    build_sql_assets,
    compute_sql_model,
    load_sql_model,
    register_post_step,
    run_sql_model,
)

market_features = build_sql_asset(settings.sql_dir() / "gold.market_features.sql")

__all__ = [
    "SqlModel",
    "SqlModelError",
    "build_sql_asset",
    "build_sql_assets",
    "compute_sql_model",
    "load_sql_model",
    "market_features",
    "register_post_step",
    "run_sql_model",
]
