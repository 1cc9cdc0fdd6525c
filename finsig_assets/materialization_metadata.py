"""The metadata every materialization carries: row count, column schema, a markdown summary.

A run covers one partition or a range of them (single-run backfills). Dagster records one
materialization per partition and copies the run's metadata onto each; so that a partition
shows its own numbers, :func:`partition_metadata` gives every partition its own row count and
details (``context.add_asset_metadata(..., partition_key=...)``) and keeps for the shared
metadata only what is true of all of them (the column schema) and the run's totals, under
names starting with ``run_``.

The column schema goes on a single partition's materialization only. The asset's definition
carries the table's columns from its DDL, which the UI shows; copied onto every partition of a
year-long run it was half of each recorded event's bytes, serialized several times per event.

A summary's preview shows the *latest* rows (by ``ts``, ``available_at`` or ``published_at``
when the frame has one), preferring, among the last few dozen, rows without NULLs: the first rows
of a history are warm-up rows whose rolling features are all NULL, and the last bars of a session
have no label yet, so neither tells a reader what the table holds. NULLs read ``NULL``, dates as dates. A run over
a range previews its latest :data:`PREVIEW_MAX_PARTITIONS` partitions with rows (``make demo``'s
one run over the whole demo included), not every partition of a year.

A write that never holds its rows in Python (a SQL model's ``INSERT ... SELECT``) passes a
:class:`WrittenRows` instead of a frame: the same numbers and previews, read back in SQL from the
written range (:func:`written_rows`): row counts per date, distinct counts, and only the latest
rows of the partitions a summary previews.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl
from tabulate import tabulate

from finsig_assets.checks.session_freshness import CHECK_NAME as FRESHNESS_CHECK
from finsig_assets.checks.session_freshness import freshness_result

RUN_PREFIX = "run_"
# A run over a range previews its latest partitions with rows, at most this many.
PREVIEW_MAX_PARTITIONS = 5
# The column that orders a frame's rows in time, the first one present (else the frame's order).
PREVIEW_TIME_COLUMNS = ("ts", "available_at", "published_at")
PREVIEW_MAX_CHARS = 80
# The preview looks at the last PREVIEW_WINDOW_FACTOR x rows for the ones with the fewest NULLs.
PREVIEW_WINDOW_FACTOR = 10


@dataclass(frozen=True)
class WrittenRows:
    """What the metadata needs of rows written in SQL, without a frame of them (:func:`written_rows`).

    ``rows_by_date`` and ``distinct_by_date`` (``{date: {column: distinct values}}``) cover every
    date of the range that has rows; ``latest_by_date`` holds, for the latest
    :data:`PREVIEW_MAX_PARTITIONS` dates with rows, their latest ``PREVIEW_WINDOW_FACTOR x preview
    rows`` rows in time order -- all that :func:`preview_frame` looks at, so a preview is the one
    the whole frame would give; ``columns`` is an empty frame of the table's columns and types.
    """

    rows_by_date: Mapping[Any, int]
    columns: pl.DataFrame
    latest_by_date: Mapping[Any, pl.DataFrame] = field(default_factory=dict)
    distinct_by_date: Mapping[Any, Mapping[str, int]] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return sum(self.rows_by_date.values())


def _arrow_frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a table, not an array
    return frame


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def written_rows(
    conn: Any,
    table: str,
    first: dt.date,
    last: dt.date,
    date_column: str = "trade_date",
    distinct: Sequence[str] = (),
    preview_rows: int = 5,
) -> WrittenRows:
    """:class:`WrittenRows` of ``table`` over ``date_column BETWEEN first AND last``, read with
    ``conn`` (e.g. inside the transaction that wrote them): one aggregate query, and the preview
    candidates of the latest partitions (at most ``PREVIEW_MAX_PARTITIONS x PREVIEW_WINDOW_FACTOR
    x preview_rows`` rows) as the only rows that reach Python.

    The latest rows are ordered by the first of :data:`PREVIEW_TIME_COLUMNS` the table has, ties
    by every column (a frame's preview broke ties by the frame's row order)."""
    columns = _arrow_frame(conn.execute(f"SELECT * FROM {table} LIMIT 0").to_arrow_table())
    date = _quoted(date_column)
    counts = ", ".join(f"count(DISTINCT {_quoted(c)})" for c in distinct)
    rows = conn.execute(
        f"SELECT {date}, count(*){', ' + counts if counts else ''} FROM {table} WHERE {date} BETWEEN ? AND ? GROUP BY ALL",
        [first, last],
    ).fetchall()
    rows_by_date = {row[0]: int(row[1]) for row in rows}
    distinct_by_date = {row[0]: {c: int(n) for c, n in zip(distinct, row[2:])} for row in rows}
    latest: dict[Any, pl.DataFrame] = {}
    previewed = sorted(rows_by_date)[-PREVIEW_MAX_PARTITIONS:] if preview_rows else []
    if previewed:
        time_column = next((c for c in PREVIEW_TIME_COLUMNS if c in columns.columns), None)
        keys = ([time_column] if time_column else []) + [c for c in columns.columns if c != time_column]
        newest_first = ", ".join(f"{_quoted(c)} DESC NULLS LAST" for c in keys)
        in_order = ", ".join(f"{_quoted(c)} ASC NULLS FIRST" for c in keys)
        candidates = _arrow_frame(
            conn.execute(
                f"SELECT * FROM {table} WHERE {date} IN ({', '.join('?' for _ in previewed)}) "
                f"QUALIFY row_number() OVER (PARTITION BY {date} ORDER BY {newest_first}) <= ? "
                f"ORDER BY {date}, {in_order}",
                [*previewed, preview_rows * PREVIEW_WINDOW_FACTOR],
            ).to_arrow_table()
        )
        latest = {day: candidates.filter(pl.col(date_column) == day) for day in previewed}
    return WrittenRows(rows_by_date, columns, latest, distinct_by_date)


def sql_type(dtype: pl.DataType) -> str:
    """The DuckDB type a polars column is stored as, so the UI shows the table's own types."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    return {
        pl.Float64: "DOUBLE", pl.Float32: "FLOAT", pl.Int64: "BIGINT", pl.Int32: "INTEGER",
        pl.Int16: "SMALLINT", pl.UInt32: "UINTEGER", pl.UInt64: "UBIGINT", pl.Boolean: "BOOLEAN",
        pl.String: "VARCHAR", pl.Date: "DATE",
    }.get(dtype.base_type(), str(dtype))


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, sql_type(dtype)) for name, dtype in frame.schema.items()])


