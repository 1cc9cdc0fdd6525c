"""The silver/gold table checks: pass on good data, FAIL (saying what is wrong) on injected faults.

A small gold warehouse (five sessions with an early close and a data outage) is built once by
materializing the three gold models; each test copies its file and injects one fault: a
duplicate key, a missing or extra gold row, a label crossing an early close or a gap. The last
tests run whole assets: a failing blocking check stops the downstream asset in the same run.
"""

from __future__ import annotations

import datetime as dt
import importlib
import shutil

import dagster as dg
import polars as pl
import pytest

from finsig_assets.partition_scope import PartitionScope
from finsig_assets.sql_models import build_sql_assets
from finsig_assets.table_checks import LabelsWithinSession, OneRowPer, UniqueKeys, run_checks
from finsig_assets.trading_calendar import NEW_YORK, UTC
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.sql_models.synthetic_bars import finish_silver, synthetic_bars, warehouse_with_bars
from finsig_assets_tests.check_results import own_check_names, table_checks

FIRST, LAST = "2024-07-01", "2024-07-05"  # 07-03 closes at 13:00, 07-04 is a holiday
SCOPE = PartitionScope.of(FIRST, LAST)
LABEL_VALUES = {"horizon_minutes": 30, "max_gap_minutes": 5, "rth_only": True}
GOLD = {"gold/market_features", "gold/news_signals", "gold/training_examples"}
EXPECTED_CHECKS = {
    ("gold/market_features", "unique_non_null_keys"),
    ("gold/market_features", "one_row_per_silver_market_bars"),
    ("gold/news_signals", "unique_non_null_keys"),
    ("gold/news_signals", "one_row_per_silver_market_bars"),
    ("gold/training_examples", "unique_non_null_keys"),
    ("gold/training_examples", "one_row_per_silver_market_bars"),
    ("gold/training_examples", "labels_within_session"),
}


def ny(day: str, hhmm: str) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), tzinfo=NEW_YORK).astimezone(UTC)


def gold_assets(sql_dir=None) -> list[dg.AssetsDefinition]:
    return [a for a in build_sql_assets(sql_dir) if a.key.to_user_string() in GOLD]


def materialize_range(assets, warehouse, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
        **kwargs,
    )


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in table_checks(result)}


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    frame = synthetic_bars(FIRST, LAST, seed=5, missing_fraction=0.01)
    outage = (pl.col("ts") >= ny("2024-07-02", "11:00")) & (pl.col("ts") < ny("2024-07-02", "11:12"))
    return finish_silver(frame.filter(~outage).drop("trade_date", "is_rth", "minutes_to_close", "gap_minutes"))


@pytest.fixture(scope="module")
def built(bars, tmp_path_factory):
    warehouse = warehouse_with_bars(tmp_path_factory.mktemp("checks") / "built.duckdb", bars)
    result = materialize_range(gold_assets(), warehouse)
    assert result.success
    return warehouse, result


@pytest.fixture
def gold(built, tmp_path) -> DuckDBWarehouse:
    """A private copy of the good warehouse, to inject a fault into."""
    source, _ = built
    shutil.copy(source.database, tmp_path / "copy.duckdb")
    return DuckDBWarehouse(database=str(tmp_path / "copy.duckdb"), lock_timeout_seconds=60)


def check(warehouse, checks, values=None, scope=SCOPE) -> dg.AssetCheckResult:
    (result,) = run_checks(warehouse, ["gold", "x"], checks, scope, values)
    return result


def execute(warehouse, sql: str, params=None) -> None:
    with warehouse.transaction() as tx:
        tx.execute(sql, params)


# --------------------------------------------------------------------- good data


