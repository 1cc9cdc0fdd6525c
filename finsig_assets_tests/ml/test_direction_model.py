"""ml/direction_model end to end on synthetic gold.training_examples (small windows, few trees)."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from mlflow import MlflowClient

from finsig_assets.ml.champion_history import TAG_DECISION, TAG_PROMOTED, TAG_TRAINED_THROUGH
from finsig_assets_tests.ml.ml_helpers import (
    SESSIONS,
    insert_synthetic,
    materialized_partitions,
    metadata_for,
    model_for,
    metadata_of,
    model_runs,
    train,
)

D = SESSIONS[11]  # the 12th session: a full 12-session window


def client_of(tracking) -> MlflowClient:
    return tracking.client()


def test_news_signal_beats_market_only_and_becomes_champion(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=1)
    result = train(warehouse, tracking, D)

    run = model_runs(warehouse).row(0, named=True)
    # Partition = the session the model is for; its window ends the session before.
    assert run["status"] == "trained" and run["trade_date"] == model_for(D) == SESSIONS[12]
    assert run["window_first"] == SESSIONS[0] and run["window_last"] == D and run["n_sessions"] == 12
    assert run["model_auc"] > 0.65
    assert abs(run["market_only_auc"] - 0.5) < 0.05
    assert run["value_of_news_auc"] > 0.1
    assert run["majority_auc"] == 0.5
    assert run["promoted"] and run["champion_alias_moved"]
    assert run["model_version"] == 1 and run["n_news_features"] > 0

    client = client_of(tracking)
    name = tracking.registered_model_name
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"
    tags = client.get_model_version(name, "1").tags
    assert tags[TAG_TRAINED_THROUGH] == D.isoformat()
    assert tags[TAG_PROMOTED] == "true" and tags[TAG_DECISION] == "champion"
    assert "market-only" in tags["finsig.decision_reasons"]
    # The evidence: the paired test's statistic and p-value, as tags, metadata and a row.
    assert float(tags["finsig.news_test_p_value"]) == pytest.approx(run["news_test_p_value"], rel=1e-5)
    assert run["news_test_p_value"] < 0.05 and run["news_test_statistic"] > 1.6
    assert "session-clustered" in tags["finsig.news_test"]

    mlrun = client.get_run(run["mlflow_run_id"])
    assert mlrun.data.tags["dagster.run_id"] == result.run_id
    assert mlrun.data.tags["dagster.asset_key"] == "ml/direction_model"
    assert mlrun.data.tags["dagster.partition"] == model_for(D).isoformat()
    assert mlrun.data.tags["finsig.sentiment_model"] == "lexicon"
    assert mlrun.data.params["training_data_sha256"] == run["training_data_sha256"]
    assert mlrun.data.params["window_first"] == SESSIONS[0].isoformat()
    assert mlrun.data.metrics["cv_model_auc"] == pytest.approx(run["model_auc"])
    assert mlrun.data.metrics["value_of_news_auc"] == pytest.approx(run["value_of_news_auc"])
    artifacts = {a.path for a in client.list_artifacts(run["mlflow_run_id"])}
    assert {"features.json", "folds.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run["mlflow_run_id"], "plots")}
    assert plots == {"plots/feature_importance.png", "plots/calibration.png"}
    features = json.loads(open(client.download_artifacts(run["mlflow_run_id"], "features.json", str(tracking_dir(tracking)))).read())
    assert "news_decayed_sentiment" in features["news_features"] and "ret_30m" in features["market_features"]

    meta = metadata_of(result)
    assert meta["model_version"] == 1 and meta["decision"] == "champion"
    assert meta["news_test_p_value"] == pytest.approx(run["news_test_p_value"])
    assert meta["reused_version"] is False
    assert run["mlflow_run_id"] in meta["mlflow_run"]
    assert "market-only XGBoost" in meta["model_vs_baselines"] and "Value of news" in meta["model_vs_baselines"]


def tracking_dir(tracking):
    from finsig_assets.ml.mlflow_tracking import local_store_dir

    out = local_store_dir(tracking.tracking_uri) / "downloads"
    out.mkdir(exist_ok=True)
    return out


def test_pure_noise_is_not_promoted_and_scores_near_chance(warehouse, tracking):
    """No signal anywhere: AUC must stay near 0.5.

    ~2,160 validation rows (3 folds x 2 sessions x 360 labelled bars), balanced classes: the
    AUC's standard error is about sqrt((1/1080 + 1/1080) / 12) = 0.012, so 0.05 is a 4-sigma
    tolerance; the value of news gets the same bound.
    """
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.0, seed=2)
    train(warehouse, tracking, D)
    run = model_runs(warehouse).row(0, named=True)
    assert run["status"] == "trained"
    assert abs(run["model_auc"] - 0.5) < 0.05
    assert abs(run["value_of_news_auc"]) < 0.05
    assert run["promoted"] is False and run["champion_alias_moved"] is False
    client = client_of(tracking)
    name = tracking.registered_model_name
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"
    assert "champion" not in client.get_registered_model(name).aliases
    assert client.get_model_version(name, "1").tags[TAG_PROMOTED] == "false"
    assert "FAIL" in run["decision_reasons"]


def test_excluded_features_are_not_trained_on_and_a_misspelt_one_stops_the_run(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=1)
    excluded = ["ret_30m", "news_count_15m"]
    trained = train(warehouse, tracking, D, exclude_features=excluded)
    run = model_runs(warehouse).row(0, named=True)
    assert run["status"] == "trained"
    artifact = tracking.client().download_artifacts(run["mlflow_run_id"], "features.json", str(tracking_dir(tracking)))
    features = json.loads(open(artifact).read())
    assert not set(excluded) & set(features["market_features"] + features["news_features"])
    assert "ret_5m" in features["market_features"] and "news_count_60m" in features["news_features"]
    assert run["n_features"] == len(features["market_features"]) + len(features["news_features"])
    meta = metadata_of(trained)
    assert meta["n_features"] == run["n_features"] and meta["n_news_features"] == len(features["news_features"])

    failed = train(warehouse, tracking, D, raise_on_error=False, exclude_features=["ret_30min"])
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.message
    assert "exclude_features" in message and "'ret_30min'" in message and "not features of gold.training_examples" in message


def test_window_mixing_sentiment_models_is_refused(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:6], sentiment_model="finbert@abc123", seed=3)
    insert_synthetic(warehouse, SESSIONS[6:12], sentiment_model="lexicon", seed=4)
    result = train(warehouse, tracking, D, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "mixes sentiment models" in failure and "finbert@abc123" in failure and "lexicon" in failure
    run = model_runs(warehouse).row(0, named=True)
    assert run["status"] == "refused: mixed sentiment models" and run["model_version"] is None
    assert tracking.client().search_model_versions(f"name='{tracking.registered_model_name}'") == []


def test_a_range_trains_one_model_per_partition_and_records_insufficient_history(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:8], news_effect=0.6, seed=5)
    # One single run over 3 partitions with 5, 6 and 7 sessions of history; min_sessions = 6.
    result = train(warehouse, tracking, SESSIONS[4], SESSIONS[6])
    runs = model_runs(warehouse)
    assert runs["trade_date"].to_list() == SESSIONS[5:8]  # the models for the sessions after each window
    first, second, third = runs.rows(named=True)
    assert first["status"] == "insufficient history" and first["mlflow_run_id"] is None
    assert "5 sessions" in first["reason"] and "min_sessions=6" in first["reason"]
    assert (second["status"], second["model_version"], second["window_last"]) == ("trained", 1, SESSIONS[5])
    assert (third["status"], third["model_version"], third["window_last"]) == ("trained", 2, SESSIONS[6])
    assert second["training_data_sha256"] != third["training_data_sha256"]
    # 6- and 7-session windows validate on 3 sessions: too few to count as evidence.
    assert not second["promoted"] and not third["promoted"]
    assert "FAIL: news vs market-only" in third["decision_reasons"] and "at least 6 validation sessions" in third["decision_reasons"]
    client = tracking.client()
    assert {mv.tags["finsig.trained_through"] for mv in client.search_model_versions(f"name='{tracking.registered_model_name}'")} == {
        SESSIONS[5].isoformat(),
        SESSIONS[6].isoformat(),
    }
    # Each partition's materialization carries its own status, version and scores.
    metas = [metadata_for(result, day) for day in SESSIONS[5:8]]
    assert [m["status"] for m in metas] == ["insufficient history", "trained", "trained"]
    assert [m.get("model_version") for m in metas] == [None, 1, 2]
    assert metas[1]["training_data_sha256"] == second["training_data_sha256"]
    assert metas[1]["mlflow_run_id"] == second["mlflow_run_id"] != metas[2]["mlflow_run_id"]
    assert metas[0]["run_insufficient_history"] == 1 and metas[0]["run_trained"] == 2
    assert "insufficient history" in metas[2]["run_partitions_table"]


def test_only_insufficient_history_still_succeeds_with_a_clear_outcome(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:2], seed=6)
    result = train(warehouse, tracking, SESSIONS[1])
    meta = metadata_of(result)
    assert meta["status"] == "insufficient history"
    assert "No model trained" in meta["outcome"]


def test_rows_after_the_partition_and_outside_regular_hours_are_never_used(warehouse, tracking):
    """Perturb every row after D (and all overnight rows): D's model must not change."""
    base = insert_synthetic(warehouse, SESSIONS[:14], news_effect=0.6, seed=7, all_hours=True)
    train(warehouse, tracking, D)
    first = model_runs(warehouse).row(0, named=True)

    changed = base.with_columns(
        pl.when((pl.col("trade_date") > D) | ~pl.col("is_rth"))
        .then(pl.col(c) * -3 + 1)
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("news_decayed_sentiment", "ret_30m", "fwd_return_30m")
    ).with_columns(
        pl.when(pl.col("trade_date") > D).then(~pl.col("label_up")).otherwise(pl.col("label_up")).alias("label_up")
    )
    from finsig_assets_tests.ml.synthetic_examples import insert_examples

    insert_examples(warehouse, changed)
    train(warehouse, tracking, D)
    second = model_runs(warehouse).row(0, named=True)
    # The window's data is unchanged, so the registered version is reused, not trained again.
    assert second["model_version"] == 1 and second["reason"].startswith("reused v1")
    assert second["training_data_sha256"] == first["training_data_sha256"]
    assert second["n_train_rows"] == first["n_train_rows"]
    for m in ("model_auc", "market_only_auc", "model_log_loss"):
        assert second[m] == pytest.approx(first[m], abs=1e-12), m
    assert not math.isnan(second["model_auc"])


