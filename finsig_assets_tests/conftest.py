"""Shared fixtures: a throwaway warehouse and landing zone per test."""

from __future__ import annotations

import pytest

from finsig_assets.landing_zone import LandingZone
from finsig_assets.warehouse import DuckDBWarehouse


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=60)


@pytest.fixture
def landing(tmp_path) -> LandingZone:
    root = tmp_path / "landing"
    (root / "market").mkdir(parents=True)
    (root / "news").mkdir(parents=True)
    return LandingZone(root=str(root))