def test_every_gold_check_passes_on_good_data_and_says_so(built):
    warehouse, result = built
    found = evaluations(result)
    assert set(found) == EXPECTED_CHECKS
    assert all(e.passed for e in found.values()), [e.description for e in found.values() if not e.passed]
    assert all(e.severity == dg.AssetCheckSeverity.ERROR for e in found.values())
    keys = found[("gold/market_features", "unique_non_null_keys")]
    assert keys.description.startswith(f"gold.market_features {FIRST}..{LAST}: ")
    silver_rows = warehouse.query("SELECT count(*) AS n FROM silver.market_bars")["n"][0]
    assert keys.metadata["rows_checked"].value == silver_rows
    assert keys.metadata["duplicate_keys"].value == 0 and keys.metadata["null_key_rows"].value == 0
    cover = found[("gold/training_examples", "one_row_per_silver_market_bars")]
    rth = warehouse.query("SELECT count(*) AS n FROM silver.market_bars WHERE is_rth")["n"][0]
    assert cover.metadata["expected_rows"].value == cover.metadata["actual_rows"].value == rth
    assert "none missing, none extra" in cover.description
    labels = found[("gold/training_examples", "labels_within_session")]
    assert labels.metadata["labelled_rows"].value > 0.8 * rth
    assert labels.metadata["violating_rows"].value == 0 and labels.metadata["horizon_minutes"].value == 30


def test_checks_are_blocking_error_specs_on_their_assets():
    assets = {a.key.to_user_string(): a for a in gold_assets()}
    specs = {(s.asset_key.to_user_string(), s.name): s for a in assets.values() for s in a.check_specs if s.name in own_check_names(a)}
    assert set(specs) == EXPECTED_CHECKS
    assert all(s.blocking for s in specs.values())


# --------------------------------------------------------------------- unique_non_null_keys


def test_duplicate_gold_key_fails_both_key_and_coverage_checks(gold):
    execute(gold, "INSERT INTO gold.market_features SELECT * FROM gold.market_features WHERE ts = ?", [ny("2024-07-02", "10:00")])
    keys = check(gold, [UniqueKeys("gold.market_features", ("instrument", "ts"))])
    assert not keys.passed and keys.severity == dg.AssetCheckSeverity.ERROR
    assert keys.metadata["duplicate_keys"].value == 1 and keys.metadata["duplicate_rows"].value == 1
    assert "1 key (instrument, ts) appears more than once (1 surplus row)" in keys.description
    assert "SPX500_USD, 2024-07-02 14:00:00+00" in keys.metadata["examples"].value
    cover = check(gold, [OneRowPer("gold.market_features", "silver.market_bars", ("instrument", "ts"))])
    assert not cover.passed and "1 surplus row repeating an upstream row" in cover.description


def test_duplicate_in_another_partition_counts(gold):
    """A key written for this range that still has a row in another partition is a duplicate."""
    execute(gold, "CREATE TABLE silver.scratch (article_id VARCHAR, trade_date DATE)")
    execute(gold, "INSERT INTO silver.scratch VALUES ('a1', DATE '2024-07-01'), ('a1', DATE '2024-06-28'), ('a2', DATE '2024-07-01')")
    result = check(gold, [UniqueKeys("silver.scratch", ("article_id",))], scope=PartitionScope.of("2024-07-01"))
    assert not result.passed and result.metadata["duplicate_keys"].value == 1
    assert "[2024-06-28, 2024-07-01]" in result.metadata["examples"].value


def test_null_key_and_missing_trade_date_fail(gold):
    execute(gold, "CREATE TABLE gold.scratch (instrument VARCHAR, ts TIMESTAMPTZ, trade_date DATE)")
    execute(
        gold,
        "INSERT INTO gold.scratch VALUES ('SPX500_USD', ?, DATE '2024-07-02'), (NULL, ?, DATE '2024-07-02'), ('SPX500_USD', ?, NULL)",
        [ny("2024-07-02", "10:00"), ny("2024-07-02", "10:01"), ny("2024-07-02", "10:02")],
    )
    result = check(gold, [UniqueKeys("gold.scratch", ("instrument", "ts"))])
    assert not result.passed
    assert result.metadata["null_key_rows"].value == 1 and result.metadata["null_trade_date_rows"].value == 1
    assert "1 row with a NULL in (instrument, ts)" in result.description
    assert "1 row of the table without a trade_date" in result.description


# --------------------------------------------------------------------- one_row_per


