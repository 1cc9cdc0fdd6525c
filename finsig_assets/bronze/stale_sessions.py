"""Which sessions a bronze run leaves out of date, for the landing sensor to pick up.

A bronze run re-indexes every new, changed or deleted landing file, whatever range it was asked
for, but rewrites only the rows of its own range. A multi-day file that changed also holds
records of other sessions, before or after the change: their bronze rows are now out of date
although no run was asked for them -- and once the index says the file is known, a comparison of
the landing zone with the index no longer shows it. So, in the same transaction as the index
change, the run records those sessions in ``meta.stale_sessions``, and removes the rows of its
own range (they are up to date now). The landing sensor requests every stale session.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from finsig_assets.partition_scope import PartitionScope
from finsig_assets.warehouse import Transaction

# Written as delete-then-insert rather than ``ON CONFLICT DO UPDATE``: DuckLake tables have no
# keys to conflict on, and the key (dataset, trade_date) holds the same either way.
_MARKED_SESSIONS = """
SELECT trade_date, min(path) AS path
FROM (
    SELECT path, trade_date FROM meta.landing_file_days
    WHERE dataset = $dataset AND path IN (SELECT path FROM __replaced_paths_stale)
    UNION
    SELECT path, trade_date FROM __new_days_stale
)
WHERE trade_date NOT BETWEEN $first AND $last
GROUP BY trade_date
"""
_UNMARK_SQL = f"""
DELETE FROM meta.stale_sessions
WHERE dataset = $dataset AND trade_date IN (SELECT trade_date FROM ({_MARKED_SESSIONS}))
"""
_MARK_SQL = f"""
INSERT INTO meta.stale_sessions (dataset, trade_date, since, reason)
SELECT $dataset, trade_date, $since,
       'landing file ' || path || ' was added, changed or deleted; the bronze run for ' || $label
       || ' re-indexed it but does not cover this session'
FROM ({_MARKED_SESSIONS})
"""


def mark_stale_sessions(
    tx: Transaction,
    dataset: str,
    replaced_paths: list[str],
    new_day_rows: pl.DataFrame,
    scope: PartitionScope,
    run_at: dt.datetime,
) -> None:
    """Inside the caller's transaction, BEFORE the index rows of ``replaced_paths`` are replaced:
    record the sessions outside ``scope`` that those files held before or hold now, and clear the
    stale rows of ``scope`` itself."""
    tx.execute(
        "DELETE FROM meta.stale_sessions WHERE dataset = ? AND trade_date BETWEEN ? AND ?",
        [dataset, scope.first, scope.last],
    )
    if not replaced_paths:
        return
    paths = pl.DataFrame({"path": replaced_paths}, schema={"path": pl.String})
    days = (
        new_day_rows.select("path", "trade_date")
        if new_day_rows.height
        else pl.DataFrame(schema={"path": pl.String, "trade_date": pl.Date})
    )
    tx.register("__replaced_paths_stale", paths)
    tx.register("__new_days_stale", days)
    try:
        where = {"dataset": dataset, "first": scope.first, "last": scope.last}
        tx.execute(_UNMARK_SQL, where)
        tx.execute(_MARK_SQL, {**where, "since": run_at, "label": scope.label})
    finally:
        tx.unregister("__replaced_paths_stale")
        tx.unregister("__new_days_stale")
