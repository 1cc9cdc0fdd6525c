"""Turn the SQL-shaped models in ``dbt_like_sql/<layer>.<name>.sql`` into Dagster assets.

A model file is one SELECT under a comment header::

    -- asset: gold/market_features
    -- description: One row per silver bar: returns, volatility, RSI, ...
    -- deps: silver/market_bars, silver/news_sentiment
    -- lookback_sessions: 3
    -- python_post: recursive_indicators
    -- config: warmup_bars=2000, min_articles=3
    -- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars)

The header is the run of ``-- key: value`` lines at the top of the file; the first line of
another shape (``--`` alone, any other comment, SQL) ends it. ``asset`` and ``description`` are
required; an unknown or repeated key is an error, and every error names the file and line.

- ``asset``: ``<layer>/<name>``; the file must be called ``<layer>.<name>.sql``, the asset
  writes the table ``<layer>.<name>``, whose DDL is ``tables/<layer>.<name>.sql`` (required).
- ``deps``: comma-separated upstream asset keys, optional: the upstream assets are the tables
  the SELECT reads (``silver.market_bars`` is ``silver/market_bars``), found by DuckDB's parser
  (:mod:`finsig_assets.sql_models.sql_dependencies`), and a ``deps`` line that lists anything
  else is an error naming both lists. Each dependency gets
  ``TimeWindowPartitionMapping(start_offset=-lookback_sessions,
  allow_nonexistent_upstream_partitions=True)`` (:func:`finsig_assets.partitions.lookback_mapping`):
  lineage only (what the partition reads from), the SELECT decides what it actually reads; the
  first partitions after ``FINSIG_PARTITIONS_START`` look back to partitions that do not exist,
  which is not an error (there is simply nothing to read).
- ``python_post``: the name of a registered step ``(frame, params) -> frame`` for what SQL
  cannot express (infinite-memory recursions). A step named ``x`` is looked up in the registry
  (:func:`register_post_step`) after importing ``finsig_assets.sql_models.x``.
- ``config``: ``name=literal`` pairs (int, float, bool, string) that become run-config fields
  of the asset and bound parameters of the SELECT. ``$warmup_bars`` (default 2000) needs no
  declaration: a model that references it gets the config field.
- ``chunk_sessions``: run a long range as consecutive chunks of this many sessions (each its
  own SELECT with its own window parameters and warm-up), concatenated and written in ONE
  transaction. Memory then stays bounded however long the backfill. Only for models whose
  partitions computed alone equal the whole-range result (the design's rule for every asset).
- ``checks``: health checks of the written table (:mod:`finsig_assets.table_checks`), e.g.
  ``unique_keys(instrument, ts), one_row_per(silver.market_bars WHERE is_rth OR NOT $rth_only),
  labels_within_session(fwd_return_30m, label_up)``. Each becomes a blocking, ERROR-severity
  asset check evaluated over the run's range right after the write; a failure stops the assets
  downstream in the same run. The checks' SQL is bound against empty tables built from the DDL
  when the file is loaded, so an unknown column or table, or a parameter that is neither
  standard nor config, is an error naming the file and the line of the header.

At run time the SELECT (the file text, verbatim) runs with BOUND named parameters only:
``$window_start``/``$window_end`` (TIMESTAMPTZ, the ownership window of the partition range),
``$first_date``/``$last_date`` (DATE), ``$warmup_bars`` and the config fields. Only the
parameters the SQL references are bound; referencing any other is an error when the asset is
built. The relation ``calendar_sessions`` (``trading_calendar.session_frame()``: trade_date,
window_start, window_end, rth_open, rth_close, is_early_close) is registered for the query.
The SELECT may return warm-up rows before the window; the runner applies ``python_post``,
drops columns whose name starts with ``_`` (helpers for the step), keeps
``trade_date BETWEEN $first_date AND $last_date``, checks the columns against the live table
and replaces that trade_date range in one ``warehouse.transaction()``; then the ``checks``
run over that range on a short connection of their own.

A model without ``python_post`` (pure SQL) never brings its rows into Python: inside the
partition range's replace transaction (``Transaction.replace``: delete the range, insert), each
chunk is one ``INSERT INTO <table> BY NAME SELECT <table columns> FROM (<the file's SELECT>)
WHERE trade_date BETWEEN $first_date AND $last_date`` (:class:`~finsig_assets.warehouse.SelectRows`).
Its result columns are checked first (the SELECT planned with ``LIMIT 0``), and the
materialization's numbers and previews are read back in SQL from the written range, in the same
transaction (:func:`finsig_assets.materialization_metadata.written_rows`). For such a model the
rows beyond the range never leave DuckDB, so ``rows_selected_incl_warmup`` counts the rows
written (the SELECTs of gold.news_signals and gold.training_examples return none beyond it).

Each partition's materialization carries its own row count and instruments
(:func:`finsig_assets.materialization_metadata.partition_metadata`); what belongs to the run
as a whole (timings, rows selected, the bound parameters of the range) is ``run_*`` metadata.

The code version is a hash of the SQL file and of the post step's module source, so editing
either marks the asset stale in Dagster.

To add a model: write ``dbt_like_sql/<layer>.<name>.sql`` (header + SELECT with a
``trade_date`` column) and ``dbt_like_sql/tables/<layer>.<name>.sql`` (DDL);
``build_sql_assets()`` picks it up.

This module deliberately has no ``from __future__ import annotations``: the asset function's
``config`` annotation is a class built at run time, and Dagster reads the annotation object.
"""

