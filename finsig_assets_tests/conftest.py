"""Shared fixtures: a throwaway warehouse and landing zone per test."""

from __future__ import annotations

import os

import pytest

from finsig_assets.landing_zone import LandingZone
from finsig_assets.warehouse import DuckDBWarehouse


@pytest.fixture(autouse=True, scope="session")
def _landing_files_settle_at_once():
    """Tests write landing files and read them at once: no settle wait (the default is 10 s,
    per bronze run). Session-scoped, so module-scoped fixtures that materialize get it too. A
    test of the wait sets FINSIG_LANDING_SETTLE_SECONDS itself (monkeypatch); a value already
    in the environment is kept."""
    with pytest.MonkeyPatch.context() as patch:
        if "FINSIG_LANDING_SETTLE_SECONDS" not in os.environ:
            patch.setenv("FINSIG_LANDING_SETTLE_SECONDS", "0")
        yield


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=60)


@pytest.fixture
def landing(tmp_path) -> LandingZone:
    root = tmp_path / "landing"
    (root / "market").mkdir(parents=True)
    (root / "news").mkdir(parents=True)
    return LandingZone(root=str(root))
