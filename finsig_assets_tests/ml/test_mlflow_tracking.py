"""MlflowTracking: URIs, artifact location and links; a moved or copied store uses its own
artifacts; the dagster-mlflow hook runs with it. (A tracking server: test_mlflow_server.py.)"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import mlflow
import mlflow.xgboost

from finsig_assets.ml import ml_assets, ml_training_job
from finsig_assets.ml.champion_history import CHAMPION
from finsig_assets.ml.mlflow_store_location import marker_path, read_marker, sync_artifact_root
from finsig_assets.ml.mlflow_tracking import MlflowTracking, local_store_dir
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.end_to_end import PROMOTE_EVERY_VERSION
from finsig_assets_tests.ml.ml_helpers import FAST_TRAINING, SESSIONS, insert_synthetic, train


def test_tracking_uri_defaults_to_the_environment_then_finsig_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////somewhere/else.db")
    assert MlflowTracking().tracking_uri == "sqlite:////somewhere/else.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("FINSIG_HOME", str(tmp_path))
    default = MlflowTracking()
    assert default.tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert default.experiment_name == "finsig-direction" and default.registered_model_name == "finsig-direction"
    assert local_store_dir(default.tracking_uri) == tmp_path / "mlflow"


def test_experiment_artifacts_live_beside_the_store_not_in_the_working_directory(tracking):
    exp = tracking.client().get_experiment(tracking.experiment_id())
    assert exp.artifact_location == (local_store_dir(tracking.tracking_uri) / "artifacts").as_uri()
    assert tracking.experiment_id() == exp.experiment_id  # found, not created twice


def test_end_run_ends_the_active_run_with_the_given_status(tracking):
    tracking.activate()
    run = mlflow.start_run(experiment_id=tracking.experiment_id())
    tracking.end_run(status="FAILED")
    assert mlflow.active_run() is None
    assert tracking.client().get_run(run.info.run_id).info.status == "FAILED"
    tracking.end_run()  # nothing active: a no-op


def test_ml_training_job_runs_with_the_end_mlflow_hook(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:3], seed=21)
    defs = dg.Definitions(
        assets=ml_assets, jobs=[ml_training_job], resources={"warehouse": warehouse, "mlflow": tracking}
    )
    job = defs.resolve_job_def("ml_training")
    result = job.execute_in_process(
        partition_key=str(SESSIONS[2]),
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"ml__model_fits": {"config": FAST_TRAINING}, "ml__direction_model": {"config": FAST_TRAINING}}},
    )
    assert result.success
    hooks = [e for e in result.all_events if e.event_type_value == "HOOK_COMPLETED"]
    assert hooks  # end_mlflow_on_run_finished ran after the steps
    assert mlflow.active_run() is None


def test_links_point_at_the_tracking_server_itself_when_the_uri_is_http():
    server = MlflowTracking(tracking_uri="http://user:secret@mlflow.internal:5000/")
    assert server.ui_url == "auto"
    assert server.run_link("3", "abc") == "http://mlflow.internal:5000/#/experiments/3/runs/abc"  # no credentials
    assert server.version_link(7) == "http://mlflow.internal:5000/#/models/finsig-direction/versions/7"
    assert MlflowTracking(tracking_uri="https://mlflow.example/prefix").run_link("1", "r") == "https://mlflow.example/prefix/#/experiments/1/runs/r"

    local = MlflowTracking(tracking_uri="sqlite:////somewhere/mlflow.db")
    assert local.run_link("1", "r") == "http://127.0.0.1:5000/#/experiments/1/runs/r"  # make mlflow-ui
    explicit = MlflowTracking(tracking_uri="http://mlflow:5000", ui_url="https://ui.example/")
    assert explicit.version_link(2, "finsig-return") == "https://ui.example/#/models/finsig-return/versions/2"
    none = MlflowTracking(tracking_uri="http://mlflow:5000", ui_url=None)
    assert none.run_link("1", "r") == "http://mlflow:5000 experiments/1/runs/r"


# -- A moved or copied FINSIG_HOME uses its own artifacts ---------------------------------------


def _home_tracking(home: Path) -> MlflowTracking:
    return MlflowTracking(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}", experiment_name="finsig-test", ui_url=None)


def _new_home(home: Path, template: Path) -> MlflowTracking:
    db = home / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True)
    shutil.copy(template, db)
    return _home_tracking(home)


def _small_store(home: Path, template: Path) -> tuple[MlflowTracking, str]:
    """A store with one run and one artifact, no model: enough for the relocation mechanics."""
    tracking = _new_home(home, template)
    with tracking.start_run("relocation", tags={}) as run:
        mlflow.log_text("hello", "note.txt")
    return tracking, run.info.run_id


def _mentions(db: Path, needle: str) -> list[tuple[str, str, str]]:
    """Every (table, column, value) of the store whose text contains ``needle``: all tables, all columns."""
    out = []
    with closing(sqlite3.connect(db)) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for column in [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]:
                for (value,) in conn.execute(
                    f'SELECT CAST("{column}" AS TEXT) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0', [needle]
                ):
                    out.append((table, column, value))
    return out


def _recorded_artifact_locations(db: Path) -> dict[str, list[str]]:
    """Every artifact location finsig's experiment, runs, logged models and versions recorded."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            "experiments": [r[0] for r in conn.execute("SELECT artifact_location FROM experiments WHERE experiment_id != 0")],
            "runs": [r[0] for r in conn.execute("SELECT artifact_uri FROM runs")],
            "logged_models": [r[0] for r in conn.execute("SELECT artifact_location FROM logged_models")],
            "model_versions": [r[0] for r in conn.execute("SELECT storage_location FROM model_versions")],
        }


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_a_copied_home_uses_its_own_artifacts_and_leaves_the_original_untouched(tmp_path, mlflow_template):
    home_a, home_b = tmp_path / "home-a", tmp_path / "home-b"
    tracking_a = _new_home(home_a, mlflow_template)
    warehouse_a = DuckDBWarehouse(database=str(home_a / "warehouse.duckdb"), lock_timeout_seconds=60)
    insert_synthetic(warehouse_a, SESSIONS[:13], news_effect=0.6, seed=31)
    train(warehouse_a, tracking_a, SESSIONS[11], **PROMOTE_EVERY_VERSION)
    name = tracking_a.registered_model_name
    assert str(tracking_a.client().get_model_version_by_alias(name, CHAMPION).version) == "1"

    shutil.copytree(home_a, home_b)
    # The original goes away: anything read through its path fails, anything written recreates it.
    moved_a = tmp_path / "elsewhere"
    home_a.rename(moved_a)
    original = _tree(moved_a)

    tracking_b = _home_tracking(home_b)
    warehouse_b = DuckDBWarehouse(database=str(home_b / "warehouse.duckdb"), lock_timeout_seconds=60)
    tracking_b.activate()
    champion = mlflow.xgboost.load_model(f"models:/{name}@{CHAMPION}")
    assert champion.num_features() > 0
    train(warehouse_b, tracking_b, SESSIONS[12], **PROMOTE_EVERY_VERSION)
    client = tracking_b.client()
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "2"  # trained in B, beside v1

    assert not home_a.exists()  # nothing was written to the original's path...
    assert _tree(moved_a) == original  # ...nor to the original itself
    db_b = home_b / "mlflow" / "mlflow.db"
    assert _mentions(db_b, str(home_a)) == [] and _mentions(db_b, str(moved_a)) == []
    artifacts_b = home_b / "mlflow" / "artifacts"
    recorded = _recorded_artifact_locations(db_b)
    assert len(recorded["runs"]) >= 4 and len(recorded["model_versions"]) >= 2  # direction + return, two partitions
    for kind, locations in recorded.items():
        for location in locations:
            path = Path(urlparse(location).path)
            assert location.startswith("file://") and path.is_relative_to(artifacts_b), (kind, location)
            assert path.is_dir(), (kind, location)  # the files are really there
    assert (Path(urlparse(client.get_model_version_download_uri(name, "1")).path) / "MLmodel").is_file()
    assert read_marker(db_b) == artifacts_b.as_uri()


