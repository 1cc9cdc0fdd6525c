"""`finsig init-instance`: the pools it leaves, per warehouse profile."""

from __future__ import annotations

from finsig_assets import instance_setup
from finsig_assets.instance_setup import DUCKLAKE_WRITERS, open_instance


def pool_limit(dagster_home, pool: str) -> int | None:
    instance = open_instance(dagster_home)
    try:
        return instance.event_log_storage.get_concurrency_info(pool).slot_count
    finally:
        instance.dispose()


def test_the_ducklake_profile_lets_several_steps_write_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FINSIG_WAREHOUSE", "ducklake")
    assert instance_setup.main(["--dagster-home", str(tmp_path / "dagster")]) == 0
    assert pool_limit(tmp_path / "dagster", "duckdb_writer") == DUCKLAKE_WRITERS > 1
    assert f"pool duckdb_writer allows {DUCKLAKE_WRITERS}" in capsys.readouterr().out


def test_the_duckdb_profile_keeps_one_writer_from_the_instance_default(tmp_path, monkeypatch):
    monkeypatch.delenv("FINSIG_WAREHOUSE", raising=False)
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    assert instance_setup.main(["--dagster-home", str(tmp_path / "dagster")]) == 0
    assert "default_limit: 1" in (tmp_path / "dagster" / "dagster.yaml").read_text()
    # No limit of its own: the default_limit of 1 applies when a step first asks for the pool.
    assert pool_limit(tmp_path / "dagster", "duckdb_writer") in (None, 0)
