"""``@trading_day_asset``: ``@dg.asset`` with the conventions every finsig asset shares.

Every asset is partitioned by trading day, backfills as a single run over a range of
partitions (so five years is one run that reads each input once; an asset may pass another
``backfill_policy`` -- :func:`runs_of_at_most` -- where a deployment asks for it: sentiment,
the model fits), is grouped by its layer
(the key's first part), when it writes DuckDB queues on the ``duckdb_writer`` pool, carries the
``latest_session_fresh`` check (:mod:`finsig_assets.checks.session_freshness`) and -- below
bronze -- follows its upstream partitions by itself (:mod:`finsig_assets.automation`).
Writing these once keeps the assets from drifting apart.

What the UI shows of an asset before it ever ran comes from here too: its owners (by layer,
:data:`LAYER_OWNERS`) and the name (*Storage*) and column schema of the table it writes --
``<layer>.<name>`` of its key unless it names another with ``table=`` -- when that table has a
DDL file in ``dbt_like_sql/tables``. And its ``code_version``: a hash of its module and that DDL
(:func:`python_code_version`), so an edit marks it and its dependants stale.
"""

import hashlib
import inspect
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from finsig_assets.automation import follows_upstream
from finsig_assets.checks.session_freshness import check_spec as freshness_check_spec
from finsig_assets.partitions import trading_day_partitions
from finsig_assets.warehouse import DdlError, column_descriptions, ddl_text, table_ddl_path, table_schema

SOURCE_LAYERS = frozenset({"bronze"})
# Who answers for the assets of each layer (Dagster owners: an email or ``team:<name>``). An
# asset may name its own with ``owners=``.
LAYER_OWNERS: dict[str, tuple[str, ...]] = {
    "bronze": ("team:finsig-data",),
    "silver": ("team:finsig-data",),
    "gold": ("team:finsig-data",),
    "ml": ("team:finsig-ml",),
}


def trading_day_asset(
    *,
    key: Sequence[str] | dg.AssetKey,
    pool: str | None = "duckdb_writer",
    kinds: Iterable[str] = ("duckdb", "polars"),
    table: str | None = None,
    **asset_kwargs,
):
    """``table``: the table the asset writes when it is not ``<layer>.<name>`` of its key."""
    asset_key = key if isinstance(key, dg.AssetKey) else dg.AssetKey(list(key))
    layer = asset_key.path[0]
    if layer not in SOURCE_LAYERS:
        asset_kwargs.setdefault("automation_condition", follows_upstream())
    if layer not in LAYER_OWNERS:
        raise ValueError(f"{asset_key.to_user_string()}: the key's first part must be a layer, one of {sorted(LAYER_OWNERS)}")
    asset_kwargs.setdefault("owners", list(LAYER_OWNERS[layer]))
    asset_kwargs["metadata"] = {**table_metadata(table or ".".join(asset_key.path)), **asset_kwargs.get("metadata", {})}
    # Every asset reports whether it holds the latest closed session (evaluated in each run).
    asset_kwargs["check_specs"] = [*asset_kwargs.get("check_specs", []), freshness_check_spec(asset_key)]
    table_name = table or ".".join(asset_key.path)

    def decorate(fn):
        kwargs = dict(asset_kwargs)
        # SQL models pass their own (their SQL and Python post-step); the others: their module and DDL.
        kwargs.setdefault("code_version", python_code_version(fn, table_name))
        with warnings.catch_warnings():  # backfill_policy is "beta" in Dagster 1.13; it is the design
            warnings.simplefilter("ignore", category=dg.BetaWarning)
            return dg.asset(
                key=asset_key,
                partitions_def=trading_day_partitions,
                backfill_policy=kwargs.pop("backfill_policy", None) or dg.BackfillPolicy.single_run(),
                group_name=layer,
                kinds=set(kinds),
                pool=pool,
                **kwargs,
            )(fn)

    return decorate


def python_code_version(fn, table: str) -> str:
    """The asset's ``code_version``: a hash of the module that defines it and of its table's DDL,
    so that changing either marks the asset's materializations -- and everything downstream --
    stale in the UI (Dagster compares code versions)."""
    source = inspect.getsourcefile(fn)
    if source is None:
        raise TypeError(f"{fn!r} has no source file to hash for its code version")
    h = hashlib.sha256(Path(source).read_bytes())
    ddl = table_ddl_path(table)
    if ddl.exists():
        h.update(ddl_text(ddl).encode())
    return h.hexdigest()[:16]


def table_metadata(table: str) -> dict:
    """``dagster/table_name`` and ``dagster/column_schema`` of ``table`` from its DDL in
    ``dbt_like_sql/tables``; nothing when it has none (the asset writes no table of that name)."""
    try:
        columns = table_schema(table)
    except DdlError:
        raise  # a broken directive is an error, not a table without a DDL
    except (FileNotFoundError, ValueError):
        return {}
    described = column_descriptions(table)
    return {
        "dagster/table_name": table,
        # Types spelled as the materializations spell them (materialization_metadata.sql_type).
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, kind.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"), description=described.get(name))
                for name, kind in columns
            ]
        ),
    }


def runs_of_at_most(partitions_per_run: int | None) -> dg.BackfillPolicy:
    """The backfill policy a ``*_PARTITIONS_PER_RUN`` setting asks for: one run over the range
    (``None``), or runs of at most N partitions that workers execute side by side."""
    with warnings.catch_warnings():  # "beta" in Dagster 1.13, like single_run
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        if partitions_per_run is None:
            return dg.BackfillPolicy.single_run()
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=partitions_per_run)
