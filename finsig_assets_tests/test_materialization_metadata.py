"""Materialization metadata: row count, the table's own column types, a readable summary whose
preview shows the latest rows; and what the UI shows of every asset before it ever ran (owners,
kinds, description, its table and columns)."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import dagster as dg
import polars as pl

from finsig_assets.materialization_metadata import materialize_result, partition_metadata, standard_metadata
from finsig_assets.warehouse import table_columns


def test_standard_metadata_reports_rows_types_and_summary():
    frame = pl.DataFrame(
        {
            "ts": [dt.datetime(2024, 6, 25, 14, 30, tzinfo=dt.timezone.utc)] * 2,
            "trade_date": [dt.date(2024, 6, 25)] * 2,
            "close": [5400.5, 5401.0],
            "volume": [3, 4],
            "instrument": ["SPX500_USD"] * 2,
            "is_rth": [True, False],
        }
    )
    meta = standard_metadata(frame, "2024-06-25", {"rejected_records": 2, "rejection_rate": 0.5})
    assert meta["dagster/row_count"] == dg.MetadataValue.int(2)
    types = {c.name: c.type for c in meta["dagster/column_schema"].columns}
    assert types == {"ts": "TIMESTAMPTZ", "trade_date": "DATE", "close": "DOUBLE", "volume": "BIGINT",
                     "instrument": "VARCHAR", "is_rth": "BOOLEAN"}
    assert meta["rejected_records"] == dg.MetadataValue.int(2)
    assert meta["rejection_rate"] == dg.MetadataValue.float(0.5)
    summary = meta["summary"].value
    assert "**2 rows** for `2024-06-25`" in summary and "SPX500_USD" in summary


def test_empty_frame_has_no_preview():
    meta = standard_metadata(pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)}), "2024-06-25")
    assert meta["dagster/row_count"] == dg.MetadataValue.int(0)
    assert "|" in meta["summary"].value and "x |" not in meta["summary"].value


# -- previews: the latest rows, not warm-up rows ----------------------------------------------

def _bars(n: int, day: dt.date = dt.date(2024, 6, 25), start_minute: int = 0) -> pl.DataFrame:
    """``n`` one-minute bars of ``day``: the first 5 are warm-up rows (``ret_5m`` NULL), the last 3
    have no label yet (the horizon crosses the close); ``news_mean`` is NULL but every 4th row;
    ``unused`` is NULL everywhere."""
    first = dt.datetime.combine(day, dt.time(13, 30), tzinfo=dt.timezone.utc) + dt.timedelta(minutes=start_minute)
    return pl.DataFrame(
        {
            "ts": [first + dt.timedelta(minutes=i) for i in range(n)],
            "trade_date": [day] * n,
            "ret_5m": [None if i < 5 else i / 1000 for i in range(n)],
            "label_up": [None if i >= n - 3 else i % 2 == 0 for i in range(n)],
            "news_mean": [0.25 if i % 4 == 0 else None for i in range(n)],
            "unused": pl.Series([None] * n, dtype=pl.Float64),
        }
    )


def _minute(day: dt.date, i: int) -> str:
    return f"{day.isoformat()} {13 + (30 + i) // 60:02d}:{(30 + i) % 60:02d}:00+00:00"


def _preview_lines(summary: str) -> list[str]:
    return [line for line in summary.splitlines() if line.startswith("| 20")]


def test_preview_shows_the_latest_complete_rows_not_the_warm_up():
    day = dt.date(2024, 6, 25)
    frame = _bars(40, day).with_columns(pl.lit(None, dtype=pl.Float64).alias("news_mean"))
    summary = standard_metadata(frame, "2024-06-25")["summary"].value
    rows = _preview_lines(summary)
    # Rows 32..36: the latest with every value (37..39 have no label yet); never warm-up row 0.
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [_minute(day, i) for i in range(32, 37)]
    assert "The latest 5 of 40 rows with the fewest NULLs (among the last 40)" in summary
    assert "nan" not in summary.lower().replace("news_mean", "")


def test_preview_is_in_time_order_whatever_the_frame_order():
    day = dt.date(2024, 6, 25)
    frame = _bars(40, day).drop("news_mean").sample(fraction=1.0, shuffle=True, seed=3)
    rows = _preview_lines(standard_metadata(frame, "2024-06-25")["summary"].value)
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [_minute(day, i) for i in range(32, 37)]


def test_preview_prefers_the_rows_with_fewest_nulls_and_shows_null_as_null():
    day = dt.date(2024, 6, 25)
    # news_mean is NULL in 3 of 4 rows: row 8 is the only complete one, then rows 4..7 (one NULL each).
    frame = _bars(12, day)
    summary = standard_metadata(frame, "2024-06-25")["summary"].value
    rows = _preview_lines(summary)
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [_minute(day, i) for i in range(4, 9)]
    assert "NULL" in rows[0] and "nan" not in summary.lower()
    # Dates read as dates, not as midnight timestamps.
    assert "| 2024-06-25 " in rows[0] and "2024-06-25 00:00:00" not in summary


def test_a_field_null_in_all_the_latest_rows_does_not_hide_them():
    day = dt.date(2024, 6, 25)
    # collected_at is known for the first 150 bars only (a later file lacks it): the preview
    # still shows the last bars.
    frame = _bars(200, day).drop("news_mean").with_columns(
        pl.when(pl.int_range(pl.len()) < 150).then(pl.col("ts")).otherwise(None).alias("collected_at")
    )
    summary = standard_metadata(frame, "2024-06-25")["summary"].value
    rows = _preview_lines(summary)
    # The last 3 have no label: the 5 latest with one NULL (collected_at) are 192..196.
    assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [_minute(day, i) for i in range(192, 197)]
    assert "among the last 50" in summary


def test_preview_escapes_pipes_and_shortens_long_text():
    frame = pl.DataFrame({"ts": [dt.datetime(2024, 6, 25, 14, 0, tzinfo=dt.timezone.utc)], "headline": ["a | b\n" + "x" * 200]})
    [row] = _preview_lines(standard_metadata(frame, "2024-06-25")["summary"].value)
    assert "a \\| b x" in row and "x" * 100 not in row and "…" in row


class _Context:
    """What ``partition_metadata`` and ``materialize_result`` need of an asset context: somewhere
    to put each partition's metadata (every call kept), and an asset without checks."""

    assets_def = SimpleNamespace(check_specs=())

    def __init__(self):
        self.by_partition: dict[str, dict] = {}
        self.calls: list[str] = []

    def add_asset_metadata(self, metadata, partition_key):
        self.calls.append(partition_key)
        self.by_partition.setdefault(partition_key, {}).update(metadata)