def test_a_value_naming_two_models_is_a_mix():
    import datetime as dt

    from finsig_assets.ml.direction_model import MixedSentimentModelsError, check_single_sentiment_model

    day = dt.date(2024, 3, 4)
    one = pl.DataFrame({"sentiment_model": ["lexicon", None, "lexicon"], "trade_date": [day] * 3})
    assert check_single_sentiment_model(one, day, day) == "lexicon"
    assert check_single_sentiment_model(one.with_columns(pl.lit(None, pl.String).alias("sentiment_model")), day, day) is None
    both = pl.DataFrame({"sentiment_model": ["finbert@abc + lexicon"] * 3, "trade_date": [day] * 3})
    with pytest.raises(MixedSentimentModelsError, match="finbert@abc"):
        check_single_sentiment_model(both, day, day)


def test_sessions_without_data_train_nothing_and_stay_unmaterialized(warehouse, tracking):
    """A backfill reaching past the data (the model's window pulls in later partitions) must not
    register versions "trained through" empty sessions nor mark them materialized."""
    insert_synthetic(warehouse, SESSIONS[:8], news_effect=0.6, seed=8)
    result = train(warehouse, tracking, SESSIONS[6], SESSIONS[10])
    assert result.success
    runs = model_runs(warehouse)
    assert runs["status"].to_list() == ["trained", "trained", "no data", "no data", "no data"]
    assert runs.filter(runs["status"] == "no data")["mlflow_run_id"].null_count() == 3
    assert "no labelled regular-hours rows" in runs["reason"][2]
    versions = tracking.client().search_model_versions(f"name='{tracking.registered_model_name}'")
    assert sorted(mv.tags["finsig.trained_through"] for mv in versions) == [str(SESSIONS[6]), str(SESSIONS[7])]
    # Partitions are the sessions the models serve: the sessions after SESSIONS[6] and SESSIONS[7].
    assert materialized_partitions(result, "ml/direction_model") == [str(SESSIONS[7]), str(SESSIONS[8])]
    assert metadata_for(result, SESSIONS[8])["model_version"] == 2
    assert metadata_for(result, SESSIONS[7])["run_no_data"] == 3


