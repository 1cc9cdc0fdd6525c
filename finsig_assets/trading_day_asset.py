"""``@trading_day_asset``: ``@dg.asset`` with the conventions every finsig asset shares.

Every asset is partitioned by trading day, backfills as a single run over a range of
partitions (so five years is one run that reads each input once), is grouped by its layer
(the key's first part), when it writes DuckDB queues on the ``duckdb_writer`` pool, carries the
``latest_session_fresh`` check (:mod:`finsig_assets.checks.session_freshness`) and -- below
bronze -- follows its upstream partitions by itself (:mod:`finsig_assets.automation`).
Writing these once keeps the assets from drifting apart.
"""

import warnings
from collections.abc import Iterable, Sequence

import dagster as dg

from finsig_assets.automation import follows_upstream
from finsig_assets.checks.session_freshness import check_spec as freshness_check_spec
from finsig_assets.partitions import trading_day_partitions

SOURCE_LAYERS = frozenset({"bronze"})


def trading_day_asset(
    *,
    key: Sequence[str] | dg.AssetKey,
    pool: str | None = "duckdb_writer",
    kinds: Iterable[str] = ("duckdb", "polars"),
    **asset_kwargs,
):
    asset_key = key if isinstance(key, dg.AssetKey) else dg.AssetKey(list(key))
    layer = asset_key.path[0]
    if layer not in SOURCE_LAYERS:
        asset_kwargs.setdefault("automation_condition", follows_upstream())
    # Every asset reports whether it holds the latest closed session (evaluated in each run).
    asset_kwargs["check_specs"] = [*asset_kwargs.get("check_specs", []), freshness_check_spec(asset_key)]
    with warnings.catch_warnings():  # backfill_policy is "beta" in Dagster 1.13; it is the design
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.asset(
            key=asset_key,
            partitions_def=trading_day_partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            group_name=layer,
            kinds=set(kinds),
            pool=pool,
            **asset_kwargs,
        )
