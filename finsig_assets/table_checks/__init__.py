"""Health checks of the silver and gold tables, shown as asset checks in the Dagster UI.

Each check is ERROR severity and blocking, evaluated with DuckDB SQL over the run's partition
range right after the asset writes it (:func:`run_checks`), and returned in the asset's
``MaterializeResult(check_results=...)`` like bronze's ``rejection_rate``:

- ``unique_non_null_keys`` (:class:`UniqueKeys`): keys set and unique in the whole table,
  ``trade_date`` set on every row;
- ``one_row_per_<schema>_<table>`` (:class:`OneRowPer`): exactly one row per upstream row of
  the range (anti-joins both ways);
- ``labels_within_session`` (:class:`LabelsWithinSession`): labels only where the horizon stays
  inside the session, re-derived from the silver bars and the calendar.

Python assets declare ``check_specs=check_specs(KEY, CHECKS)`` and call
``run_checks(warehouse, KEY, CHECKS, scope)`` after their write; SQL models declare them in a
``-- checks:`` header line (:func:`parse_checks`), which the runner turns into the same objects.
"""

from finsig_assets.table_checks.base import (
    CALENDAR_RELATION,
    CheckDefinitionError,
    TableCheck,
    Verdict,
    check_specs,
    run_checks,
    scope_values,
    validate_checks,
)
from finsig_assets.table_checks.coverage import OneRowPer
from finsig_assets.table_checks.header import parse_checks
from finsig_assets.table_checks.keys import UniqueKeys
from finsig_assets.table_checks.labels import LabelsWithinSession

__all__ = [
    "CALENDAR_RELATION",
    "CheckDefinitionError",
    "LabelsWithinSession",
    "OneRowPer",
    "TableCheck",
    "UniqueKeys",
    "Verdict",
    "check_specs",
    "parse_checks",
    "run_checks",
    "scope_values",
    "validate_checks",
]