def _ranged_result(context, frame, days, label, **kwargs):
    """As an asset does it: the partitions' metadata, then the run's result with the shared entries."""
    shared = partition_metadata(context, frame, days, label, **kwargs)
    return materialize_result(context, days, shared)


def test_each_partition_of_a_range_previews_its_own_latest_rows():
    days = [dt.date(2024, 6, 24), dt.date(2024, 6, 25)]
    frame = pl.concat([_bars(20, days[0]).drop("news_mean"), _bars(20, days[1]).drop("news_mean")])
    context = _Context()
    _ranged_result(context, frame, days, "2024-06-24..2024-06-25")
    for day in days:
        summary = context.by_partition[day.isoformat()]["summary"].value
        rows = _preview_lines(summary)
        assert [r.split(" | ")[0].lstrip("| ") for r in rows] == [_minute(day, i) for i in range(12, 17)], summary
        assert "The latest 5 of 20 rows with the fewest NULLs (among the last 20)" in summary


def test_a_long_range_previews_its_latest_partitions_with_rows():
    days = [dt.date(2024, 6, d) for d in (17, 18, 20, 21, 24, 25, 26, 27)]
    frame = pl.concat([_bars(8, day).drop("news_mean") for day in days[:-1]])  # the last session has no rows
    context = _Context()
    _ranged_result(context, frame, days, "2024-06-17..2024-06-27")
    previewed = [day for day in days if _preview_lines(context.by_partition[day.isoformat()]["summary"].value)]
    assert previewed == days[-6:-1]


def test_a_ranged_run_hands_each_partition_its_metadata_in_one_call():
    """Dagster lists the run's whole range on every add_asset_metadata call: one call per partition,
    the partition's own numbers first and the run's shared entries after them."""
    days = [dt.date(2024, 6, 24), dt.date(2024, 6, 25), dt.date(2024, 6, 26)]
    frame = pl.concat([_bars(4, day).drop("news_mean") for day in days])
    context = _Context()
    own = {days[1]: {"rejected": 3}}
    result = _ranged_result(context, frame, days, "2024-06-24..2024-06-26", run_summary={"seconds": 1.5}, per_partition=own)
    assert context.calls == [day.isoformat() for day in days]
    middle = list(context.by_partition["2024-06-25"])
    assert middle.index("rejected") < middle.index("summary") < middle.index("run_seconds")
    assert context.by_partition["2024-06-25"]["rejected"].value == 3 and "rejected" not in context.by_partition["2024-06-24"]
    assert all(meta["run_partition_range"].value == "2024-06-24..2024-06-26" for meta in context.by_partition.values())
    assert not result.metadata


# -- what the UI shows of every asset before it ran ---------------------------------------------

OWNER = re.compile(r"^(team:[a-z0-9][a-z0-9_-]*|[^@\s]+@[^@\s]+\.[a-z]+)$")


def test_every_asset_has_a_description_owners_kinds_and_its_table():
    from finsig_assets.definitions import defs
    from finsig_assets.warehouse import table_ddl_files

    tables = {path.stem for path in table_ddl_files()}
    for node in defs.resolve_asset_graph().asset_nodes:
        name = node.key.to_user_string()
        assert node.description and len(node.description) > 40, name
        assert node.owners and all(OWNER.match(owner) for owner in node.owners), (name, node.owners)
        assert node.kinds and node.group_name == node.key.path[0], name
        table = ".".join(node.key.path)
        if table in tables:  # the asset writes the table of its key: the UI names it and its columns
            assert node.metadata.get("dagster/table_name") == table, name
            schema = node.metadata["dagster/column_schema"]
            assert [c.name for c in schema.columns] == table_columns(table), name
    # ml/direction_model writes one row per partition to ml.model_runs.
    model = defs.resolve_assets_def(dg.AssetKey(["ml", "direction_model"]))
    assert model.metadata_by_key[model.key]["dagster/table_name"] == "ml.model_runs"
