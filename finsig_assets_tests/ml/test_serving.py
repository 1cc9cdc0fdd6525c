"""Serving the champion through MLflow's own scoring server (`make serve`), and the request
body `finsig serving-example` builds for it from real bars."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pytest

from finsig_assets.ml import serving
from finsig_assets.ml.champion_history import CHAMPION, TAG_PROMOTED
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.predictions import predictions
from finsig_assets.ml.training_table import discover_features
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic, materialize, train, stop_server_group

SERVER_START_TIMEOUT = 180.0  # a cold `mlflow models serve` imports MLflow twice; the box is shared
REQUEST_TIMEOUT = 60.0


def make_champion(tracking, version: int) -> None:
    """Crown ``version`` directly: the promotion rules are not what these tests are about."""
    client = tracking.client()
    name = tracking.registered_model_name
    client.set_model_version_tag(name, str(version), TAG_PROMOTED, "true")
    client.set_registered_model_alias(name, CHAMPION, str(version))


@pytest.fixture(scope="module")
def served_store(tmp_path_factory, mlflow_template):
    """v1 trained through SESSIONS[11] and crowned; ml/predictions has scored SESSIONS[12] with it.

    One store for the module (the tests only read it): training is most of this file's time.

    SESSIONS[12] has missing features, as real bars do (no article yet, a warm-up): one column
    is NULL in every bar, another in every other bar, so the body carries nulls -- a whole
    column of them too -- and the server must read them as XGBoost's missing value, as
    ml/predictions does.
    """
    root = tmp_path_factory.mktemp("served")
    warehouse = DuckDBWarehouse(database=str(root / "warehouse.duckdb"), lock_timeout_seconds=60)
    db = root / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(mlflow_template, db)
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{db}", experiment_name="finsig-test", ui_url=None)
    insert_synthetic(warehouse, SESSIONS[:13], news_effect=0.6, seed=21)
    features = discover_features(warehouse)
    all_null, some_null = features.market[0], features.news[-1]
    with warehouse.connection() as conn:
        conn.execute(f'UPDATE gold.training_examples SET "{all_null}" = NULL WHERE trade_date = ?', [SESSIONS[12]])
        conn.execute(
            f'UPDATE gold.training_examples SET "{some_null}" = NULL WHERE trade_date = ? AND minute(ts) % 2 = 0',
            [SESSIONS[12]],
        )
    train(warehouse, tracking, SESSIONS[11])
    make_champion(tracking, 1)
    materialize([predictions], warehouse, tracking, SESSIONS[12])
    return warehouse, tracking


def test_body_has_the_signature_columns_and_the_stored_p_up(served_store):
    warehouse, tracking = served_store
    example = serving.serving_example(warehouse, tracking, rows=4)

    tracking.activate()
    info = mlflow.models.get_model_info(f"models:/{tracking.registered_model_name}@{CHAMPION}")
    assert example.columns == info.signature.inputs.input_names()
    assert example.champion.version == 1
    assert example.session == SESSIONS[12]  # the latest session with bars
    body = example.body()
    assert list(body) == ["dataframe_split"]
    assert body["dataframe_split"]["columns"] == example.columns
    assert len(body["dataframe_split"]["data"]) == 4
    assert all(len(row) == len(example.columns) for row in body["dataframe_split"]["data"])
    json.dumps(body, allow_nan=False)  # NULL -> null, never NaN
    rows = body["dataframe_split"]["data"]
    assert all(row[0] is None for row in rows)  # the all-NULL column
    assert 0 < sum(row.count(None) for row in rows) < 4 * len(example.columns)

    stored = warehouse.query(
        "SELECT ts, p_up, model_version FROM ml.predictions WHERE trade_date = ? ORDER BY ts DESC LIMIT 4", [SESSIONS[12]]
    ).reverse()
    assert [b.ts for b in example.bars] == stored["ts"].to_list()  # the session's last bars, oldest first
    assert [b.stored_p_up for b in example.bars] == stored["p_up"].to_list()
    assert {b.stored_version for b in example.bars} == {1}

    earlier = serving.serving_example(warehouse, tracking, session=SESSIONS[5], rows=2)
    assert earlier.session == SESSIONS[5] and len(earlier.bars) == 2
    assert {b.stored_p_up for b in earlier.bars} == {None}  # nothing was predicted for it


def test_cli_prints_the_body_on_stdout_and_the_bars_on_stderr(served_store, capsys):
    warehouse, tracking = served_store
    rc = serving.main(["--rows", "2", "--database", warehouse.database, "--tracking-uri", tracking.tracking_uri])
    out, err = capsys.readouterr()
    assert rc == 0, err
    body = json.loads(out)
    assert len(body["dataframe_split"]["data"]) == 2
    assert f"{tracking.registered_model_name} v1" in err
    assert err.count(" p_up 0.") == 2 and "(v1)" in err


def test_no_champion_is_a_clear_error(warehouse, tracking, capsys):
    insert_synthetic(warehouse, SESSIONS[:2], seed=22)
    rc = serving.main(["--database", warehouse.database, "--tracking-uri", tracking.tracking_uri])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert "no version with the 'champion' alias" in err and "make demo" in err and "ml/direction_model" in err

    missing = Path(tracking.tracking_uri[len("sqlite:///") :]).parent / "nowhere.db"
    rc = serving.main(["--database", warehouse.database, "--tracking-uri", f"sqlite:///{missing}"])
    assert rc == 1 and "no MLflow store at" in capsys.readouterr().err
    assert not missing.exists()  # looking did not create an empty store


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict | str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def _wait_until_up(proc: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    delay = 0.2
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if _http("GET", f"{base}/ping")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"mlflow models serve did not answer /ping within {SERVER_START_TIMEOUT:.0f}s:\n{log.read_text()[-4000:]}")
        time.sleep(delay)  # nothing to wait on but the socket: poll with back-off
        delay = min(delay * 1.5, 2.0)





def test_mlflow_scoring_server_returns_the_stored_p_up(served_store, tmp_path):
    warehouse, tracking = served_store
    example = serving.serving_example(warehouse, tracking, rows=5)
    assert all(b.stored_p_up is not None for b in example.bars)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {
        "MLFLOW_TRACKING_URI": tracking.tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking.tracking_uri,
        # `mlflow models serve` execs `uvicorn` by name: the one beside this interpreter.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    }
    log = tmp_path / "serve.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "models", "serve",
                "-m", f"models:/{tracking.registered_model_name}@{CHAMPION}",
                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
            ],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(proc, base, log)
        print(f"mlflow models serve answered /ping after {time.monotonic() - started:.1f}s")

        body = example.body()
        assert any(None in row for row in body["dataframe_split"]["data"])
        status, answer = _http("POST", f"{base}/invocations", body)
        assert status == 200, answer
        assert list(answer) == ["predictions"]
        served = answer["predictions"]
        stored = [b.stored_p_up for b in example.bars]
        assert served == pytest.approx(stored, abs=1e-6)
        print(f"served {json.dumps(answer)}; max |served - stored| = {max(abs(a - b) for a, b in zip(served, stored)):.3g}")

        columns = body["dataframe_split"]["columns"]
        drop = len(columns) // 2
        dropped = columns[drop]
        body["dataframe_split"]["columns"] = columns[:drop] + columns[drop + 1 :]
        body["dataframe_split"]["data"] = [row[:drop] + row[drop + 1 :] for row in body["dataframe_split"]["data"]]
        status, error = _http("POST", f"{base}/invocations", body)
        assert status == 400, error
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
        # The message also lists the whole schema; the part that says what is missing names only the dropped column.
        said = re.search(r"missing inputs \[([^\]]*)\]", error["message"])
        assert said is not None, error["message"][-2000:]
        assert said.group(1) == repr(dropped)
        print(f"missing column: HTTP {status} ...{error['message'][-120:]!r}")
    finally:
        stop_server_group(proc)