def test_a_run_over_sessions_without_data_only_materializes_nothing(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:8], seed=9)
    result = train(warehouse, tracking, SESSIONS[9], SESSIONS[10])
    assert result.success
    assert materialized_partitions(result) == []
    assert model_runs(warehouse)["status"].to_list() == ["no data", "no data"]
    assert tracking.client().search_model_versions(f"name='{tracking.registered_model_name}'") == []


def test_the_same_data_and_configuration_reuse_the_version_and_leave_the_aliases(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:12], news_effect=0.6, seed=1)
    train(warehouse, tracking, D)
    client = client_of(tracking)
    name = tracking.registered_model_name
    client.set_registered_model_alias(name, "champion", "1")
    # A re-materialization (or a backfill over it): nothing new to learn from.
    result = train(warehouse, tracking, D)
    run = model_runs(warehouse).row(0, named=True)
    assert run["model_version"] == 1 and run["reason"].startswith("reused v1")
    assert run["promoted"] is True and run["champion_alias_moved"] is False
    assert run["model_auc"] == pytest.approx(client.get_run(run["mlflow_run_id"]).data.metrics["cv_model_auc"])
    assert len(client.search_model_versions(f"name='{name}'")) == 1
    meta = metadata_of(result)
    assert meta["reused_version"] is True and meta["model_version"] == 1 and "Reused v1" in meta["outcome"]
    # Another configuration is another model.
    train(warehouse, tracking, D, max_depth=3)
    assert model_runs(warehouse).row(0, named=True)["model_version"] == 2
    # New data in the window is new evidence.
    insert_synthetic(warehouse, SESSIONS[11:12], news_effect=0.6, seed=99)
    train(warehouse, tracking, D)
    assert model_runs(warehouse).row(0, named=True)["model_version"] == 3


