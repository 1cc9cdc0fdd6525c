"""ml/predictions: the champion as of the previous session, out-of-sample record, no champion."""

from __future__ import annotations

import pytest

from finsig_assets.ml.predictions import predictions
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic, materialize, metadata_for, metadata_of, train
from finsig_assets_tests.check_results import table_checks


def predict(warehouse, tracking, first, last=None):
    return materialize([predictions], warehouse, tracking, first, last)


def test_no_champion_is_a_clear_outcome_not_a_failure(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:3], seed=11)
    result = predict(warehouse, tracking, SESSIONS[2])
    assert result.success
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 0
    assert meta["outcome"].startswith("no champion")
    assert str(SESSIONS[1]) in meta["outcome"]
    assert "No out-of-sample record yet" in meta["run_oos_record"]
    assert warehouse.query("SELECT count(*) AS n FROM ml.predictions")["n"][0] == 0


def test_predictions_use_the_champion_from_before_the_session_and_record_oos(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=12)
    s11, s12, s13 = SESSIONS[11], SESSIONS[12], SESSIONS[13]
    train(warehouse, tracking, s11)  # v1, trained through s11, champion
    predict(warehouse, tracking, s12)
    train(warehouse, tracking, s12)  # v2, trained through s12: its window includes s12 itself
    client = tracking.client()
    name = tracking.registered_model_name
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    # v1's predictions for s12 were on record: v2 was compared with them on the same rows.
    reasons = warehouse.query("SELECT decision_reasons FROM ml.model_runs WHERE window_last = ?", [s12])[0, 0]
    assert "champion v1's out-of-sample record (same rows, 360 rows" in reasons
    assert "champion v1" in client.get_model_version(name, "2").tags["finsig.decision_reasons"]

    # Re-running s12 after v2 exists must still use v1 (as of the end of s11): out of sample.
    result = predict(warehouse, tracking, s12, s13)
    preds = warehouse.query("SELECT * FROM ml.predictions ORDER BY ts")
    by_day = {d: g for (d,), g in preds.group_by("trade_date")}
    assert set(by_day[s12]["model_version"].to_list()) == {1}
    assert set(by_day[s13]["model_version"].to_list()) == {2}
    assert (preds["trained_through"] < preds["trade_date"]).all()
    assert set(by_day[s12]["champion_as_of"].to_list()) == {s11}
    rows_in_gold = warehouse.query(
        "SELECT count(*) AS n FROM gold.training_examples WHERE trade_date = ? AND is_rth", [s12]
    )["n"][0]
    assert by_day[s12].height == rows_in_gold  # every (regular-hours) row, labelled or not
    assert by_day[s12]["label_up"].null_count() > 0  # the last 30 minutes have no label
    assert preds["p_up"].is_between(0, 1).all()
    # The baselines are served next to the champion, from the same window.
    assert preds["p_up_market_only"].null_count() == 0 and preds["p_up_market_only"].is_between(0, 1).all()
    assert preds["p_up_majority"].n_unique() == 2 and preds["p_up_majority"].is_between(0.3, 0.7).all()
    (skill,) = [e for e in table_checks(result) if e.check_name == "champion_skill"]
    assert skill.passed, skill.description  # the planted effect, measured on served rows
    assert skill.metadata["champion_auc"].value > skill.metadata["market_only_auc"].value

    record = warehouse.query("SELECT * FROM ml.oos_record ORDER BY trade_date")
    assert record["trade_date"].to_list() == [s12, s13]
    assert record["model_version"].to_list() == [1, 2]
    assert (record["auc"] > 0.6).all()  # the planted news effect, out of sample
    assert (record["n_labelled"] < record["n_rows"]).all()

    v1_run = client.get_model_version(name, "1").run_id
    history = client.get_metric_history(v1_run, "oos_auc")
    assert {m.step for m in history} == {int(s12.strftime("%Y%m%d"))}
    assert history[-1].value == pytest.approx(record["auc"][0])

    # Each partition of the ranged run carries its own numbers; the run's tables are shared.
    meta12, meta13 = metadata_for(result, s12), metadata_for(result, s13)
    assert meta12["dagster/row_count"] == by_day[s12].height and meta13["dagster/row_count"] == by_day[s13].height
    assert (meta12["model_version"], meta13["model_version"]) == ("v1", "v2")
    assert meta12["oos_auc"] != meta13["oos_auc"]
    assert meta12["run_rows"] == preds.height
    assert "v1" in meta12["run_oos_record"] and "v2" in meta12["run_oos_record"]
    assert meta12["run_sessions_without_champion"] == 0
    assert "| " + str(s12) + " | " + str(s11) + " | v1 |" in meta13["run_sessions_table"]


def test_the_return_forecast_comes_from_the_return_champion_as_of_the_previous_session(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:13], news_effect=0.6, seed=13)
    s11, s12 = SESSIONS[11], SESSIONS[12]
    train(warehouse, tracking, s11)
    client = tracking.client()
    name = tracking.return_model_name
    # Whatever its own evidence said, make v1 the return champion to see it served.
    client.set_model_version_tag(name, "1", "finsig.promoted", "true")
    result = predict(warehouse, tracking, s12)
    preds = warehouse.query("SELECT * FROM ml.predictions ORDER BY ts")
    assert set(preds["return_model_version"].to_list()) == {1}
    assert preds["fwd_return_30m_forecast"].null_count() == 0
    # The served forecast is the registered regressor's own prediction for those rows.
    import mlflow.xgboost
    import numpy as np
    import xgboost as xgb

    booster = mlflow.xgboost.load_model(tracking.model_uri(1, name))
    names = booster.feature_names
    rows = warehouse.query(
        f"SELECT {', '.join(names)} FROM gold.training_examples WHERE trade_date = ? AND is_rth ORDER BY ts, instrument", [s12]
    )
    expected = booster.predict(xgb.DMatrix(rows.to_numpy().astype(np.float32), feature_names=names))
    np.testing.assert_allclose(preds["fwd_return_30m_forecast"].to_numpy(), expected, rtol=1e-6, atol=1e-9)
    meta = metadata_of(result)
    assert meta["return_forecast_version"] == "v1"
    labelled = preds.filter(preds["fwd_return_30m"].is_not_null())
    r, f = labelled["fwd_return_30m"].to_numpy(), labelled["fwd_return_30m_forecast"].to_numpy()
    assert float(meta["oos_return_r2"]) == pytest.approx(1 - np.sum((r - f) ** 2) / np.sum(r**2), abs=1e-4)


def test_without_a_return_champion_the_forecast_is_null(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:13], news_effect=0.0, seed=14)
    train(warehouse, tracking, SESSIONS[11])
    tracking.client().set_model_version_tag(tracking.registered_model_name, "1", "finsig.promoted", "true")
    tracking.client().set_model_version_tag(tracking.return_model_name, "1", "finsig.promoted", "false")
    result = predict(warehouse, tracking, SESSIONS[12])
    preds = warehouse.query("SELECT * FROM ml.predictions")
    assert preds.height > 0 and preds["fwd_return_30m_forecast"].null_count() == preds.height
    assert metadata_of(result)["return_forecast_version"].startswith("none")