def test_processes_opening_a_copy_together_rewrite_it_once(tmp_path, mlflow_template):
    _, run_id = _small_store(tmp_path / "a", mlflow_template)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    db_b, root_b = tmp_path / "b" / "mlflow" / "mlflow.db", tmp_path / "b" / "mlflow" / "artifacts"
    openers = 6
    barrier = threading.Barrier(openers)

    def open_copy(_):
        barrier.wait()
        return sync_artifact_root(db_b, root_b)

    with ThreadPoolExecutor(openers) as pool:
        results = list(pool.map(open_copy, range(openers)))
    done = [r for r in results if r is not None]
    assert len(done) == 1, results  # one rewrite; the others found it done under the lock
    assert done[0].rows == {"experiments.artifact_location": 1, "runs.artifact_uri": 1}
    assert done[0].old_roots == ((tmp_path / "a" / "mlflow" / "artifacts").as_uri(),)
    assert sync_artifact_root(db_b, root_b) is None  # and nothing is left to do
    tracking_b = _home_tracking(tmp_path / "b")
    assert tracking_b.client().get_run(run_id).info.artifact_uri == f"{root_b.as_uri()}/{run_id}/artifacts"


def test_a_store_without_marker_takes_its_old_root_from_its_experiments(tmp_path, mlflow_template):
    _, run_id = _small_store(tmp_path / "a", mlflow_template)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    db_b = tmp_path / "b" / "mlflow" / "mlflow.db"
    marker_path(db_b).unlink()  # a store written before the marker existed
    shutil.rmtree(tmp_path / "a")
    tracking_b = _home_tracking(tmp_path / "b")
    client = tracking_b.client()
    root_b = tmp_path / "b" / "mlflow" / "artifacts"
    assert client.get_experiment(tracking_b.experiment_id()).artifact_location == root_b.as_uri()
    local = client.download_artifacts(run_id, "note.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"
    # MLflow caches a run's artifact repository by run id, which the copy shares with the
    # original: this process wrote to that run in A, and must now write to it in B.
    client.log_text(run_id, "again", "again.txt")
    assert (root_b / run_id / "artifacts" / "again.txt").read_text() == "again"
    assert not (tmp_path / "a").exists()


def test_a_database_copied_without_its_artifacts_is_left_pointing_at_them(tmp_path, mlflow_template, caplog):
    tracking_a, run_id = _small_store(tmp_path / "a", mlflow_template)
    db_c = tmp_path / "c" / "mlflow" / "mlflow.db"
    db_c.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "mlflow" / "mlflow.db", db_c)
    tracking_c = _home_tracking(tmp_path / "c")
    with caplog.at_level(logging.WARNING):
        client = tracking_c.client()
    assert "copied without its artifacts" in caplog.text
    root_a = (tmp_path / "a" / "mlflow" / "artifacts").as_uri()
    assert client.get_run(run_id).info.artifact_uri.startswith(root_a)  # still readable
    assert read_marker(db_c) is None  # looked at again next time


