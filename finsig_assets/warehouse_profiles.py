"""The warehouse resource each profile binds, keyed by ``FINSIG_WAREHOUSE``: the one switch point.

Every asset, check and sensor takes the ``warehouse`` resource (:class:`finsig_assets.warehouse.Warehouse`)
and writes through its ``transaction()``; which implementation it gets is decided here, once,
when the definitions load -- Dagster's environment-keyed resource set, not a branch in each asset.

- ``duckdb`` (default): one DuckDB file, ``FINSIG_DUCKDB_PATH``; one writing process at a time.
- ``ducklake``: a DuckLake with its catalog in PostgreSQL (``FINSIG_DUCKLAKE_CATALOG``) and its
  Parquet files under ``FINSIG_DUCKLAKE_DATA_PATH``; several workers write at once.
"""

from __future__ import annotations

from collections.abc import Callable

from finsig_assets import settings
from finsig_assets.warehouse import DuckDBWarehouse, Warehouse


def _ducklake() -> Warehouse:
    from finsig_assets.ducklake_warehouse import DuckLakeWarehouse

    return DuckLakeWarehouse()


WAREHOUSES: dict[str, Callable[[], Warehouse]] = {
    "duckdb": DuckDBWarehouse,
    "ducklake": _ducklake,
}


def configured_warehouse(profile: str | None = None) -> Warehouse:
    """The warehouse of ``profile`` (default: ``FINSIG_WAREHOUSE``, else ``duckdb``)."""
    return WAREHOUSES[profile or settings.warehouse_profile()]()