def markdown_table(rows: Mapping[str, Any], headers: tuple[str, str] = ("measure", "value")) -> str:
    lines = [f"| {headers[0]} | {headers[1]} |", "|---|---|"]
    lines += [f"| {k} | {_plain(v)} |" for k, v in rows.items()]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, dg.MetadataValue) and isinstance(value.value, (str, int, float)) else value


def typed_metadata(details: Mapping[str, Any]) -> dict[str, Any]:
    """Plain numbers and strings as typed metadata values (MetadataValue instances pass through)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, (dg.MetadataValue, dg.TableSchema)):
            out[key] = value
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        else:
            out[key] = dg.MetadataValue.float(float(value))
    return out


def standard_metadata(
    frame: pl.DataFrame | WrittenRows,
    scope_label: str,
    summary: Mapping[str, Any] | None = None,
    preview_rows: int = 5,
) -> dict[str, Any]:
    """Row count, schema, the partition range, and a markdown summary with a short preview."""
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": column_schema(frame.columns if isinstance(frame, WrittenRows) else frame),
        "partition_range": dg.MetadataValue.text(scope_label),
    }
    details = dict(summary or {})
    meta |= typed_metadata(details)
    md = f"**{frame.height:,} rows** for `{scope_label}`\n\n" + markdown_table({"rows": f"{frame.height:,}", **details})
    if frame.height and preview_rows:
        if not isinstance(frame, WrittenRows):
            md += "\n\n" + preview_markdown(frame, preview_rows)
        elif frame.latest_by_date:
            latest = pl.concat(list(frame.latest_by_date.values()), how="vertical")
            md += "\n\n" + preview_markdown(latest, preview_rows, total_rows=frame.height)
    meta["summary"] = dg.MetadataValue.md(md)
    return meta


def preview_frame(frame: pl.DataFrame, rows: int) -> tuple[pl.DataFrame, int]:
    """The rows a summary previews: the latest ``rows`` rows with the fewest NULLs (or NaNs) among
    the last ``PREVIEW_WINDOW_FACTOR * rows`` rows, in time order; and how many rows were looked
    at when that is not simply the last ``rows`` (else 0).

    Latest by the first of :data:`PREVIEW_TIME_COLUMNS` the frame has, else its own order. A
    column that is NULL in every row does not count. So warm-up rows (rolling features NULL) and
    the last bars of a session (no label yet) give way to the complete rows just before them,
    while a column that is NULL in all the latest rows (an optional field) moves nothing.
    """
    time_column = next((c for c in PREVIEW_TIME_COLUMNS if c in frame.columns), None)
    ordered = frame.sort(time_column, nulls_last=False, maintain_order=True) if time_column else frame
    window = ordered.tail(rows * PREVIEW_WINDOW_FACTOR)
    informative = [name for name in ordered.columns if ordered[name].null_count() < ordered.height]
    if window.height <= rows or not informative:
        return window.tail(rows), 0
    missing = pl.sum_horizontal(
        (pl.col(name).is_null() | pl.col(name).is_nan() if ordered.schema[name].is_float() else pl.col(name).is_null()).cast(pl.Int32)
        for name in informative
    )
    ranked = window.with_row_index("_row").with_columns(missing.alias("_missing"))
    chosen = ranked.sort(["_missing", "_row"], descending=[False, True]).head(rows).sort("_row")
    skipped = chosen["_row"].to_list() != list(range(window.height - rows, window.height))
    return chosen.drop("_row", "_missing"), window.height if skipped else 0


def preview_markdown(frame: pl.DataFrame, rows: int, total_rows: int | None = None) -> str:
    """A caption and a markdown table of :func:`preview_frame`'s rows.

    ``frame`` may be only the latest rows of the partition (``PREVIEW_WINDOW_FACTOR x rows`` of
    them, :class:`WrittenRows`), with ``total_rows`` the partition's count: the rows shown are
    the same (a column NULL in every one of those rows counts alike for each of them)."""
    shown, looked_at = preview_frame(frame, rows)
    total = frame.height if total_rows is None else total_rows
    caption = (
        f"_The latest {shown.height:,} of {total:,} rows with the fewest NULLs (among the last {looked_at:,}):_"
        if looked_at
        else f"_The latest {shown.height:,} of {total:,} rows:_"
    )
    table = tabulate(
        [[_cell(v) for v in row] for row in shown.iter_rows()],
        headers=shown.columns,
        tablefmt="pipe",
        missingval="NULL",
        disable_numparse=True,
        colalign=["right" if dtype.is_numeric() else "left" for dtype in shown.dtypes],
    )
    return f"{caption}\n\n{table}"


def _cell(value: Any) -> Any:
    """A table cell: NULL stays None (tabulate writes ``NULL``); text on one line, short, with
    ``|`` escaped; numbers to 6 significant digits; dates and instants in ISO form."""
    if value is None:
        return None
    if isinstance(value, float):
        return "NaN" if value != value else f"{value:.6g}"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    text = " ".join(str(value).split())
    if len(text) > PREVIEW_MAX_CHARS:
        text = text[: PREVIEW_MAX_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def _run_names(details: Mapping[str, Any] | None) -> dict[str, Any]:
    return {(k if k.startswith(RUN_PREFIX) else f"{RUN_PREFIX}{k}"): v for k, v in (details or {}).items()}


def partition_metadata(
    context: dg.AssetExecutionContext | None,
    frame: pl.DataFrame | WrittenRows,
    sessions: Sequence[Any],
    scope_label: str,
    run_summary: Mapping[str, Any] | None = None,
    per_partition: Mapping[Any, Mapping[str, Any]] | None = None,
    date_column: str = "trade_date",
    preview_rows: int = 5,
) -> dict[str, Any]:
    """The metadata of a run over ``sessions``; each partition's own numbers go on its event.

    ``frame`` holds the rows written (with ``date_column``), or their :class:`WrittenRows`
    summary when they were written in SQL; ``per_partition`` maps a session to
    that partition's own numbers (e.g. rejected records); ``run_summary`` holds numbers of the
    whole run (timings, files read), reported as ``run_<name>``. Returns the metadata for the
    ``MaterializeResult``. With one session, partition and run are the same thing and this is
    :func:`standard_metadata` with the run's numbers added.
    """
    per_partition = per_partition or {}
    if len(sessions) <= 1:
        own = dict(per_partition.get(sessions[0], {})) if sessions else {}
        # The partition's own numbers (and its summary) first, the run's after them.
        return standard_metadata(frame, scope_label, own, preview_rows=preview_rows) | typed_metadata(_run_names(run_summary))
    counts: dict[Any, int] = {}
    if isinstance(frame, WrittenRows):
        counts = dict(frame.rows_by_date)
    elif frame.height and date_column in frame.columns:
        counts = dict(frame.group_by(date_column).len().iter_rows())
    # Previews for the latest partitions with rows only: a year-long run would otherwise carry
    # hundreds of tables, and the latest sessions are the ones a reader looks at.
    with_rows = sorted(day for day in sessions if counts.get(day, 0))
    previewed = set(with_rows[-PREVIEW_MAX_PARTITIONS:]) if preview_rows else set()
    for day in sessions:
        key = day.isoformat() if hasattr(day, "isoformat") else str(day)
        rows = int(counts.get(day, 0))
        own = dict(per_partition.get(day, {}))
        meta: dict[str, Any] = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "partition_range": dg.MetadataValue.text(key),
            **typed_metadata(own),
        }
        md = f"**{rows:,} rows** for `{key}` (one partition of a run over `{scope_label}`)\n\n"
        md += markdown_table({"rows": f"{rows:,}", **own})
        if day in previewed and not isinstance(frame, WrittenRows):
            md += "\n\n" + preview_markdown(frame.filter(pl.col(date_column) == day), preview_rows)
        elif day in previewed and isinstance(frame, WrittenRows) and day in frame.latest_by_date:
            md += "\n\n" + preview_markdown(frame.latest_by_date[day], preview_rows, total_rows=rows)
        meta["summary"] = dg.MetadataValue.md(md)
        if context is not None:
            add_partition_metadata(context, key, meta)
    return {
        "run_partition_range": dg.MetadataValue.text(scope_label),
        "run_rows": dg.MetadataValue.int(frame.height),
        **typed_metadata(_run_names(run_summary)),
    }


# Each partition's own metadata of a ranged run, held until ``materialize_result`` hands it to
# Dagster with the run's shared entries: one ``add_asset_metadata`` call per partition. Dagster
# lists every key of the run's range on each call (1-2 ms for five years), so two calls per
# partition cost seconds per asset on a long backfill.
_pending: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()


def add_partition_metadata(context: dg.AssetExecutionContext, partition_key: str, metadata: Mapping[str, Any]) -> None:
    """Metadata for one partition of a ranged run, recorded by the run's ``materialize_result``."""
    _pending.setdefault(context, {}).setdefault(partition_key, {}).update(metadata)