def test_missing_and_extra_gold_rows_fail_with_examples(gold):
    gone = ny("2024-07-02", "10:00")
    execute(gold, "DELETE FROM gold.news_signals WHERE ts = ?", [gone])
    execute(
        gold,
        "INSERT INTO gold.news_signals (instrument, ts, trade_date) VALUES ('SPX500_USD', ?, DATE '2024-07-03')",
        [ny("2024-07-03", "10:00") + dt.timedelta(seconds=30)],  # no bar opens at that instant
    )
    result = check(gold, [OneRowPer("gold.news_signals", "silver.market_bars", ("instrument", "ts"))])
    assert not result.passed
    assert result.metadata["missing_rows"].value == 1 and result.metadata["extra_rows"].value == 1
    assert "1 silver.market_bars row without a row here (missing)" in result.description
    assert "1 row with no silver.market_bars row (extra)" in result.description
    examples = result.metadata["examples"].value
    missing, extra = [line for line in examples.splitlines() if line.startswith(("| missing", "| extra"))]
    assert "SPX500_USD, 2024-07-02 14:00:00+00" in missing and "2024-07-03 14:00:30+00" in extra


def test_where_filter_binds_the_run_config(gold):
    """training_examples covers regular-hours bars only when rth_only (the run's value) says so."""
    spec = OneRowPer("gold.training_examples", "silver.market_bars", ("instrument", "ts"), "is_rth OR NOT $rth_only")
    assert check(gold, [spec], {"rth_only": True}).passed
    all_bars = check(gold, [spec], {"rth_only": False})
    assert not all_bars.passed and all_bars.metadata["missing_rows"].value > 1000


# --------------------------------------------------------------------- labels_within_session


def label_candidate(gold, day: str, close: str) -> dt.datetime:
    """The last RTH bar before ``close`` whose bar 30 min later exists (so only the close is wrong)."""
    frame = gold.query(
        "SELECT c.ts FROM silver.market_bars c JOIN silver.market_bars h "
        "ON h.instrument = c.instrument AND h.ts = c.ts + INTERVAL 30 MINUTE "
        "WHERE c.trade_date = ? AND c.is_rth AND c.ts < ? AND h.ts >= ? ORDER BY c.ts DESC LIMIT 1",
        [dt.date.fromisoformat(day), ny(day, close), ny(day, close)],
    )
    return frame["ts"][0]


def set_true_label(gold, ts: dt.datetime) -> None:
    """Give the row at ts the label the silver bars imply, ignoring the session rules."""
    execute(
        gold,
        """
        UPDATE gold.training_examples AS e
        SET fwd_return_30m = ln(h.close / c.close), label_up = ln(h.close / c.close) > 0
        FROM silver.market_bars AS c, silver.market_bars AS h
        WHERE e.ts = ? AND c.instrument = e.instrument AND c.ts = e.ts
          AND h.instrument = e.instrument AND h.ts = e.ts + INTERVAL 30 MINUTE
        """,
        [ts],
    )


LABELS = [LabelsWithinSession("gold.training_examples", "fwd_return_30m", "label_up")]


def test_label_crossing_an_early_close_fails(gold):
    assert check(gold, LABELS, LABEL_VALUES).passed
    ts = label_candidate(gold, "2024-07-03", "13:00")  # the early close
    set_true_label(gold, ts)
    result = check(gold, LABELS, LABEL_VALUES)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["violating_rows"].value == 1
    assert result.metadata["violations_by_reason"].value == {"crosses_early_close": 1}
    assert "1 labelled row of" in result.description and "crosses_early_close 1" in result.description
    assert ts.strftime("%Y-%m-%d %H:%M") in result.metadata["violations"].value


def test_label_crossing_a_normal_close_or_a_gap_fails(gold):
    set_true_label(gold, label_candidate(gold, "2024-07-01", "16:00"))
    before_outage = ny("2024-07-02", "10:50")  # the 11:00-11:12 outage is inside its horizon
    set_true_label(gold, before_outage)
    result = check(gold, LABELS, LABEL_VALUES)
    assert not result.passed
    assert result.metadata["violations_by_reason"].value == {"crosses_close": 1, "gap_over_max": 1}
    # With a longer max gap the outage is allowed; the close never is.
    relaxed = check(gold, LABELS, {**LABEL_VALUES, "max_gap_minutes": 15})
    assert relaxed.metadata["violations_by_reason"].value == {"crosses_close": 1}


