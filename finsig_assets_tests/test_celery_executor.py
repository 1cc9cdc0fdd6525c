"""The ``celery`` executor and the workers' app, without a broker (``integration/test_celery_workers.py`` runs them).

- ``FINSIG_EXECUTOR=celery`` selects dagster-celery's executor, still recording the run worker; its
  broker, results backend and queue prefix come from finsig's settings unless the run config says
  otherwise, and dagster-celery's loop finds what it reads of ``plan_context.executor``
  (``app_args()``) through the recording wrapper;
- only ``silver/news_sentiment`` names a queue (``gpu``): every other step goes to ``dagster``;
- the workers' app module imports neither the code location nor polars, and starts no thread:
  the worker forks its pool processes after importing it, and a fork taken while polars' threads
  run hangs the child (seen: ``bronze/market_candles`` stuck on a futex).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from finsig_assets import settings
from finsig_assets.run_worker_executor import (
    FinsigCeleryExecutor,
    WorkerRecordingExecutor,
    celery_executor_from_config,
    finsig_executor,
)

QUEUE_TAG = "dagster-celery/queue"


def test_the_setting_selects_celery_with_the_broker_and_queue_prefix_of_the_settings(monkeypatch):
    monkeypatch.setenv("FINSIG_EXECUTOR", "celery")
    assert settings.executor() == "celery"
    for name in ("FINSIG_CELERY_BROKER", "FINSIG_CELERY_BACKEND", "FINSIG_CELERY_QUEUE_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    default = celery_executor_from_config({"retries": {"enabled": {}}})
    assert (default.broker, default.backend, default.queue_prefix) == ("pyamqp://guest:guest@127.0.0.1:5672//", "rpc://", "")

    monkeypatch.setenv("FINSIG_CELERY_BROKER", "pyamqp://finsig:secret@broker:5672/finsig")
    monkeypatch.setenv("FINSIG_CELERY_QUEUE_PREFIX", "staging-")
    configured = celery_executor_from_config({"retries": {"enabled": {}}})
    assert isinstance(configured, FinsigCeleryExecutor)
    assert (configured.broker, configured.queue_prefix) == ("pyamqp://finsig:secret@broker:5672/finsig", "staging-")
    # The run config wins over the settings.
    run = celery_executor_from_config({"broker": "pyamqp://other//", "queue_prefix": "", "retries": {"disabled": {}}})
    assert (run.broker, run.queue_prefix) == ("pyamqp://other//", "")

    # dagster-celery's loop reads plan_context.executor.app_args(): the recording wrapper hands it over.
    recording = WorkerRecordingExecutor(configured)
    assert recording.app_args()["broker"] == "pyamqp://finsig:secret@broker:5672/finsig"
    assert recording.retries is configured.retries


def test_celery_is_in_the_selector_and_named_on_a_bad_value(monkeypatch):
    fields = finsig_executor.config_schema.as_field().config_type.fields
    assert set(fields) == {"in_process", "multiprocess", "celery"}
    assert {"broker", "backend", "queue_prefix", "config_source", "retries"} <= set(fields["celery"].config_type.fields)
    monkeypatch.setenv("FINSIG_EXECUTOR", "ray")
    with pytest.raises(ValueError, match="FINSIG_EXECUTOR='ray': expected one of in_process, multiprocess, celery"):
        settings.executor()


def test_only_the_sentiment_step_names_a_queue_the_gpu_queue():
    from finsig_assets.definitions import defs

    queues = {
        node.key.to_user_string(): node.assets_def.op.tags.get(QUEUE_TAG)
        for node in defs.resolve_asset_graph().asset_nodes
        if node.is_executable
    }
    assert {k: q for k, q in queues.items() if q} == {"silver/news_sentiment": "gpu"}


PROBE = """
import json, sys, threading
import finsig_assets.celery_workers as w
print(json.dumps({
    "tasks": sorted(t for t in w.app.tasks if not t.startswith("celery.")),
    "broker": w.app.conf.broker_url,
    "backend": w.app.conf.result_backend,
    "definitions": "finsig_assets.definitions" in sys.modules,
    "polars": "polars" in sys.modules,
    "threads": threading.active_count(),
}))
"""


def test_the_workers_app_runs_dagster_celerys_task_and_imports_nothing_before_the_fork(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "FINSIG_HOME": str(tmp_path), "FINSIG_CELERY_BROKER": "pyamqp://guest:guest@broker:5672/x"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    app = json.loads(out.stdout.strip().splitlines()[-1])
    assert "execute_plan" in app["tasks"]
    assert app["broker"] == "pyamqp://guest:guest@broker:5672/x" and app["backend"] == "rpc://"
    assert not app["definitions"] and not app["polars"] and app["threads"] == 1, app