def test_an_explicit_artifact_location_is_never_rewritten(tmp_path, mlflow_template):
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(mlflow_template, db)
    elsewhere = (tmp_path / "shared-artifacts").as_uri()
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{db}", experiment_name="finsig-test", ui_url=None, artifact_location=elsewhere)
    assert tracking.client().get_experiment(tracking.experiment_id()).artifact_location == elsewhere
    assert read_marker(db) is None and not (tmp_path / "mlflow" / "artifacts").exists()


def test_a_fresh_sqlite_store_is_created_by_one_process_while_the_others_wait(tmp_path):
    """Two runs starting together on a new home both create MLflow's tables otherwise, and one fails
    in alembic; the store is created under a lock beside the database."""
    import fcntl
    import sqlite3
    import threading

    from finsig_assets.ml import mlflow_tracking

    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir()
    uri = f"sqlite:///{db}"
    with open(db.with_name("mlflow.db.lock"), "a") as held:  # another process creating it
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = threading.Thread(target=mlflow_tracking.create_sqlite_store, args=(uri, db))
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive() and not db.exists()  # it waits and creates nothing meanwhile
        fcntl.flock(held, fcntl.LOCK_UN)
    waiting.join(timeout=120)
    assert not waiting.is_alive()
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "runs", "registered_models", "model_versions", "alembic_version"} <= tables
    assert uri in mlflow_tracking._CREATED