import ast
import datetime as dt
import hashlib
import importlib
import inspect
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pydantic

from finsig_assets.trading_day_asset import trading_day_asset
from finsig_assets import settings
from finsig_assets.materialization_metadata import WrittenRows, materialize_result, partition_metadata, written_rows
from finsig_assets.partition_scope import PartitionScope, scope_of
from finsig_assets.sql_models.sql_dependencies import tables_read
from finsig_assets.partitions import lookback_mapping
from finsig_assets.table_checks import (
    CheckDefinitionError,
    TableCheck,
    check_specs,
    parse_checks,
    run_checks,
    scope_values,
    validate_checks,
)
from finsig_assets.trading_calendar import session_frame
from finsig_assets.warehouse import (
    DdlError,
    SelectRows,
    Warehouse,
    column_descriptions,
    ddl_text,
    fetch_frame,
    table_schema,
)

#: Parameters every model may reference, with their types (documentation and error messages).
STANDARD_PARAMETERS: dict[str, str] = {
    "window_start": "TIMESTAMPTZ, start of the ownership window of the first partition (inclusive)",
    "window_end": "TIMESTAMPTZ, end of the ownership window of the last partition (exclusive)",
    "first_date": "DATE, first partition key of the run",
    "last_date": "DATE, last partition key of the run",
}
#: Config every model has (its header's ``config`` can change the default).
DEFAULT_CONFIG: dict[str, Any] = {"warmup_bars": 2000}
HEADER_KEYS = (
    "asset", "description", "deps", "lookback_sessions", "python_post", "config", "chunk_sessions", "checks",
)
REQUIRED_HEADER_KEYS = ("asset", "description")
CALENDAR_RELATION = "calendar_sessions"

_HEADER_LINE = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PostStep = Callable[[pl.DataFrame, Mapping[str, Any]], pl.DataFrame]
_POST_STEPS: dict[str, PostStep] = {}


class SqlModelError(ValueError):
    """A model file that cannot become an asset, or a run whose output breaks the table contract."""


def register_post_step(name: str) -> Callable[[PostStep], PostStep]:
    """Register ``fn(frame, params) -> frame`` as the ``python_post`` step called ``name``.

    ``frame`` is the SELECT's full result (warm-up rows included, in the SELECT's order);
    ``params`` holds every standard parameter and config value of the run, bound or not.
    """

    def decorate(fn: PostStep) -> PostStep:
        if name in _POST_STEPS and _POST_STEPS[name] is not fn:
            raise ValueError(f"python_post step {name!r} is registered twice")
        _POST_STEPS[name] = fn
        return fn

    return decorate


def post_step(name: str) -> PostStep:
    if name not in _POST_STEPS and _IDENT.match(name):
        try:
            importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    if name not in _POST_STEPS:
        raise KeyError(f"no python_post step {name!r} (registered: {sorted(_POST_STEPS) or 'none'})")
    return _POST_STEPS[name]


