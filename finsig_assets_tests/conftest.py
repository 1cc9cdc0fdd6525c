"""Shared set-up: an isolated finsig home for the whole session, a throwaway warehouse and
landing zone per test.

The environment is set here, at import -- before any test module imports the package -- because
settings are read when modules load (the partitions' first key comes from
``FINSIG_PARTITIONS_START``): a developer's ``$FINSIG_HOME/finsig.env`` (``make demo`` writes one)
or exported ``FINSIG_*`` variables must not change what the tests see.
"""

from __future__ import annotations

import os
import tempfile

# FINSIG_TEST_* configure the tests themselves (e.g. FINSIG_TEST_POSTGRES, FINSIG_TEST_ARTIFACTS).
for _name in [n for n in os.environ if (n.startswith(("FINSIG_", "MLFLOW_")) and not n.startswith("FINSIG_TEST_")) or n == "DAGSTER_HOME"]:
    del os.environ[_name]
os.environ["FINSIG_HOME"] = tempfile.mkdtemp(prefix="finsig-tests-home-")
# Tests write landing files and read them at once: no settle wait (the default is 10 s per
# bronze run). A test of the wait sets FINSIG_LANDING_SETTLE_SECONDS itself (monkeypatch).
os.environ["FINSIG_LANDING_SETTLE_SECONDS"] = "0"

import pytest  # noqa: E402

from finsig_assets.landing_zone import LandingZone  # noqa: E402
from finsig_assets.warehouse import DuckDBWarehouse  # noqa: E402


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=60)


@pytest.fixture
def landing(tmp_path) -> LandingZone:
    root = tmp_path / "landing"
    (root / "market").mkdir(parents=True)
    (root / "news").mkdir(parents=True)
    return LandingZone(root=str(root))
