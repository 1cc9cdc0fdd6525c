"""The runner's ``-- checks:`` header: parsed into blocking asset checks, refused with file:line."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from finsig_assets import settings
from finsig_assets.sql_models import SqlModelError, build_sql_asset, load_sql_model
from finsig_assets.table_checks import LabelsWithinSession, OneRowPer, UniqueKeys
from finsig_assets.warehouse import DuckDBWarehouse
from finsig_assets_tests.sql_models.model_dirs import model_dir
from finsig_assets_tests.sql_models.synthetic_bars import insert_bars, synthetic_bars
from finsig_assets_tests.check_results import own_check_names, table_checks

TINY_DDL = """\
CREATE SCHEMA IF NOT EXISTS gold;
CREATE TABLE IF NOT EXISTS gold.tiny (
    instrument VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    trade_date DATE NOT NULL,
    close      DOUBLE
);
"""
HEADER = "-- asset: gold/tiny\n-- description: d\n-- config: min_close=0.0\n"
BODY = """\
--
SELECT instrument, ts, trade_date, close
FROM silver.market_bars
WHERE trade_date BETWEEN $first_date AND $last_date AND close > $min_close
"""


@pytest.fixture
def sql_dir(tmp_path, monkeypatch) -> Path:
    return model_dir(tmp_path, monkeypatch, "gold.tiny", TINY_DDL)


def write(sql_dir: Path, checks: str, body: str = BODY) -> Path:
    path = sql_dir / "gold.tiny.sql"
    path.write_text(HEADER + f"-- checks: {checks}\n" + body)
    return path


def test_real_models_declare_their_checks():
    models = {p.stem: load_sql_model(p) for p in settings.sql_dir().glob("*.sql")}
    keys = UniqueKeys("gold.market_features", ("instrument", "ts"))
    assert models["gold.market_features"].checks == (
        keys, OneRowPer("gold.market_features", "silver.market_bars", ("instrument", "ts"))
    )
    assert models["gold.news_signals"].checks == (
        UniqueKeys("gold.news_signals", ("instrument", "ts")),
        OneRowPer("gold.news_signals", "silver.market_bars", ("instrument", "ts")),
    )
    assert models["gold.training_examples"].checks == (
        UniqueKeys("gold.training_examples", ("instrument", "ts")),
        OneRowPer("gold.training_examples", "silver.market_bars", ("instrument", "ts"), "is_rth OR NOT $rth_only"),
        LabelsWithinSession("gold.training_examples", "fwd_return_30m", "label_up"),
    )


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ("unique_key(instrument, ts)", "unknown check 'unique_key'"),
        ("unique_keys instrument", "is not name\\(arguments\\)"),
        ("unique_keys(instrument, ts", "unclosed \\("),
        ("unique_keys(instrument, Ts)", "'Ts' is not a column name"),
        ("unique_keys(instrument, tss)", "check unique_non_null_keys: Binder Error.*tss"),
        ("one_row_per(silver.market_bars)", "declare unique_keys too"),
        ("unique_keys(ts), one_row_per(silver.no_such_table)", "no DDL for silver.no_such_table"),
        ("unique_keys(ts), one_row_per(silver.market_bars WHERE is_rthh)", "one_row_per_silver_market_bars: Binder Error.*is_rthh"),
        ("unique_keys(ts), one_row_per(silver.market_bars WHERE $rth_only)", "the checks use \\$rth_only: declare them in '-- config:'"),
        ("unique_keys(ts), one_row_per(silver.market_bars; DROP TABLE x)", "expected one_row_per\\(schema.table"),
        ("labels_within_session(close, close)", "\\$horizon_minutes, \\$max_gap_minutes: declare them"),
        ("unique_keys(ts), unique_keys(instrument)", "unique_keys\\(...\\) is given twice"),
        ("unique_keys(ts), one_row_per(silver.market_bars), one_row_per(silver.market_bars WHERE is_rth)", "declared twice"),
    ],
)
def test_bad_checks_name_the_file_and_header_line(sql_dir, checks, message):
    path = write(sql_dir, checks)
    with pytest.raises(SqlModelError, match=message) as err:
        load_sql_model(path)
    assert str(err.value).startswith(f"{path}:4: checks: ")


def test_declared_checks_become_blocking_specs_and_run(sql_dir, tmp_path):
    path = write(sql_dir, "unique_keys(instrument, ts), one_row_per(silver.market_bars WHERE close > $min_close)")
    asset = build_sql_asset(path)
    assert set(own_check_names(asset)) == {"unique_non_null_keys", "one_row_per_silver_market_bars"}
    assert all(spec.blocking for spec in asset.check_specs if spec.name in own_check_names(asset))
    assert asset.metadata_by_key[asset.key]["checks"] == "unique_non_null_keys, one_row_per_silver_market_bars"

    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lock_timeout_seconds=60)
    insert_bars(warehouse, synthetic_bars("2024-03-04", "2024-03-07", seed=2))
    median = warehouse.query("SELECT median(close) AS m FROM silver.market_bars")["m"][0]
    result = dg.materialize(
        [asset], partition_key="2024-03-05", resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {asset.op.name: {"config": {"min_close": median}}}},
    )
    found = {e.check_name: e for e in table_checks(result)}
    assert found["unique_non_null_keys"].passed and found["one_row_per_silver_market_bars"].passed
    assert f"(min_close={median})" in found["one_row_per_silver_market_bars"].description


def test_a_model_that_drops_a_row_fails_its_coverage_check(sql_dir, tmp_path):
    body = BODY + "  AND ts <> (SELECT min(ts) FROM silver.market_bars WHERE trade_date = $first_date)\n"
    asset = build_sql_asset(write(sql_dir, "unique_keys(instrument, ts), one_row_per(silver.market_bars)", body))
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lock_timeout_seconds=60)
    insert_bars(warehouse, synthetic_bars("2024-03-04", "2024-03-07", seed=2))
    result = dg.materialize(
        [asset], partition_key="2024-03-05", resources={"warehouse": warehouse},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )
    assert not result.success
    found = {e.check_name: e for e in table_checks(result)}
    assert found["unique_non_null_keys"].passed
    cover = found["one_row_per_silver_market_bars"]
    assert not cover.passed and cover.metadata["missing_rows"].value == 1 and cover.metadata["extra_rows"].value == 0
    assert cover.description.startswith("gold.tiny 2024-03-05: 1 silver.market_bars row without a row here (missing)")
