"""A ``dbt_like_sql/`` of a test's own: the real table DDL plus one extra table, as FINSIG_SQL_DIR."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from finsig_assets import settings


def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, ddl: str) -> Path:
    """Copy the project's table DDL, add ``table``'s ``ddl`` and point FINSIG_SQL_DIR at the copy;
    the test writes its model file into the returned folder."""
    root = tmp_path / "dbt_like_sql"
    shutil.copytree(settings.sql_dir() / "tables", root / "tables")
    (root / "tables" / f"{table}.sql").write_text(ddl)
    monkeypatch.setenv("FINSIG_SQL_DIR", str(root))
    return root
