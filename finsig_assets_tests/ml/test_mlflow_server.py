"""Production MLflow: ``mlflow server`` over PostgreSQL, serving the artifacts it stores.

One partition of ``ml/direction_model`` is trained through a running tracking server, switched
to by configuration only (``MLFLOW_TRACKING_URI=http://127.0.0.1:<port>``, read by the ``mlflow``
resource's default ``tracking_uri``), and the result is then read back with plain HTTP from the
server's REST API: the registered model, its version, the ``champion`` and ``challenger``
aliases. The artifacts must be under the server's ``--artifacts-destination`` and nowhere near
the training process (its working directory, ``FINSIG_HOME``, a local ``mlruns``).

PostgreSQL: ``FINSIG_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``, as
for the production Dagster tests), a maintenance database the test connects to, to create a
fresh database for the server and drop it afterwards. When no server answers there the test is
skipped, saying so.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import mlflow
import mlflow.xgboost
import pytest

from finsig_assets.ml import serving
from finsig_assets.ml.champion_history import CHAMPION, TAG_TRAINED_THROUGH
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets_tests.end_to_end import PROMOTE_EVERY_VERSION
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic, metadata_of, model_for, model_runs, train, stop_server_group

pytestmark = pytest.mark.production

POSTGRES_URL = os.environ.get("FINSIG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_START_TIMEOUT = 90.0
REQUEST_TIMEOUT = 30.0
MLFLOW = Path(sys.executable).with_name("mlflow")  # the project environment's CLI


def _admin():
    import psycopg2

    try:
        conn = psycopg2.connect(POSTGRES_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} (FINSIG_TEST_POSTGRES): {exc}".strip())
    conn.autocommit = True
    return conn


@pytest.fixture
def postgres_db():
    """A fresh, empty database for the server's backend store; dropped afterwards, pass or fail."""
    from psycopg2 import sql

    name = f"finsig_mlflow_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            parts = urllib.parse.urlsplit(POSTGRES_URL)
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the project installs psycopg2.
            yield urllib.parse.urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{name}", parts.query, ""))
        finally:
            with admin.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        admin.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(base: str, path: str, **params) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
        assert response.status == 200, url
        return json.loads(response.read().decode())





@pytest.fixture
def mlflow_server(postgres_db, tmp_path):
    """``mlflow server`` as production runs it: PostgreSQL backend, artifacts served from a local root."""
    artifacts = tmp_path / "server-artifacts"
    server_cwd = tmp_path / "server-cwd"
    artifacts.mkdir()
    server_cwd.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The server's job runner (GenAI scorers) starts several worker processes finsig never uses.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        str(MLFLOW), "server",
        "--backend-store-uri", postgres_db,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "-h", "127.0.0.1", "-p", str(port),
        "-w", "1",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=server_cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        delay = 0.2
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - started > SERVER_START_TIMEOUT:
                pytest.fail(f"mlflow server did not answer /health within {SERVER_START_TIMEOUT:.0f}s:\n{log.read_text()[-4000:]}")
            time.sleep(delay)  # nothing to wait on but the socket: poll with back-off
            delay = min(delay * 1.5, 1.0)
        yield {"url": base, "artifacts": artifacts, "cwd": server_cwd, "log": log, "startup_seconds": time.monotonic() - started}
    finally:
        stop_server_group(proc)


@pytest.fixture
def restore_mlflow_uris():
    """The test points MLflow's process-wide URIs at the server; later tests must not inherit them."""
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def test_a_partition_trained_through_the_tracking_server(mlflow_server, warehouse, tmp_path, monkeypatch, restore_mlflow_uris):
    base = mlflow_server["url"]
    home, client_cwd = tmp_path / "home", tmp_path / "client-cwd"
    client_cwd.mkdir()
    monkeypatch.setenv("FINSIG_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", base)  # the switch, as production sets it
    monkeypatch.chdir(client_cwd)

    tracking = MlflowTracking(experiment_name="finsig-server-test")  # everything else: the defaults
    assert tracking.tracking_uri == base
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=41)
    t0 = time.monotonic()
    result = train(warehouse, tracking, SESSIONS[11], **PROMOTE_EVERY_VERSION)
    train_seconds = time.monotonic() - t0

    run = model_runs(warehouse).row(0, named=True)
    assert run["status"] == "trained" and run["model_version"] == 1 and run["promoted"]
    meta = metadata_of(result)
    assert meta["mlflow_run"].startswith(f"{base}/#/experiments/")  # the server's own UI
    assert meta["mlflow_model_version"] == f"{base}/#/models/{tracking.registered_model_name}/versions/1"

    # The registry, through the server's REST API and nothing else.
    name = tracking.registered_model_name
    registered = _get(base, "/api/2.0/mlflow/registered-models/get", name=name)["registered_model"]
    aliases = {a["alias"]: a["version"] for a in registered.get("aliases", [])}
    assert aliases == {CHAMPION: "1", "challenger": "1"}
    champion = _get(base, "/api/2.0/mlflow/registered-models/alias", name=name, alias=CHAMPION)["model_version"]
    version = _get(base, "/api/2.0/mlflow/model-versions/get", name=name, version="1")["model_version"]
    assert champion["version"] == version["version"] == "1" and champion["run_id"] == run["mlflow_run_id"]
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    assert tags[TAG_TRAINED_THROUGH] == SESSIONS[11].isoformat()
    assert tags["dagster.run_id"] == result.run_id

    # Artifact locations are the server's; the files are under its artifacts destination.
    experiment = _get(base, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="finsig-server-test")["experiment"]
    experiment_id = experiment["experiment_id"]
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    mlrun = _get(base, "/api/2.0/mlflow/runs/get", run_id=run["mlflow_run_id"])["run"]
    assert mlrun["info"]["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{run['mlflow_run_id']}/artifacts"
    assert mlrun["data"]["tags"] and {t["key"]: t["value"] for t in mlrun["data"]["tags"]}["dagster.partition"] == model_for(SESSIONS[11]).isoformat()
    served = mlflow_server["artifacts"]
    run_dir = served / experiment_id / run["mlflow_run_id"] / "artifacts"
    assert {"features.json", "folds.json"} <= {p.name for p in run_dir.iterdir()}
    assert {p.name for p in (run_dir / "plots").iterdir()} == {"feature_importance.png", "calibration.png"}
    storage = _get(base, "/api/2.0/mlflow/model-versions/get-download-uri", name=name, version="1")["artifact_uri"]
    assert storage.startswith(f"mlflow-artifacts:/{experiment_id}/models/"), storage
    assert (served / storage[len("mlflow-artifacts:/") :] / "MLmodel").is_file()
    model_id = version["source"].removeprefix("models:/")
    logged = _get(base, f"/api/2.0/mlflow/logged-models/{model_id}")["model"]["info"]
    assert logged["artifact_uri"] == storage

    # The champion's serving contract and booster come back through the server too.
    holder, columns = serving.champion_columns(tracking)
    assert holder.version == 1 and len(columns) == run["n_features"]
    assert mlflow.xgboost.load_model(f"models:/{name}@{CHAMPION}").num_features() == len(columns)

    # Nothing local: not the working directory, not FINSIG_HOME, no mlruns anywhere.
    assert list(client_cwd.iterdir()) == []
    assert not (home / "mlflow").exists()
    assert list(mlflow_server["cwd"].iterdir()) == []  # not the server's working directory either
    assert [p for p in tmp_path.rglob("*") if p.name in ("mlruns", "mlartifacts")] == []
    print(f"server up in {mlflow_server['startup_seconds']:.1f}s; trained and registered through it in {train_seconds:.1f}s")
