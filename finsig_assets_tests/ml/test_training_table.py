"""gold.training_examples contract: features discovered from the table, reads stop at the partition."""

from __future__ import annotations

import datetime as dt

import polars as pl

import pytest

from finsig_assets.ml.default_features import DEFAULT_EXCLUDED_FEATURES
from finsig_assets.ml.training_table import (
    FeatureSet,
    discover_features,
    features_from_columns,
    read_labelled_examples,
    window_sessions,
    without_features,
)
from finsig_assets_tests.ml.ml_helpers import SESSIONS, insert_synthetic


def test_features_are_every_numeric_non_key_column_split_by_news_prefix():
    fs = features_from_columns(
        [
            ("instrument", "VARCHAR"),
            ("ts", "TIMESTAMP WITH TIME ZONE"),
            ("trade_date", "DATE"),
            ("is_rth", "BOOLEAN"),
            ("sentiment_model", "VARCHAR"),
            ("fwd_return_30m", "DOUBLE"),
            ("label_up", "BOOLEAN"),
            ("fwd_return_60m", "DOUBLE"),
            ("ret_30m", "DOUBLE"),
            ("news_count_60m", "INTEGER"),
            ("some_flag", "BOOLEAN"),
            ("bars_seen", "BIGINT"),
            ("price_level", "DECIMAL(18,3)"),
        ]
    )
    assert fs.market == ("ret_30m", "bars_seen", "price_level")
    assert fs.news == ("news_count_60m",)


def test_discovery_follows_the_ddl_and_a_new_column_needs_no_code(warehouse):
    fs = discover_features(warehouse)
    assert "ret_30m" in fs.market and "minutes_to_close" in fs.market
    assert fs.news and all(c.startswith("news_") for c in fs.news)
    assert not {"fwd_return_30m", "label_up", "is_rth", "ts"} & set(fs.all)
    with warehouse.connection() as conn:
        conn.execute("ALTER TABLE gold.training_examples ADD COLUMN news_brand_new DOUBLE")
    assert "news_brand_new" in discover_features(warehouse).news


def test_excluded_features_leave_the_set_and_a_misspelt_one_is_refused():
    fs = FeatureSet(("ret_1m", "sma_7", "ret_30m"), ("news_count_15m", "news_decayed_sentiment"))
    kept = without_features(fs, ["sma_7", "news_count_15m"])
    assert kept == FeatureSet(("ret_1m", "ret_30m"), ("news_decayed_sentiment",))
    assert without_features(fs, []) == fs
    with pytest.raises(ValueError, match=r"\['sma_07'\] are not features of gold.training_examples.*ret_1m, sma_7"):
        without_features(fs, ["sma_07", "ret_1m"])


def test_the_launchpad_shows_the_default_exclusions():
    # Dagster shows a field's default only when the config schema carries it (a pydantic
    # default_factory gives "optional, no default": the launchpad hid the 21 columns).
    from finsig_assets.ml.training_config import DirectionModelConfig

    field = DirectionModelConfig.to_config_schema().as_field().config_type.fields["exclude_features"]
    assert field.default_provided and field.default_value == list(DEFAULT_EXCLUDED_FEATURES)


def test_the_default_exclusions_are_columns_of_the_table(warehouse):
    # A default naming a column the DDL no longer has would stop every model run.
    fs = discover_features(warehouse)
    kept = without_features(fs, DEFAULT_EXCLUDED_FEATURES)
    assert set(kept.all) == set(fs.all) - set(DEFAULT_EXCLUDED_FEATURES)
    assert kept.market and kept.news


def test_window_is_sessions_ending_at_the_partition():
    assert window_sessions(dt.date(2024, 3, 11), 3) == [dt.date(2024, 3, 7), dt.date(2024, 3, 8), dt.date(2024, 3, 11)]


def test_labelled_read_keeps_rth_labelled_rows_up_to_the_partition_only(warehouse):
    frame = insert_synthetic(warehouse, SESSIONS[:3], all_hours=True)
    fs = discover_features(warehouse)
    rows = read_labelled_examples(warehouse, SESSIONS[0], SESSIONS[1], fs, rth_only=True)
    assert set(rows["trade_date"].to_list()) == set(SESSIONS[:2])
    assert rows["is_rth"].all() and rows["label_up"].null_count() == 0
    expected = frame.filter(
        pl.col("trade_date").is_in(SESSIONS[:2]) & pl.col("is_rth") & pl.col("label_up").is_not_null()
    ).height
    assert rows.height == expected
    every = read_labelled_examples(warehouse, SESSIONS[0], SESSIONS[1], fs, rth_only=False)
    assert every.height > rows.height and not every["is_rth"].all()


def test_a_label_reaching_past_the_partition_cutoff_is_not_read(warehouse):
    """Defensive: even a (contract-violating) label whose horizon ends after 17:00 NY is dropped."""
    frame = insert_synthetic(warehouse, SESSIONS[:1], all_hours=True)
    late = frame.filter(pl.col("label_up").is_null()).with_columns(pl.lit(True).alias("label_up"), pl.lit(1e-4).alias("fwd_return_30m"))
    from finsig_assets_tests.ml.synthetic_examples import insert_examples

    insert_examples(warehouse, pl.concat([frame.filter(pl.col("label_up").is_not_null()), late]))
    rows = read_labelled_examples(warehouse, SESSIONS[0], SESSIONS[0], discover_features(warehouse), rth_only=False)
    cutoff = dt.datetime(2024, 3, 4, 22, 0, tzinfo=dt.timezone.utc)  # 17:00 New York (EST)
    assert rows.height > 0
    assert (rows["ts"] + dt.timedelta(minutes=30) <= cutoff).all()
    assert rows["ts"].max() == cutoff - dt.timedelta(minutes=30)
