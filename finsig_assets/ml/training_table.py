"""The ``gold.training_examples`` contract as the ml/ layer reads it: keys, labels, features.

Features are discovered from the table, never hard-coded: every numeric column that is not a
key or a label (and does not start with ``fwd_`` or ``label_``) is a feature; those starting
with ``news_`` are news features and the rest are market features, so "market-only" means
"without the ``news_`` columns". A new column in ``gold/training_examples`` therefore reaches
the model with no change here, unless the run configuration's ``exclude_features`` names it
(:func:`without_features`; the default list is :mod:`finsig_assets.ml.default_features`).

Reads are one short DuckDB connection each; nothing is held while a model trains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from finsig_assets.one_row import one_row
from finsig_assets.trading_calendar import cutoff_utc, is_session, previous_session
from finsig_assets.warehouse import Warehouse, fetch_frame

TABLE = "gold.training_examples"
KEY_COLUMNS = ("instrument", "ts", "trade_date", "is_rth", "sentiment_model")
RETURN_COLUMN = "fwd_return_30m"
LABEL_COLUMN = "label_up"
LABEL_COLUMNS = (RETURN_COLUMN, LABEL_COLUMN)
HORIZON = dt.timedelta(minutes=30)
NEWS_PREFIX = "news_"
NON_FEATURE_PREFIXES = ("fwd_", "label_")
# gold.news_signals names every model behind a row's news window, joined with this separator
# ("finbert@rev + lexicon" when the window mixes them).
SENTIMENT_MODEL_SEPARATOR = " + "
# The sign-of-momentum baseline reads this market feature.
SIGN_BASELINE_FEATURE = "ret_30m"
_NUMERIC_TYPES = {
    "DOUBLE", "FLOAT", "REAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}

_COLUMNS_SQL = """
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'gold' AND table_name = 'training_examples'
ORDER BY ordinal_position
"""


@dataclass(frozen=True)
class FeatureSet:
    """The feature columns of the table, in table order, split into market and news."""

    market: tuple[str, ...]
    news: tuple[str, ...]

    @property
    def all(self) -> list[str]:
        return [*self.market, *self.news]


def is_numeric_type(data_type: str) -> bool:
    t = data_type.upper()
    return t in _NUMERIC_TYPES or t.startswith("DECIMAL")


def features_from_columns(columns: list[tuple[str, str]]) -> FeatureSet:
    """Split ``(name, duckdb type)`` pairs into market and news features."""
    excluded = set(KEY_COLUMNS) | set(LABEL_COLUMNS)
    market: list[str] = []
    news: list[str] = []
    for name, data_type in columns:
        if name in excluded or name.startswith(NON_FEATURE_PREFIXES) or not is_numeric_type(data_type):
            continue
        (news if name.startswith(NEWS_PREFIX) else market).append(name)
    return FeatureSet(tuple(market), tuple(news))


def sentiment_models(values) -> set[str]:
    """The individual sentiment models named by ``sentiment_model`` values (NULLs ignored)."""
    out: set[str] = set()
    for value in values:
        if value:
            out |= {part.strip() for part in str(value).split(SENTIMENT_MODEL_SEPARATOR) if part.strip()}
    return out


def without_features(features: FeatureSet, excluded: Sequence[str]) -> FeatureSet:
    """``features`` less the ``excluded`` columns: the model's feature set as configured.

    A name that is not a feature of the table is refused rather than ignored: a misspelt
    exclusion would otherwise train on the very column it meant to leave out.
    """
    unknown = sorted(set(excluded) - set(features.all))
    if unknown:
        raise ValueError(
            f"excluded feature(s) {unknown} are not features of {TABLE}; its features are "
            f"{', '.join(features.all)} (a column of dbt_like_sql/tables/{TABLE}.sql that is numeric, "
            "not a key and not a label)"
        )
    drop = set(excluded)
    return FeatureSet(
        tuple(c for c in features.market if c not in drop),
        tuple(c for c in features.news if c not in drop),
    )


def discover_features(warehouse: Warehouse) -> FeatureSet:
    with warehouse.connection() as conn:
        rows = conn.execute(_COLUMNS_SQL).fetchall()
    if not rows:
        raise RuntimeError(f"{TABLE} does not exist: dbt_like_sql/tables/{TABLE}.sql should create it")
    return features_from_columns([(r[0], r[1]) for r in rows])


def window_sessions(last: dt.date, n: int) -> list[dt.date]:
    """The ``n`` XNYS sessions ending at ``last`` (inclusive), oldest first."""
    if not is_session(last):
        raise ValueError(f"{last} is not an XNYS session")
    days = [last]
    while len(days) < n:
        days.append(previous_session(days[-1]))
    return days[::-1]


def read_labelled_examples(
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    features: FeatureSet,
    rth_only: bool,
) -> pl.DataFrame:
    """Labelled rows of sessions ``first..last`` whose label horizon ends by ``last``'s cutoff.

    The horizon condition is defensive (labels never cross the close by contract): no row of
    this frame can carry information from after 17:00 New York on ``last``.
    """
    return _read(
        warehouse,
        first,
        last,
        features.all,
        rth_only,
        labelled_only=True,
        horizon_end=cutoff_utc(last),
    )


def last_labelled_session(warehouse: Warehouse, rth_only: bool) -> dt.date | None:
    """The latest session with a labelled row: where the data ends (None: no labelled row at all)."""
    sql = f"SELECT max(trade_date) FROM {TABLE} WHERE {LABEL_COLUMN} IS NOT NULL AND {RETURN_COLUMN} IS NOT NULL"
    if rth_only:
        sql += " AND is_rth"
    with warehouse.connection() as conn:
        return one_row(conn, sql)[0]


def read_session_rows(
    warehouse: Warehouse, day: dt.date, feature_names: list[str], rth_only: bool
) -> pl.DataFrame:
    """Every row of one session (labelled or not), for prediction."""
    return _read(warehouse, day, day, feature_names, rth_only, labelled_only=False, horizon_end=None)


def _read(
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    feature_names: list[str],
    rth_only: bool,
    labelled_only: bool,
    horizon_end: dt.datetime | None,
) -> pl.DataFrame:
    columns = [*KEY_COLUMNS, *LABEL_COLUMNS, *feature_names]
    # Column names come from information_schema (or a model's own feature list checked against
    # it), never from user input; values are bound parameters.
    for c in columns:
        if not c.replace("_", "").isalnum():
            raise ValueError(f"bad column name {c!r}")
    select = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT {select} FROM {TABLE} WHERE trade_date BETWEEN $first AND $last"
    params: dict = {"first": first, "last": last}
    if rth_only:
        sql += " AND is_rth"
    if labelled_only:
        sql += f" AND {LABEL_COLUMN} IS NOT NULL AND {RETURN_COLUMN} IS NOT NULL"
    if horizon_end is not None:
        sql += " AND ts + $horizon <= $horizon_end"
        params |= {"horizon": HORIZON, "horizon_end": horizon_end}
    sql += " ORDER BY ts, instrument"
    with warehouse.connection() as conn:
        frame = fetch_frame(conn, sql, params)
    casts = [pl.col(c).cast(pl.Float64) for c in feature_names]
    return frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")), *casts)