def test_label_up_and_return_must_match_the_bars(gold):
    ts = ny("2024-07-02", "10:00")
    execute(gold, "UPDATE gold.training_examples SET label_up = NOT label_up, fwd_return_30m = fwd_return_30m + 0.01 WHERE ts = ?", [ts])
    result = check(gold, LABELS, LABEL_VALUES)
    assert not result.passed
    assert set(result.metadata["violations_by_reason"].value) <= {"label_up_disagrees", "return_disagrees"}
    assert result.metadata["violations_by_reason"].value["return_disagrees"] == 1


# --------------------------------------------------------------------- whole assets


def test_broken_label_rule_fails_the_gold_check_in_a_run(bars, tmp_path, monkeypatch):
    """A model that forgets the close rule is caught by the independent re-derivation."""
    from finsig_assets import settings

    sql_dir = tmp_path / "dbt_like_sql"
    shutil.copytree(settings.sql_dir(), sql_dir)
    model = sql_dir / "gold.training_examples.sql"
    text = model.read_text()
    rule = "             AND NOT (cur.ts < cur.rth_close AND nxt.ts >= cur.rth_close)\n"
    assert rule in text
    model.write_text(text.replace(rule, ""))
    monkeypatch.setenv("FINSIG_SQL_DIR", str(sql_dir))
    warehouse = warehouse_with_bars(tmp_path / "w.duckdb", bars)
    result = materialize_range(gold_assets(sql_dir), warehouse, raise_on_error=False)
    assert not result.success
    labels = evaluations(result)[("gold/training_examples", "labels_within_session")]
    assert not labels.passed
    reasons = labels.metadata["violations_by_reason"].value
    assert set(reasons) == {"crosses_close", "crosses_early_close"} and reasons["crosses_early_close"] >= 1
    assert f"gold.training_examples {FIRST}..{LAST}:" in labels.description


def test_failing_blocking_check_skips_the_downstream_asset(warehouse, monkeypatch):
    """silver/market_bars writes a duplicate bar (its dedupe broken): gold/market_features never runs."""
    from finsig_assets.silver import market_bars  # the asset (the package re-exports it over the module)
    from finsig_assets.sql_models import market_features
    from finsig_assets_tests.silver.bronze_rows import candle_rows, insert_candles
    from finsig_assets_tests.silver.bronze_rows import ny as ny_bronze

    day = "2024-07-02"
    times = [ny_bronze(day, f"10:{m:02d}") for m in range(5)]
    insert_candles(warehouse, candle_rows(times) + candle_rows(times[:1]))  # bronze holds a duplicate
    monkeypatch.setattr(importlib.import_module("finsig_assets.silver.market_bars"), "dedupe_bars", lambda bars: bars)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [market_bars, market_features], partition_key=day, resources={"warehouse": warehouse},
        instance=instance, raise_on_error=False,
    )
    assert not result.success
    found = evaluations(result)
    keys = found[("silver/market_bars", "unique_non_null_keys")]
    assert not keys.passed and keys.metadata["duplicate_keys"].value == 1
    assert f"silver.market_bars {day}: 1 key (instrument, ts) appears more than once" in keys.description
    assert result.is_node_failed(market_bars.op.name)
    gold_step = market_features.op.name
    assert not [e for e in result.all_events if e.step_key == gold_step]  # never started
    assert [e.materialization.asset_key for e in result.get_asset_materialization_events()] == [market_bars.key]
    assert warehouse.query("SELECT count(*) AS n FROM gold.market_features")["n"][0] == 0


def test_silver_assets_report_their_key_check(warehouse):
    from finsig_assets.silver import market_bars
    from finsig_assets_tests.silver.bronze_rows import candle_rows, insert_candles
    from finsig_assets_tests.silver.bronze_rows import materialize as materialize_silver
    from finsig_assets_tests.silver.bronze_rows import ny as ny_bronze

    insert_candles(warehouse, candle_rows([ny_bronze("2024-07-02", "10:00"), ny_bronze("2024-07-02", "10:01")]))
    result = materialize_silver(market_bars, warehouse, "2024-07-02")
    (evaluation,) = table_checks(result)
    assert evaluation.check_name == "unique_non_null_keys" and evaluation.passed
    assert evaluation.description == (
        "silver.market_bars 2024-07-02: 2 rows, every (instrument, ts) set and unique in the table, "
        "every row has a trade_date."
    )
