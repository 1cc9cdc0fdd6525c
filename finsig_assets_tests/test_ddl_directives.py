"""``-- columns of <table> except ...`` in a DDL file: one table's columns declared by another's DDL.

gold.training_examples repeats the features of gold.market_features and gold.news_signals; its
DDL names them by directive (``finsig_assets.warehouse.ddl_text``), so a feature added upstream
is one edit, and reaches an existing warehouse by the schema migration's ADD COLUMN.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from finsig_assets import settings
from finsig_assets import warehouse as warehouse_module
from finsig_assets.sql_models import SqlModelError, load_sql_model
from finsig_assets.warehouse import DdlError, DuckDBWarehouse, ddl_text, polars_schema, table_ddl_files, table_schema

KEYS = ("instrument", "ts", "trade_date")
OWN = ["instrument", "ts", "trade_date", "is_rth", "sentiment_model", "fwd_return_30m", "label_up"]
DIRECTIVE = "    -- columns of gold.market_features except instrument, ts, trade_date\n"


@pytest.fixture
def sql_dir(tmp_path, monkeypatch) -> Path:
    """A copy of dbt_like_sql/ (models and DDL) set as FINSIG_SQL_DIR; nothing checked against it yet."""
    root = tmp_path / "dbt_like_sql"
    shutil.copytree(settings.sql_dir(), root)
    monkeypatch.setenv("FINSIG_SQL_DIR", str(root))
    monkeypatch.setattr(warehouse_module, "_SCHEMA_READY", set())
    return root


def _live(path: Path, table: str) -> list[tuple[str, str]]:
    schema, name = table.split(".")
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()


def test_training_examples_are_their_own_columns_then_the_features_of_both_upstream_tables():
    declared = table_schema("gold.training_examples")
    market = [c for c in table_schema("gold.market_features") if c[0] not in KEYS]
    news = [c for c in table_schema("gold.news_signals") if c[0] not in (*KEYS, "sentiment_model")]
    assert [c for c, _ in declared[: len(OWN)]] == OWN
    assert list(declared[len(OWN) :]) == market + news  # names, types and order as upstream declares them
    assert len(polars_schema("gold.training_examples")) == len(declared)
    text = ddl_text(settings.sql_dir() / "tables" / "gold.training_examples.sql")
    assert '"ret_1m" DOUBLE,' in text and '"news_count_15m" INTEGER,' in text
    assert text.rstrip().endswith('"news_minutes_since_last" DOUBLE\n);')  # the list's last entry: no comma


def test_files_without_a_directive_are_read_byte_for_byte():
    """Their recorded DDL hashes stay what they were."""
    plain = [p for p in table_ddl_files() if "-- columns of" not in p.read_text()]
    assert len(plain) == len(table_ddl_files()) - 1
    for path in plain:
        assert ddl_text(path).encode() == path.read_bytes(), path.name


def test_a_column_added_upstream_reaches_an_existing_warehouses_training_examples(sql_dir, tmp_path):
    """A warehouse created under the old DDL, opened under a market_features DDL with one more column:
    both tables gain it by ADD COLUMN, the rows already there keep it NULL, and both changes are recorded."""
    path = tmp_path / "w.duckdb"
    with DuckDBWarehouse(database=str(path)).connection() as conn:
        conn.execute(
            "INSERT INTO gold.training_examples (instrument, ts, trade_date, is_rth, ret_1m) "
            "VALUES ('EURUSD', TIMESTAMPTZ '2024-05-22 14:00:00+00', DATE '2024-05-22', true, 0.5)"
        )
    before = _live(path, "gold.training_examples")

    ddl = sql_dir / "tables" / "gold.market_features.sql"
    lines = ddl.read_text().splitlines(keepends=True)
    after = next(i for i, line in enumerate(lines) if line.split()[:1] == ["trade_date"])
    lines.insert(after + 1, "    spread_bps DOUBLE,  -- a new feature, the first after the keys\n")
    ddl.write_text("".join(lines))
    warehouse_module._SCHEMA_READY.clear()  # a new process, with the new DDL
    with DuckDBWarehouse(database=str(path)).connection() as conn:
        row = conn.execute("SELECT ret_1m, spread_bps FROM gold.training_examples").fetchall()
        changes = dict(
            conn.execute(
                "SELECT table_name, change FROM meta.schema_versions WHERE change LIKE 'added%' ORDER BY table_name"
            ).fetchall()
        )
    assert _live(path, "gold.training_examples") == [*before, ("spread_bps", "DOUBLE")]
    assert _live(path, "gold.market_features")[-1] == ("spread_bps", "DOUBLE")
    assert row == [(0.5, None)]
    assert changes == {"gold.market_features": "added columns spread_bps", "gold.training_examples": "added columns spread_bps"}
    # Declared (a new warehouse's order): the first market feature, as in gold.market_features.
    names = [c for c, _ in table_schema("gold.training_examples", sql_dir / "tables" / "gold.training_examples.sql")]
    assert names.index("spread_bps") == len(OWN)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    -- columns of gold.no_such_table\n", "'-- columns of gold.no_such_table': no such table (no DDL file"),
        (
            "    -- columns of gold.market_features except instrument, ts, trade_date, rsi_99\n",
            "'-- columns of gold.market_features' excepts rsi_99, which gold.market_features does not have",
        ),
        ("    -- columns of gold.market_features except ts, ts\n", "excepts ts twice"),
        ("    -- columns of gold.market_features but ts\n", "is not a directive '-- columns of <schema>.<table>"),
        ("    -- columns of gold.training_examples\n", "refers back to this file"),
    ],
)
def test_a_directive_that_does_not_expand_names_the_file_and_line(sql_dir, tmp_path, line, message):
    path = sql_dir / "tables" / "gold.training_examples.sql"
    lines = path.read_text().splitlines(keepends=True)
    number = lines.index(DIRECTIVE) + 1
    lines[number - 1] = line
    path.write_text("".join(lines))
    where = f"{path}:{number}: "
    with pytest.raises(DdlError) as caught:
        ddl_text(path)
    assert str(caught.value).startswith(where) and message in str(caught.value)
    with pytest.raises(DdlError) as caught:  # the warehouse does not open on it ...
        with DuckDBWarehouse(database=str(tmp_path / "w.duckdb")).connection():
            pass
    assert str(caught.value).startswith(where)
    with pytest.raises(SqlModelError) as caught:  # ... nor does the model that writes the table load
        load_sql_model(sql_dir / "gold.training_examples.sql")
    assert str(caught.value).startswith(where) and message in str(caught.value)


def test_directives_that_name_each_other_are_refused(tmp_path):
    a, b = tmp_path / "gold.a.sql", tmp_path / "gold.b.sql"
    a.write_text("CREATE SCHEMA IF NOT EXISTS gold;\nCREATE TABLE IF NOT EXISTS gold.a (\n    x INTEGER,\n    -- columns of gold.b\n);\n")
    b.write_text("CREATE SCHEMA IF NOT EXISTS gold;\nCREATE TABLE IF NOT EXISTS gold.b (\n    y INTEGER,\n    -- columns of gold.a\n);\n")
    with pytest.raises(DdlError, match=rf"{b}:4: '-- columns of gold.a' refers back to this file"):
        ddl_text(a)


def test_a_directive_between_columns_keeps_the_commas_right(tmp_path):
    (tmp_path / "gold.up.sql").write_text(
        "CREATE SCHEMA IF NOT EXISTS gold;\nCREATE TABLE IF NOT EXISTS gold.up (k VARCHAR NOT NULL, a DOUBLE, b TIMESTAMPTZ);\n"
    )
    down = tmp_path / "gold.down.sql"
    down.write_text(
        "CREATE SCHEMA IF NOT EXISTS gold;\nCREATE TABLE IF NOT EXISTS gold.down (\n    k VARCHAR,\n"
        "    -- columns of gold.up except k\n    -- a comment\n\n    c BOOLEAN  -- after\n);\n"
    )
    assert table_schema("gold.down", down) == (
        ("k", "VARCHAR"), ("a", "DOUBLE"), ("b", "TIMESTAMP WITH TIME ZONE"), ("c", "BOOLEAN"),
    )
    up_not_null = table_schema("gold.up", tmp_path / "gold.up.sql")[0]
    assert up_not_null == ("k", "VARCHAR")  # constraints are not copied: only names and types
