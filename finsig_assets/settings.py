"""Where finsig keeps its files, from the environment (DESIGN.md's configuration contract).

Every default hangs off ``FINSIG_HOME`` so that a fresh checkout works with no set-up and a
deployment moves everything by setting one variable.
"""

from __future__ import annotations

import os
from pathlib import Path


def finsig_home() -> Path:
    return Path(os.environ.get("FINSIG_HOME", "./.finsig")).resolve()


def landing_dir() -> Path:
    return Path(os.environ.get("FINSIG_LANDING_DIR", str(finsig_home() / "landing"))).resolve()


def duckdb_path() -> Path:
    return Path(os.environ.get("FINSIG_DUCKDB_PATH", str(finsig_home() / "warehouse.duckdb"))).resolve()


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", str(finsig_home() / "dagster"))).resolve()


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{finsig_home() / 'mlflow' / 'mlflow.db'}")


def partitions_start() -> str:
    return os.environ.get("FINSIG_PARTITIONS_START", "2020-01-02")


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def sql_dir() -> Path:
    """``dbt_like_sql/`` beside the package; ``FINSIG_SQL_DIR`` overrides it for installed copies."""
    return Path(os.environ.get("FINSIG_SQL_DIR", str(repo_root() / "dbt_like_sql"))).resolve()