def test_a_session_without_labelled_data_trains_nothing_and_says_why(warehouse, tracking):
    insert_synthetic(warehouse, SESSIONS[:8] + SESSIONS[9:12], news_effect=0.6, seed=10)
    result = train(warehouse, tracking, SESSIONS[8])
    # Done, with nothing to train: materialized (so downstream steps of the run go on), and says why.
    assert result.success and materialized_partitions(result) == [str(model_for(SESSIONS[8]))]
    meta = metadata_of(result)
    assert "No model trained" in meta["outcome"]
    # It is materialized, so the outcome does not say it is not; the window reads as none, not "None..None".
    assert "materialized" not in meta["outcome"] and "None" not in meta["window"]
    run = model_runs(warehouse).row(0, named=True)
    assert run["status"] == "no data" and run["mlflow_run_id"] is None
    assert f"no labelled regular-hours rows in {SESSIONS[8]}" in run["reason"]
    assert "the session has no labelled data" in run["reason"]
    assert tracking.client().search_model_versions(f"name='{tracking.registered_model_name}'") == []


def test_in_a_backfill_a_challenger_meets_the_champions_recomputed_record(warehouse, tracking):
    """One run trains v1 and v2 before anything is predicted: v2 is still judged against v1's
    record on the session v1 would have served, recomputed from the same rows."""
    insert_synthetic(warehouse, SESSIONS[:13], news_effect=0.6, seed=1)
    train(warehouse, tracking, SESSIONS[11], SESSIONS[12])
    first, second = model_runs(warehouse).rows(named=True)
    assert first["promoted"], first["decision_reasons"]
    labelled = warehouse.query(
        "SELECT count(*) AS n FROM gold.training_examples WHERE trade_date = ? AND is_rth AND label_up IS NOT NULL", [SESSIONS[12]]
    )["n"][0]
    assert f"vs champion v1's out-of-sample record (same rows, {labelled:,} rows, {SESSIONS[12]}..{SESSIONS[12]})" in second["decision_reasons"]
    assert "no usable out-of-sample record" not in second["decision_reasons"]
    # The recomputed record is what ml/predictions stores once it runs.
    from finsig_assets.ml.oos_record import champion_recent_predictions, recomputed_record
    from finsig_assets.ml.predictions import mlflow_load, predictions
    from finsig_assets.ml.training_table import discover_features, read_labelled_examples
    from finsig_assets_tests.ml.ml_helpers import materialize

    materialize([predictions], warehouse, tracking, SESSIONS[12])
    stored = champion_recent_predictions(warehouse, tracking.registered_model_name, 1, SESSIONS[12], 20)
    examples = read_labelled_examples(warehouse, SESSIONS[0], SESSIONS[12], discover_features(warehouse), True)
    again = recomputed_record(mlflow_load(tracking, 1), examples, SESSIONS[11], SESSIONS[12], 20)
    assert stored.height == again.height == labelled
    assert (stored["ts"] == again["ts"]).all()
    assert abs(stored["p_up"] - again["p_up"]).max() < 1e-9
