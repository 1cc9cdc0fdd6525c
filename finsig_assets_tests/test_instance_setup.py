"""`finsig init-instance`: the pools it leaves, per warehouse profile."""

from __future__ import annotations

import subprocess
import sys

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


def test_a_new_home_opened_by_several_processes_at_once(tmp_path, monkeypatch):
    """init-instance creates the storage, so the first processes to open the home do not race to
    create it. Seen in CI: a multiprocess run's steps and a second process opening a new home
    together stamped the schedule database twice, and the run failed in alembic ("more than one
    head present"); without init-instance creating it, 6 processes fail this way nearly every time."""
    monkeypatch.delenv("FINSIG_WAREHOUSE", raising=False)
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    home = tmp_path / "dagster"
    assert instance_setup.main(["--dagster-home", str(home)]) == 0
    assert (home / "schedules" / "schedules.db").is_file() and (home / "history" / "runs.db").is_file()
    code = f"from finsig_assets.instance_setup import open_instance; open_instance({str(home)!r}).dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    failures = [err for proc in procs if (err := proc.communicate(timeout=120)[1]) and proc.returncode]
    assert not failures, failures[0][-2000:]