def materialize_result(
    context: dg.AssetExecutionContext | None,
    sessions: Sequence[Any],
    metadata: Mapping[str, Any],
    check_results: Sequence[dg.AssetCheckResult] = (),
) -> dg.MaterializeResult:
    """The result of a run over ``sessions``, with each partition's own numbers shown first.

    Dagster lists a partition's metadata as the run's entries followed by the partition's own
    (``context.add_asset_metadata``), so a ranged run's shared entries would sit above the
    numbers a reader looks for. For a range, the shared ``metadata`` is therefore appended to
    every partition's own (from :func:`add_partition_metadata`) instead, and the result itself
    carries none.
    """
    check_results = [*check_results, *_freshness(context, sessions)]
    own = _pending.pop(context, {}) if context is not None else {}
    if context is None or len(sessions) <= 1:
        return dg.MaterializeResult(metadata=dict(metadata), check_results=check_results)
    for day in sessions:
        key = day.isoformat() if hasattr(day, "isoformat") else str(day)
        context.add_asset_metadata({**own.get(key, {}), **metadata}, partition_key=key)
    return dg.MaterializeResult(check_results=check_results)


def _freshness(context: dg.AssetExecutionContext | None, sessions: Sequence[Any]) -> list[dg.AssetCheckResult]:
    """``latest_session_fresh`` for the asset being written, when it declares the check."""
    if context is None or not any(spec.name == FRESHNESS_CHECK for spec in context.assets_def.check_specs):
        return []
    return [freshness_result(context.instance, context.asset_key, dt.datetime.now(dt.timezone.utc), sessions)]