@dataclass(frozen=True)
class SqlModel:
    """A parsed model file."""

    path: Path
    key: dg.AssetKey
    table: str
    description: str
    deps: tuple[dg.AssetKey, ...]
    lookback_sessions: int
    python_post: str | None
    config_defaults: Mapping[str, Any]
    chunk_sessions: int | None
    sql: str
    parameters: frozenset[str]
    ddl_path: Path
    columns: tuple[tuple[str, str], ...]
    code_version: str
    checks: tuple[TableCheck, ...] = ()

    @property
    def layer(self) -> str:
        return self.key.path[0]

    @property
    def display_path(self) -> str:
        try:
            return str(self.path.relative_to(settings.repo_root()))
        except ValueError:
            return str(self.path)


def _code_version(sql: str, python_post: str | None, ddl: str) -> str:
    """Hash of the SQL text, of its table's DDL (directives expanded, so a column added upstream
    counts) and of the post step's module source: edit any of them and it changes."""
    digest = hashlib.sha256(sql.encode())
    digest.update(ddl.encode())
    if python_post:
        step = post_step(python_post)
        module = inspect.getmodule(step)
        digest.update(inspect.getsource(module if module is not None else step).encode())
    return digest.hexdigest()[:16]


def _fail(path: Path, line: int | None, message: str) -> SqlModelError:
    where = f"{path}:{line}" if line else str(path)
    return SqlModelError(f"{where}: {message}")


def _parse_config(path: Path, line: int, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, literal = item.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise _fail(path, line, f"config entry {item!r} is not name=value")
        if name in STANDARD_PARAMETERS:
            raise _fail(path, line, f"config {name!r} would shadow the standard parameter ${name}")
        if name in out:
            raise _fail(path, line, f"config {name!r} is given twice")
        try:
            value = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError):
            raise _fail(path, line, f"config {name!r}: {literal.strip()!r} is not a literal") from None
        if not isinstance(value, (bool, int, float, str)):
            raise _fail(path, line, f"config {name!r}: only int, float, bool and string values are allowed")
        out[name] = value
    return out


def _table_columns(path: Path, ddl_path: Path, table: str) -> tuple[tuple[str, str], ...]:
    try:
        return table_schema(table, ddl_path)
    except DdlError as exc:  # a '-- columns of' directive that does not expand: its own file and line
        raise SqlModelError(f"{exc} (the DDL of {table}, written by {path.name})") from None
    except duckdb.Error as exc:
        raise _fail(ddl_path, None, f"DDL for {table} (model {path.name}) does not run: {exc}") from exc
    except ValueError:
        raise _fail(ddl_path, None, f"does not create the table {table} that {path.name} writes") from None


def _keys_text(keys: list[dg.AssetKey]) -> str:
    return ", ".join(sorted(k.to_user_string() for k in keys)) or "nothing"


