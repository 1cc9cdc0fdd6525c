"""The ``-- checks:`` header line of a SQL model, parsed into :class:`TableCheck` objects.

::

    -- checks: unique_keys(instrument, ts), one_row_per(silver.market_bars WHERE is_rth OR NOT $rth_only), labels_within_session(fwd_return_30m, label_up)

Items are separated by commas outside parentheses:

- ``unique_keys(col, ...)`` -> check ``unique_non_null_keys`` on those columns;
- ``one_row_per(schema.table [WHERE <boolean SQL>])`` -> check ``one_row_per_<schema>_<table>``,
  matched on the ``unique_keys`` columns (so that item is required too);
- ``labels_within_session(return_col, label_col)`` -> check ``labels_within_session`` (needs
  the model's ``horizon_minutes`` and ``max_gap_minutes`` config).

Errors are :class:`CheckDefinitionError` with the offending item; the runner prefixes the file
and line.
"""

from __future__ import annotations

import re

from finsig_assets.table_checks.base import CheckDefinitionError, TableCheck
from finsig_assets.table_checks.coverage import OneRowPer
from finsig_assets.table_checks.keys import UniqueKeys
from finsig_assets.table_checks.labels import LabelsWithinSession

KINDS = ("unique_keys", "one_row_per", "labels_within_session")
_ITEM = re.compile(r"^([a-z_]+)\s*\((.*)\)$", re.S)
_ONE_ROW_PER = re.compile(r"^([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)(?:\s+where\s+(.+))?$", re.S | re.I)


def split_items(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses and quotes."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise CheckDefinitionError(f"unbalanced ')' at character {i + 1} of {text!r}")
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth or quote:
        raise CheckDefinitionError(f"unclosed {'quote' if quote else '('} in {text!r}")
    items.append(text[start:].strip())
    return [item for item in items if item]


def _columns(args: str, item: str) -> tuple[str, ...]:
    columns = tuple(a.strip() for a in args.split(","))
    if not all(columns):
        raise CheckDefinitionError(f"{item}: empty column name")
    return columns


def parse_checks(text: str, table: str) -> tuple[TableCheck, ...]:
    """The checks a header value declares for ``table`` (see the module docstring)."""
    parsed: list[tuple[str, str, str]] = []
    for item in split_items(text):
        match = _ITEM.match(item)
        if not match:
            raise CheckDefinitionError(f"{item!r} is not name(arguments); known checks: {', '.join(KINDS)}")
        kind, args = match.group(1), match.group(2).strip()
        if kind not in KINDS:
            raise CheckDefinitionError(f"unknown check {kind!r} (known: {', '.join(KINDS)})")
        parsed.append((kind, args, item))

    keys = [_columns(args, item) for kind, args, item in parsed if kind == "unique_keys"]
    if len(keys) > 1:
        raise CheckDefinitionError("unique_keys(...) is given twice")
    checks: list[TableCheck] = []
    for kind, args, item in parsed:
        if kind == "unique_keys":
            checks.append(UniqueKeys(table, keys[0]))
        elif kind == "one_row_per":
            match = _ONE_ROW_PER.match(args)
            if not match:
                raise CheckDefinitionError(f"{item}: expected one_row_per(schema.table [WHERE condition])")
            if not keys:
                raise CheckDefinitionError(
                    f"{item}: rows are matched on the unique_keys(...) columns; declare unique_keys too"
                )
            checks.append(OneRowPer(table, match.group(1), keys[0], match.group(2)))
        else:
            columns = _columns(args, item)
            if len(columns) != 2:
                raise CheckDefinitionError(f"{item}: expected labels_within_session(return_column, label_column)")
            checks.append(LabelsWithinSession(table, *columns))
    names = [c.name for c in checks]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CheckDefinitionError(f"check {', '.join(repeated)} is declared twice")
    return tuple(checks)
