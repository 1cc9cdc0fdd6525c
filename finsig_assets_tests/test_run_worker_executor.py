"""finsig's executor: Dagster's in-process or multiprocess executor, chosen per run or by FINSIG_EXECUTOR."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from finsig_assets import settings
from finsig_assets.run_worker_executor import finsig_executor
from finsig_assets.run_worker_health import WORKER_TAG


@dg.asset
def where_it_ran() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


def one_job() -> dg.JobDefinition:
    job = dg.define_asset_job("one", selection=[where_it_ran], executor_def=finsig_executor)
    return dg.Definitions(assets=[where_it_ran], jobs=[job]).resolve_job_def("one")


def run(executor_config: dict | None) -> tuple[dg.DagsterRun, int]:
    """The job through its own executor (``execute_in_process`` would bypass it)."""
    run_config = {"execution": {"config": executor_config}} if executor_config is not None else {}
    with dg.instance_for_test() as instance:
        with dg.execute_job(dg.reconstructable(one_job), instance=instance, run_config=run_config) as result:
            assert result.success
            pid = result.asset_materializations_for_node("where_it_ran")[0].metadata["pid"].value
        return instance.get_run_by_id(result.run_id), pid


def test_steps_run_in_the_runs_process_by_default():
    assert settings.executor() == "in_process"
    assert finsig_executor.config_schema.as_field().default_value == {"in_process": {}}
    dagster_run, pid = run(None)
    assert pid == os.getpid()
    assert WORKER_TAG in dagster_run.tags  # the run worker is recorded, as with multiprocess


def test_the_setting_chooses_the_default_and_a_bad_value_says_what_is_accepted(monkeypatch):
    monkeypatch.setenv("FINSIG_EXECUTOR", "multiprocess")
    assert settings.executor() == "multiprocess"
    monkeypatch.setenv("FINSIG_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="FINSIG_EXECUTOR='threads': expected one of in_process, multiprocess"):
        settings.executor()


def test_a_run_can_still_choose_a_process_per_step():
    dagster_run, pid = run({"multiprocess": {}})
    assert pid != os.getpid()
    assert WORKER_TAG in dagster_run.tags
