"""ml/performance_report: each partition's own numbers and pictures, in Dagster and in MLflow.

One module-wide set-up (two promoted versions and one rejected, predictions for eight sessions)
serves every test; the promotion tags and the ``champion`` alias are set directly with the
MLflow client, so these tests do not depend on the promotion rules.
"""

from __future__ import annotations

import base64
import re
import shutil

import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from finsig_assets.ml.champion_history import CHAMPION, TAG_PROMOTED, list_versions
from finsig_assets.ml.mlflow_tracking import MlflowTracking
from finsig_assets.ml.performance_report import FIGURES, performance_report
from finsig_assets.ml.predictions import predictions
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic, materialize, metadata_for, metadata_of, run_config, train

REPORT = "ml/performance_report"
WINDOW = 3
CONFIG = {"window_sessions": WINDOW, "history_sessions": 5}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE = re.compile(r"!\[([^\]]+)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def judge(tracking: MlflowTracking, promoted: bool) -> int:
    """Tag the newest version as the promotion rules would have (without running them)."""
    client = tracking.client()
    name = tracking.registered_model_name
    version = str(max(v.version for v in list_versions(client, name)))
    client.set_model_version_tag(name, version, TAG_PROMOTED, "true" if promoted else "false")
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    return int(version)


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_template):
    root = tmp_path_factory.mktemp("performance-report")
    (root / "mlflow").mkdir()
    shutil.copy(mlflow_template, root / "mlflow" / "mlflow.db")
    warehouse = DuckDBWarehouse(database=str(root / "warehouse.duckdb"), lock_timeout_seconds=60)
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{root / 'mlflow' / 'mlflow.db'}", experiment_name="finsig-test", ui_url=None)
    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=31)
    train(warehouse, tracking, SESSIONS[5])
    assert judge(tracking, promoted=True) == 1  # serves SESSIONS[6..8]
    train(warehouse, tracking, SESSIONS[8])
    assert judge(tracking, promoted=True) == 2  # serves SESSIONS[9..]
    train(warehouse, tracking, SESSIONS[10])
    assert judge(tracking, promoted=False) == 3  # rejected: never serves
    materialize([predictions], warehouse, tracking, SESSIONS[6], SESSIONS[13])
    return warehouse, tracking


def report(warehouse, tracking, first, last=None, **config):
    return materialize([performance_report], warehouse, tracking, first, last, run_config=run_config(performance_report, **(CONFIG | config)))


def sklearn_rolling_auc(warehouse, day) -> tuple[float, float, int]:
    """Champion and market-only AUC on the labelled rows of the last WINDOW labelled sessions up to ``day``."""
    rows = warehouse.query(
        "SELECT trade_date, p_up, p_up_market_only, label_up FROM ml.predictions WHERE label_up IS NOT NULL AND trade_date <= ?",
        [day],
    )
    days = sorted(set(rows["trade_date"].to_list()))[-WINDOW:]
    rows = rows.filter(pl.col("trade_date").is_in(days))
    y = rows["label_up"].to_numpy()
    return roc_auc_score(y, rows["p_up"].to_numpy()), roc_auc_score(y, rows["p_up_market_only"].to_numpy()), rows.height


def images(markdown: str) -> dict[str, bytes]:
    return {title: base64.b64decode(data) for title, data in IMAGE.findall(markdown)}