def load_sql_model(path: Path | str) -> SqlModel:
    """Parse and check one model file (header, single SELECT, parameters, DDL)."""
    path = Path(path).resolve()
    text = path.read_text()
    header: dict[str, tuple[int, str]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        m = _HEADER_LINE.match(raw.strip())
        if not m:
            break
        key, value = m.group(1), m.group(2)
        if key not in HEADER_KEYS:
            raise _fail(
                path, lineno,
                f"unknown header key {key!r} (known: {', '.join(HEADER_KEYS)}; end the header with a bare '--' line "
                "before free comments)",
            )
        if key in header:
            raise _fail(path, lineno, f"header key {key!r} repeated (first on line {header[key][0]})")
        header[key] = (lineno, value)
    for key in REQUIRED_HEADER_KEYS:
        if key not in header or not header[key][1]:
            raise _fail(path, header.get(key, (1, ""))[0], f"the header needs '-- {key}: ...'")

    key_line, key_text = header["asset"]
    parts = key_text.split("/")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        raise _fail(path, key_line, f"asset key {key_text!r} is not '<layer>/<name>' (lower-case identifiers)")
    table = ".".join(parts)
    if path.name != f"{table}.sql":
        raise _fail(path, key_line, f"asset {key_text} must live in a file named {table}.sql")

    listed: list[dg.AssetKey] | None = None
    if "deps" in header:
        listed = []
        dep_line, dep_text = header["deps"]
        for dep in (d.strip() for d in dep_text.split(",")):
            if not dep:
                continue
            dep_parts = dep.split("/")
            if not all(_NAME.match(p) for p in dep_parts):
                raise _fail(path, dep_line, f"dependency {dep!r} is not an asset key like 'silver/market_bars'")
            listed.append(dg.AssetKey(dep_parts))
        if len(set(listed)) != len(listed):
            raise _fail(path, dep_line, "a dependency is listed twice")

    lookback = 0
    if "lookback_sessions" in header:
        lb_line, lb_text = header["lookback_sessions"]
        if not re.fullmatch(r"\d+", lb_text):
            raise _fail(path, lb_line, f"lookback_sessions must be a non-negative integer, not {lb_text!r}")
        lookback = int(lb_text)

    python_post = None
    if "python_post" in header:
        pp_line, python_post = header["python_post"]
        try:
            post_step(python_post)
        except KeyError as exc:
            raise _fail(path, pp_line, str(exc.args[0])) from None

    chunk_sessions = None
    if "chunk_sessions" in header:
        ch_line, ch_text = header["chunk_sessions"]
        if not re.fullmatch(r"[1-9]\d*", ch_text):
            raise _fail(path, ch_line, f"chunk_sessions must be a positive integer, not {ch_text!r}")
        chunk_sessions = int(ch_text)

    config = _parse_config(path, *header["config"]) if "config" in header else {}

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise _fail(path, None, f"SQL does not parse: {exc}") from exc
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        raise _fail(path, None, f"the body must be exactly one SELECT statement, found: {kinds}")
    # The upstream assets are the tables the SELECT reads; a '-- deps:' header must agree.
    try:
        read = tables_read(text, registered=[CALENDAR_RELATION])
    except ValueError as exc:
        raise _fail(path, None, str(exc)) from exc
    deps = [dg.AssetKey(t.split(".")) for t in read if t != table]
    if listed is not None and set(listed) != set(deps):
        raise _fail(
            path, header["deps"][0],
            f"'-- deps:' lists {_keys_text(listed)} but the SQL reads {_keys_text(deps)}; list exactly the tables the "
            "SELECT reads, as asset keys (or leave the line out: the runner derives it)",
        )
    parameters = frozenset(statements[0].named_parameters)
    positional = sorted(p for p in parameters if p.isdigit())
    if positional:
        raise _fail(path, None, "positional parameters (? or $1) are not allowed; use the named ones")
    # Built-in config (warmup_bars) is a field of the asset only if the model uses it.
    config = {k: v for k, v in DEFAULT_CONFIG.items() if k in parameters} | config
    unknown = sorted(parameters - set(STANDARD_PARAMETERS) - set(config))
    if unknown:
        known = sorted(set(STANDARD_PARAMETERS) | set(config) | set(DEFAULT_CONFIG))
        raise _fail(
            path, None,
            f"unknown parameter(s) {', '.join('$' + u for u in unknown)}: declare them in "
            f"'-- config:' or use one of {', '.join('$' + k for k in known)}",
        )

    ddl_path = path.parent / "tables" / f"{table}.sql"
    if not ddl_path.exists():
        raise _fail(path, key_line, f"no DDL for {table}: expected {ddl_path}")
    columns = _table_columns(path, ddl_path, table)
    if "trade_date" not in {c for c, _ in columns}:
        raise _fail(ddl_path, None, f"{table} has no trade_date column, so partitions cannot be replaced")

    checks = _parse_checks(path, header["checks"], table, config) if "checks" in header else ()

    return SqlModel(
        path=path,
        key=dg.AssetKey(parts),
        table=table,
        description=header["description"][1],
        deps=tuple(deps),
        lookback_sessions=lookback,
        python_post=python_post,
        config_defaults=config,
        chunk_sessions=chunk_sessions,
        sql=text,
        parameters=parameters,
        ddl_path=ddl_path,
        columns=columns,
        code_version=_code_version(text, python_post, ddl_text(ddl_path)),
        checks=checks,
    )


#: A session used to bind the checks' SQL at load time (any session works; no data is read).
_VALIDATION_SCOPE = "2024-01-02"


def _parse_checks(path: Path, entry: tuple[int, str], table: str, config: Mapping[str, Any]) -> tuple[TableCheck, ...]:
    line, text = entry
    try:
        checks = parse_checks(text, table)
        unknown = sorted({p for c in checks for p in c.parameters} - set(STANDARD_PARAMETERS) - set(config))
        if unknown:
            raise CheckDefinitionError(
                f"the checks use {', '.join('$' + u for u in unknown)}: declare them in '-- config:'"
            )
        values = {**scope_values(PartitionScope.of(_VALIDATION_SCOPE)), **config}
        validate_checks(checks, lambda name: path.parent / "tables" / f"{name}.sql", values)
    except CheckDefinitionError as exc:
        raise _fail(path, line, f"checks: {exc}") from None
    return checks


def model_files(sql_dir: Path | str | None = None) -> list[Path]:
    """The model files: ``*.sql`` directly in ``dbt_like_sql/`` (not the ``tables/`` DDL)."""
    root = Path(sql_dir) if sql_dir is not None else settings.sql_dir()
    return sorted(p for p in root.glob("*.sql") if p.is_file())


# ---------------------------------------------------------------------------------- running


@dataclass
class SqlModelRun:
    """What one run computed (and, for :func:`run_sql_model`, wrote).

    A pure-SQL model written by :func:`run_sql_model` has no ``frame`` (its rows never left
    DuckDB) but ``written``, their summary read back from the table; its ``select_seconds`` is
    the DELETE and INSERT ... SELECT statements (the SELECT and the range filter run inside
    them: ``filter_seconds`` is 0) and ``write_seconds`` the rest of the transaction (the column
    check, the summary, the COMMIT)."""

    model: SqlModel
    scope: PartitionScope
    parameters: dict[str, Any]  # the values bound to the SELECT (for the whole range)
    frame: pl.DataFrame | None  # the rows of the partition range, in table column order
    rows_selected: int  # rows the SELECT(s) returned, warm-up included
    chunks: list[str]  # the session ranges run as separate SELECTs
    timings: dict[str, float]  # seconds per phase (select, python_post, filter, write)
    elapsed_seconds: float  # wall clock from the first SELECT to the end (of the write)
    written: WrittenRows | None = None  # pure SQL: the written range, summarized in SQL

    @property
    def rows(self) -> pl.DataFrame | WrittenRows:
        """The rows written (a frame), or their summary when they were written in SQL."""
        if self.frame is not None:
            return self.frame
        if self.written is None:
            raise ValueError(f"{self.model.table}: the run holds neither its rows nor their summary")
        return self.written

    @property
    def rows_written(self) -> int:
        return self.rows.height


def run_values(model: SqlModel, scope: PartitionScope, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every standard parameter and config value for a run (the post step sees all of them)."""
    unknown = set(config or {}) - set(model.config_defaults)
    if unknown:
        raise SqlModelError(f"{model.path}: unknown config {sorted(unknown)}")
    return {**scope_values(scope), **model.config_defaults, **(config or {})}


def bound_parameters(model: SqlModel, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the parameters the SQL references (DuckDB refuses unused ones)."""
    return {name: values[name] for name in sorted(model.parameters)}


def chunk_scopes(scope: PartitionScope, chunk_sessions: int | None) -> list[PartitionScope]:
    """``scope`` split into consecutive ranges of at most ``chunk_sessions`` sessions."""
    if not chunk_sessions:
        return [scope]
    sessions = scope.sessions
    return [
        PartitionScope.of(sessions[i], sessions[min(i + chunk_sessions, len(sessions)) - 1])
        for i in range(0, len(sessions), chunk_sessions)
    ]


def _execute_select(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pl.DataFrame:
    """The one place a model's SQL runs: the file text as is, values bound by name."""
    return fetch_frame(conn, sql, params)


def _live_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        table.split("."),
    ).fetchall()
    return [c for (c,) in rows]


def _compute_chunk(
    model: SqlModel, warehouse: Warehouse, scope: PartitionScope, values: dict[str, Any]
) -> tuple[pl.DataFrame, int, list[str], dict[str, float]]:
    """One chunk's rows, how many the SELECT returned, the table's live columns and its timings."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with warehouse.connection() as conn:  # short-lived: closed before the Python step runs
        conn.register(CALENDAR_RELATION, session_frame())
        try:
            frame = _execute_select(conn, model.sql, bound_parameters(model, values))
        except duckdb.Error as exc:
            raise SqlModelError(f"{model.path}: the SELECT failed for {scope.label}: {exc}") from exc
        finally:
            conn.unregister(CALENDAR_RELATION)
        live = _live_columns(conn, model.table)
    timings["select_seconds"] = time.perf_counter() - t0
    rows_selected = frame.height

    if model.python_post:
        t1 = time.perf_counter()
        frame = post_step(model.python_post)(frame, values)
        timings["python_post_seconds"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    if "trade_date" not in frame.columns:
        raise SqlModelError(f"{model.path}: the result has no trade_date column")
    frame = frame.filter(pl.col("trade_date").is_between(scope.first, scope.last)).drop(
        [c for c in frame.columns if c.startswith("_")]
    )
    timings["filter_seconds"] = time.perf_counter() - t2
    return frame, rows_selected, live, timings


def chunks_in_flight(n_chunks: int) -> int:
    """How many chunks run at once: DuckDB runs a window over one instrument's bars on one
    thread, so one chunk keeps one core busy; more chunks at once use the others. At most four,
    so memory stays a few chunks' worth (what chunking is for)."""
    return max(1, min(n_chunks, os.cpu_count() or 1, 4))


def compute_sql_model(
    model: SqlModel,
    warehouse: Warehouse,
    scope: PartitionScope,
    config: Mapping[str, Any] | None = None,
    log: Any = None,
) -> SqlModelRun:
    """Run the SELECT (per chunk) and the post step for ``scope``; return the rows (writes nothing).

    Chunks are independent (each has its own warm-up), so several run at once on their own
    connections (``chunks_in_flight``); their rows are kept in chunk order."""
    started = time.perf_counter()
    values = run_values(model, scope, config)
    chunks = chunk_scopes(scope, model.chunk_sessions)
    timings: dict[str, float] = {}
    frames: list[pl.DataFrame] = []
    rows_selected = 0
    live: list[str] = []

    def compute(chunk: PartitionScope):
        t0 = time.perf_counter()
        return (*_compute_chunk(model, warehouse, chunk, run_values(model, chunk, config)), time.perf_counter() - t0)

    in_flight = chunks_in_flight(len(chunks))
    # One chunk (a partition, a short range): computed here, no thread.
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="sql-chunk") if in_flight > 1 else nullcontext() as pool:
        results = pool.map(compute, chunks) if pool is not None else map(compute, chunks)
        for i, (chunk, (frame, selected, live, chunk_timings, seconds)) in enumerate(zip(chunks, results), start=1):
            frames.append(frame)
            rows_selected += selected
            for name, value in chunk_timings.items():
                timings[name] = timings.get(name, 0.0) + value
            if log is not None:
                log.info(
                    f"{model.table}: chunk {i}/{len(chunks)} {chunk.label}: {selected:,} rows selected, "
                    f"{frame.height:,} kept in {seconds:.1f}s"
                )
    frame = pl.concat(frames, how="vertical", rechunk=False) if len(frames) > 1 else frames[0]

    table_columns = live or [c for c, _ in model.columns]
    missing = [c for c in table_columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in table_columns]
    if missing or extra:
        raise SqlModelError(
            f"{model.path}: result columns do not match {model.table} ({model.ddl_path}): "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    return SqlModelRun(
        model=model,
        scope=scope,
        parameters=bound_parameters(model, values),
        frame=frame.select(table_columns),
        rows_selected=rows_selected,
        chunks=[c.label for c in chunks],
        timings=timings,
        elapsed_seconds=time.perf_counter() - started,
    )


def _select_body(sql: str) -> str:
    """The model's SELECT as the text of a subquery: the file text without a trailing ``;``."""
    tokens = duckdb.tokenize(sql)
    if tokens and sql[tokens[-1][0]] == ";":
        return sql[: tokens[-1][0]]
    return sql


def _check_select_columns(model: SqlModel, conn: duckdb.DuckDBPyConnection, body: str, params: dict[str, Any],
                          table_columns: list[str], label: str) -> None:
    """The result columns of the SELECT (planned, not run: ``LIMIT 0``) against the table's."""
    conn.register(CALENDAR_RELATION, session_frame())
    try:
        described = conn.execute(f"SELECT * FROM (\n{body}\n) AS __model LIMIT 0", params).description
    except duckdb.Error as exc:
        raise SqlModelError(f"{model.path}: the SELECT failed for {label}: {exc}") from exc
    finally:
        conn.unregister(CALENDAR_RELATION)
    result = [name for name, *_ in described]
    if "trade_date" not in result:
        raise SqlModelError(f"{model.path}: the result has no trade_date column")
    result = [c for c in result if not c.startswith("_")]
    missing = [c for c in table_columns if c not in result]
    extra = [c for c in result if c not in table_columns]
    if missing or extra:
        raise SqlModelError(
            f"{model.path}: result columns do not match {model.table} ({model.ddl_path}): "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )


def _write_in_sql(
    model: SqlModel,
    warehouse: Warehouse,
    scope: PartitionScope,
    config: Mapping[str, Any] | None = None,
    log: Any = None,
) -> SqlModelRun:
    """A pure-SQL model: replace the range with one INSERT ... SELECT per chunk, rows never in Python."""
    started = time.perf_counter()
    values = run_values(model, scope, config)
    chunks = chunk_scopes(scope, model.chunk_sessions)
    body = _select_body(model.sql)
    timings = {"select_seconds": 0.0, "filter_seconds": 0.0}
    with warehouse.transaction() as tx:
        table_columns = _live_columns(tx.conn, model.table) or [c for c, _ in model.columns]
        chunk_params = [bound_parameters(model, run_values(model, chunk, config)) for chunk in chunks]
        _check_select_columns(model, tx.conn, body, chunk_params[0], table_columns, scope.label)
        columns = ", ".join('"' + c.replace('"', '""') + '"' for c in table_columns)
        insert = f"SELECT {columns} FROM (\n{body}\n) AS __model WHERE trade_date BETWEEN $first_date AND $last_date"
        selects = [
            SelectRows(
                insert,
                {**params, "first_date": chunk.first, "last_date": chunk.last},
                {CALENDAR_RELATION: session_frame()},
            )
            for chunk, params in zip(chunks, chunk_params)
        ]
        t0 = time.perf_counter()
        try:
            inserted = tx.replace(model.table, selects, scope.first, scope.last)
        except duckdb.Error as exc:
            raise SqlModelError(f"{model.path}: the SELECT failed for {scope.label}: {exc}") from exc
        timings["select_seconds"] = time.perf_counter() - t0
        distinct = ("instrument",) if "instrument" in table_columns else ()
        written = written_rows(tx.conn, model.table, scope.first, scope.last, distinct=distinct)
        if written.height != inserted:  # the range holds what this transaction wrote, nothing else
            raise SqlModelError(f"{model.table}: inserted {inserted:,} rows but {scope.label} holds {written.height:,}")
    elapsed = time.perf_counter() - started
    timings["write_seconds"] = elapsed - timings["select_seconds"]
    if log is not None:
        log.info(
            f"{model.table}: wrote {inserted:,} rows for {scope.label} in {elapsed:.1f}s "
            f"({len(chunks)} INSERT ... SELECT, no rows through Python)"
        )
        if inserted == 0:
            log.warning(f"{model.table}: no rows for {scope.label}: are its upstream partitions materialized?")
    return SqlModelRun(
        model=model,
        scope=scope,
        parameters=bound_parameters(model, values),
        frame=None,
        rows_selected=inserted,
        chunks=[c.label for c in chunks],
        timings=timings,
        elapsed_seconds=elapsed,
        written=written,
    )


def run_sql_model(
    model: SqlModel,
    warehouse: Warehouse,
    scope: PartitionScope,
    config: Mapping[str, Any] | None = None,
    log: Any = None,
) -> SqlModelRun:
    """Compute ``scope`` and replace its trade_date range of the model's table in one transaction.

    A model without ``python_post`` is written by INSERT ... SELECT, its rows never in Python
    (:func:`_write_in_sql`); one with a Python step is computed into a frame first."""
    if model.python_post is None:
        return _write_in_sql(model, warehouse, scope, config, log)
    run = compute_sql_model(model, warehouse, scope, config, log)
    t0 = time.perf_counter()
    with warehouse.transaction() as tx:
        tx.replace(model.table, run.frame, scope.first, scope.last)
    run.timings["write_seconds"] = time.perf_counter() - t0
    run.elapsed_seconds += run.timings["write_seconds"]
    if log is not None:
        log.info(f"{model.table}: wrote {run.rows_written:,} rows for {scope.label} in {run.timings['write_seconds']:.1f}s")
        if run.rows_written == 0:
            log.warning(f"{model.table}: no rows for {scope.label}: are its upstream partitions materialized?")
    return run


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _instruments_by_day(run: SqlModelRun) -> dict[dt.date, dict[str, Any]]:
    counts: dict[dt.date, int] = {}
    rows = run.rows
    if isinstance(rows, WrittenRows):
        counts = {day: n.get("instrument", 0) for day, n in rows.distinct_by_date.items()}
    elif "instrument" in rows.columns and rows.height:
        per_day = rows.group_by("trade_date").agg(pl.col("instrument").n_unique())
        counts = dict(per_day.iter_rows())
    return {day: {"instruments": int(counts.get(day, 0))} for day in run.scope.sessions}


def result_metadata(run: SqlModelRun, context: dg.AssetExecutionContext | None = None) -> dict[str, Any]:
    """Each partition's own rows and instruments (on its event); the run's numbers as ``run_*``."""
    run_summary = {
        "rows_selected_incl_warmup": run.rows_selected,
        "chunks": len(run.chunks),
        **{k: round(v, 3) for k, v in run.timings.items()},
        "elapsed_seconds": round(run.elapsed_seconds, 3),
    }
    meta = partition_metadata(
        context, run.rows, run.scope.sessions, run.scope.label, run_summary, _instruments_by_day(run)
    )
    return meta | {
        "sql_file": dg.MetadataValue.path(str(run.model.path)),
        "code_version": dg.MetadataValue.text(run.model.code_version),
        "run_parameters": dg.MetadataValue.json({k: _jsonable(v) for k, v in run.parameters.items()}),
    }


# ---------------------------------------------------------------------------------- assets


def _config_class(model: SqlModel) -> type[dg.Config]:
    fields: dict[str, Any] = {}
    for name, default in model.config_defaults.items():
        doc = (
            "Bars of each instrument read before the window so recursions and rolling windows warm up."
            if name == "warmup_bars"
            else f"Bound to ${name} in {model.path.name}."
        )
        fields[name] = (type(default), pydantic.Field(default=default, description=doc))
    class_name = "".join(p.title() for p in re.split(r"[._]", model.table)) + "Config"
    return pydantic.create_model(class_name, __base__=dg.Config, **fields)


_BUILT: dict[tuple[str, str], dg.AssetsDefinition] = {}


def build_sql_asset(model: SqlModel | Path | str) -> dg.AssetsDefinition:
    """The Dagster asset for one model file (the same object for an unchanged file)."""
    if not isinstance(model, SqlModel):
        model = load_sql_model(model)
    cache_key = (str(model.path), model.code_version)
    if cache_key in _BUILT:
        return _BUILT[cache_key]

    config_cls = _config_class(model)
    mapping = lookback_mapping(model.lookback_sessions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        code_refs = dg.CodeReferencesMetadataValue(
            code_references=[dg.LocalFileCodeReference(file_path=str(model.path), line_number=1, label="SQL model")]
        )
    described = column_descriptions(model.table, model.ddl_path)
    definition_metadata = {
        "sql_file": dg.MetadataValue.path(str(model.path)),
        "dagster/table_name": model.table,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(c, t, description=described.get(c)) for c, t in model.columns]
        ),
        "dagster/code_references": code_refs,
        "lookback_sessions": model.lookback_sessions,
        "python_post": model.python_post or "none",
        "checks": ", ".join(c.name for c in model.checks) or "none",
    }

    def _sql_model_asset(
        context: dg.AssetExecutionContext, config: dg.Config, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        scope = scope_of(context)
        values = {name: getattr(config, name) for name in model.config_defaults}
        context.log.info(f"{model.table}: {scope.label} from {model.display_path} with {values}")
        run = run_sql_model(model, warehouse, scope, values, log=context.log)
        checks = run_checks(
            warehouse, model.key, model.checks, scope, run_values(model, scope, values), log=context.log
        )
        return materialize_result(context, scope.sessions, result_metadata(run, context), checks)

    # Dagster reads the run config's schema from this annotation: the model's own class, made at
    # load time from its header (a class made at run time cannot be written in the signature).
    _sql_model_asset.__annotations__["config"] = config_cls
    asset = trading_day_asset(
        key=model.key,
        deps=[dg.AssetDep(dep, partition_mapping=mapping) for dep in model.deps],
        description=f"{model.description}\n\nSQL model: `{model.display_path}`",
        kinds={"duckdb", "sql"},
        code_version=model.code_version,
        metadata=definition_metadata,
        check_specs=check_specs(model.key, model.checks),
    )(_sql_model_asset)

    _BUILT[cache_key] = asset
    return asset


def build_sql_assets(sql_dir: Path | str | None = None) -> list[dg.AssetsDefinition]:
    """One asset per model file in ``dbt_like_sql/`` (``FINSIG_SQL_DIR``), sorted by file name."""
    assets = [build_sql_asset(path) for path in model_files(sql_dir)]
    keys = [a.key for a in assets]
    if len(set(keys)) != len(keys):
        raise SqlModelError(f"two model files define the same asset key: {keys}")
    return assets

