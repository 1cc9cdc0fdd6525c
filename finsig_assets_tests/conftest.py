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
from pathlib import Path

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


# The longest test files first, so that `pytest -n 2 --dist loadfile --no-loadscope-reorder`
# (make test) runs them on both workers from the start while the short files fill in around them,
# instead of one worker idling while the other finishes a long file at the end. Seconds each is
# expected to take in `make test` on 2 cores (measured 2026-12-07 with these files alone on two
# workers, CPU-bound ones scaled by what the full suite adds); only the order matters.
LONGEST_FIRST = {
    "integration/test_daemon_backfill.py": 300,
    "integration/test_production_profile.py": 185,
    "integration/test_celery_workers.py": 170,
    "test_end_to_end_learning.py": 140,
    "integration/test_ducklake_profile.py": 110,
    "ml/test_mlflow_server.py": 60,
    "integration/test_ui_browser.py": 50,
    "integration/test_crashed_run.py": 30,
}


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent

    def expected_seconds(item) -> int:
        try:
            relative = Path(str(item.path)).relative_to(root).as_posix()
        except ValueError:
            return 0
        return LONGEST_FIRST.get(relative, 0)

    items.sort(key=lambda item: -expected_seconds(item))  # stable: the rest keep their order