def test_each_partition_of_a_range_has_its_own_numbers_pictures_and_mlflow_run(served):
    warehouse, tracking = served
    days = SESSIONS[10:13]
    result = report(warehouse, tracking, days[0], days[-1])
    assert result.success
    metas = {day: metadata_for(result, day, REPORT) for day in days}
    for day, meta in metas.items():
        auc, market_auc, n = sklearn_rolling_auc(warehouse, day)
        assert meta["outcome"] == "reported"
        assert meta["rolling_auc"] == pytest.approx(auc, abs=1e-9)  # the independent reference
        assert meta["market_only_auc"] == pytest.approx(market_auc, abs=1e-9)
        low, high = (float(x) for x in meta["rolling_auc_95ci"].split(" .. "))
        assert low < meta["rolling_auc"] < high
        assert meta["labelled_rows"] == n and meta["labelled_sessions"] == WINDOW
        assert meta["as_of_session"] == day.isoformat()
        assert meta["champion_version"].startswith("v2 ")  # v3 was not promoted
        assert meta["dagster/row_count"] == meta["sessions_charted"] == 5
        pictures = images(meta["report"])
        assert set(pictures) == set(FIGURES)
        for png in pictures.values():
            assert png.startswith(PNG_SIGNATURE) and 2_000 < len(png) < 120_000
        assert f"| {day} |" in meta["rolling_auc_table"]
        assert "| 2 |" in meta["champion_history_table"] and "| 1 |" in meta["champion_history_table"]
        assert meta["run_reports"] == len(days)
    assert len({m["rolling_auc"] for m in metas.values()}) == len(days)  # not the run's numbers copied
    assert len({m["report"] for m in metas.values()}) == len(days)

    client = tracking.client()
    experiment = client.get_experiment_by_name(tracking.report_experiment_name)
    for day, meta in metas.items():
        (run,) = client.search_runs([experiment.experiment_id], f"tags.`dagster.partition` = '{day}'")
        assert run.info.run_id in meta["mlflow_run"]
        assert run.data.tags["dagster.run_id"] == result.run_id
        assert run.data.metrics["rolling_auc"] == pytest.approx(meta["rolling_auc"])
        assert run.data.metrics["labelled_rows"] == meta["labelled_rows"]
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert plots == set(FIGURES.values())
        tables = {a.path for a in client.list_artifacts(run.info.run_id, "numbers")}
        assert "numbers/rolling_auc.json" in tables and "numbers/calibration.json" in tables


def test_a_single_partition_report_and_the_versions_it_shows(served):
    warehouse, tracking = served
    result = report(warehouse, tracking, SESSIONS[13], history_sessions=8)
    meta = metadata_of(result, REPORT)
    assert meta["outcome"] == "reported" and meta["sessions_charted"] == 8  # labelled sessions 6..13, all predicted
    assert set(images(meta["report"])) == set(FIGURES)
    assert "run_reports" in meta and "summary" in meta
    # Served: v1 for sessions 6..8, v2 from 9 on.
    history = meta["champion_history_table"]
    assert f"| 1 | {SESSIONS[5]} | {SESSIONS[6]} | {SESSIONS[8]} |" in history
    assert f"| 2 | {SESSIONS[8]} | {SESSIONS[9]} | {SESSIONS[13]} |" in history


def test_a_partition_before_any_champion_says_why_and_draws_nothing(served):
    warehouse, tracking = served
    result = report(warehouse, tracking, SESSIONS[4], SESSIONS[7], embed_images_partitions=1)
    assert result.success
    before = metadata_for(result, SESSIONS[4], REPORT)
    assert before["outcome"].startswith("nothing to report: no labelled predictions up to")
    assert "no version was promoted with trained_through <=" in before["outcome"]
    assert "report" not in before and "mlflow_run" not in before
    assert before["dagster/row_count"] == 0
    # Only the run's last partition embeds its pictures; the others point to their MLflow run.
    first, last = metadata_for(result, SESSIONS[6], REPORT), metadata_for(result, SESSIONS[7], REPORT)
    assert first["outcome"] == last["outcome"] == "reported"
    assert images(first["report"]) == {} and "MLflow run" in first["report"] and first["mlflow_run"]
    assert set(images(last["report"])) == set(FIGURES)
    client = tracking.client()
    experiment = client.get_experiment_by_name(tracking.report_experiment_name)
    assert not client.search_runs([experiment.experiment_id], f"tags.`dagster.partition` = '{SESSIONS[4]}'")


def test_no_predictions_at_all_materializes_and_says_why(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:3], seed=32)
    materialize([predictions], warehouse, tracking, SESSIONS[2])  # no champion: no rows
    result = report(warehouse, tracking, SESSIONS[2])
    assert result.success
    meta = metadata_of(result, REPORT)
    assert meta["outcome"].startswith("nothing to report")
    assert "no champion has served yet" in meta["outcome"]
    assert meta["run_nothing_to_report"] == 1 and meta["run_reports"] == 0
    assert tracking.client().get_experiment_by_name(tracking.report_experiment_name) is None
