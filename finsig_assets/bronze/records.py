"""Pieces every bronze parser shares: rejections, instants, safe text for reasons and raw excerpts.

A record the bronze layer cannot accept becomes a *rejection*: a short machine ``kind`` (used to
count and group in metadata and in the ``rejection_rate`` check) and a human-readable ``reason``
that names the problem and the offending value (it lands in ``bronze.quarantine.reason``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
import polars as pl

from finsig_assets.landing_files import safe_text  # noqa: F401  (one definition, shared)
from finsig_assets.warehouse import polars_schema

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

RAW_MAX_CHARS = 500
UTF8_BOM = b"\xef\xbb\xbf"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_EXTRA_DIGITS = re.compile(r"[.,](\d{7,})")

# Canonical RFC 3339 instants: these go through the vectorised polars parser. Anything else
# (space separator, basic format, week dates, no zone, garbage) takes the exact Python path.
RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:[0-5]\d(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
RFC3339_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"

UTC_US = pl.Datetime("us", "UTC")

# Columns and their polars types: a type class (pl.Int64) or an instance (UTC_US), as polars takes them.
ColumnTypes: TypeAlias = "Mapping[str, PolarsDataType]"

QUARANTINE_SCHEMA: ColumnTypes = polars_schema("bronze.quarantine")  # from the DDL (the contract)

# What the parsers hand back for records that cannot be placed (no usable timestamp).
UNPLACEABLE_SCHEMA: ColumnTypes = {
    "source_line": pl.Int64,
    "kind": pl.String,
    "reason": pl.String,
    "raw": pl.String,
}

# Per (file, trade_date): where that day's records sit in the file, so a partition reads a slice.
DAY_SPAN_SCHEMA: ColumnTypes = {
    "trade_date": pl.Date,
    "n_records": pl.Int64,
    "byte_start": pl.Int64,
    "byte_end": pl.Int64,
    "line_start": pl.Int64,
    "min_ts": UTC_US,
    "max_ts": UTC_US,
}


def day_spans(placed: pl.DataFrame) -> pl.DataFrame:
    """Per (file, trade_date) of placed records: count, byte range, first line, time range.

    This is what the landing index stores, so that a partition reads only its byte ranges.
    """
    return (
        placed.group_by("file", "trade_date")
        .agg(
            pl.len().cast(pl.Int64).alias("n_records"),
            pl.col("byte_start").min(),
            pl.col("byte_end").max(),
            pl.col("source_line").min().alias("line_start"),
            pl.col("ts").min().alias("min_ts"),
            pl.col("ts").max().alias("max_ts"),
        )
        .select(["file", *DAY_SPAN_SCHEMA])
        .sort("file", "trade_date")
    )


class RecordRejected(Exception):
    """Raised inside the record validators; carries the kind and the human-readable reason."""

    time: str | None = None  # a rejected candle's usable time string, set by candle_records.classify_candle

    def __init__(self, kind: str, reason: str):
        reason = safe_text(reason)  # reasons quote input; they must still be storable text
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def show(value: Any, limit: int = 60) -> str:
    """A short, printable rendering of a JSON value for a reason text (quoted strings, escapes)."""
    if isinstance(value, str):
        text = value.encode("unicode_escape", errors="backslashreplace").decode("ascii").replace("'", "\\'")
        if len(text) > limit:
            text = text[:limit] + "…"
        return f"'{text}'"
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def json_type(value: Any) -> str:
    """JSON's name for the type of a decoded value (for 'wrong type' reasons)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def raw_excerpt(raw: bytes | str, limit: int = RAW_MAX_CHARS) -> str:
    """The record as landed, decoded leniently, NULs escaped, truncated to ``limit`` characters."""
    if isinstance(raw, bytes):
        text = raw[: limit * 4 + 8].decode("utf-8", errors="backslashreplace")
    else:
        text = raw.encode("utf-8", errors="backslashreplace").decode("utf-8")
    text = text.rstrip("\r\n").replace("\x00", "\\x00")
    return text if len(text) <= limit else text[:limit] + "…[truncated]"


def decode_json(data: bytes) -> Any:
    """Decode one JSON text, or raise ``RecordRejected`` with a precise reason.

    orjson is strict and fast. When it refuses, the standard library gets a second look: it
    accepts ``NaN``/``Infinity`` literals and unpaired ``\\uD800`` escapes, which lets the
    validators name the field that is non-finite or holds broken text instead of a bare
    "invalid JSON". Bytes that are not UTF-8 are reported with the offending byte and offset.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise RecordRejected("not_utf8", f"not valid UTF-8: byte 0x{bad} at offset {exc.start}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    raise RecordRejected("invalid_json", f"invalid JSON: {first_error}")


def find_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding an unpaired surrogate, if any."""
    if isinstance(value, str):
        return path or "value" if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _has_surrogate(key):
                return f"key of {sub}"
            found = find_surrogate(item, sub)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = find_surrogate(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def text_problem(text: str, min_len_for_ratio: int = 8, max_control_ratio: float = 0.1) -> str | None:
    """Why ``text`` is not usable text, or None.

    Not text: a NUL character, an unpaired surrogate, or more than ``max_control_ratio`` of its
    characters being control characters (other than tab/newline/carriage return) or U+FFFD
    replacement characters — the signature of binary data or a wrongly decoded page.
    """
    if "\x00" in text:
        return f"contains a NUL character at position {text.index(chr(0))}"
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return f"contains an unpaired surrogate U+{ord(ch):04X} at position {i}"
    if len(text) >= min_len_for_ratio:
        bad = sum(
            1
            for ch in text
            if ch == "\ufffd" or (ch not in "\t\n\r" and unicodedata.category(ch) == "Cc")
        )
        if bad / len(text) > max_control_ratio:
            return f"is {bad / len(text):.0%} control/replacement characters ({bad} of {len(text)})"
    return None


@dataclass(frozen=True)
class Instant:
    ns: int | None  # nanoseconds since the epoch, UTC
    kind: str | None = None
    reason: str | None = None


def parse_instant(text: str, field_name: str = "time") -> Instant:
    """Exact Python parse of one ISO 8601 instant (the fallback for non-canonical spellings).

    A zone is required (``Z`` or an offset); fractional digits beyond microseconds are kept.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return Instant(None, "unparsable_time", f"{field_name} {show(text)} is not an ISO 8601 timestamp")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return Instant(None, "naive_time", f"{field_name} {show(text)} has no time zone (expected Z or an offset)")
    micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
    extra = 0
    match = _EXTRA_DIGITS.search(text)
    if match:
        extra = int(match.group(1)[6:9].ljust(3, "0"))
    ns = micros * 1000 + extra
    if not _I64_MIN <= ns <= _I64_MAX:
        return Instant(None, "unparsable_time", f"{field_name} {show(text)} is outside the supported range")
    return Instant(ns)


def parse_instants(texts: pl.Series, field_name: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Vectorised parse of instants: (ns Int64, kind, reason); null ns where the text is unusable.

    Canonical RFC 3339 strings go through polars' parser; the rest through ``parse_instant``.
    Null input gives null ns and a null reason (the caller decides what a missing value means).
    """
    n = texts.len()
    canonical = texts.str.contains(RFC3339_PATTERN).fill_null(False)
    fast = (
        texts.str.to_datetime(RFC3339_FORMAT, time_unit="ns", time_zone="UTC", strict=False)
        .to_physical()
        .alias("ns")
    )
    if not canonical.all():
        fast = pl.select(pl.when(canonical).then(fast).otherwise(None)).to_series()
    kinds = pl.repeat(None, n, dtype=pl.String, eager=True).alias("kind")
    reasons = pl.repeat(None, n, dtype=pl.String, eager=True).alias("reason")
    slow_idx = (fast.is_null() & texts.is_not_null()).arg_true()
    if slow_idx.len():
        idx = slow_idx.to_list()
        parsed = [parse_instant(t, field_name) for t in texts.gather(idx).to_list()]
        fast = fast.scatter(idx, pl.Series([p.ns for p in parsed], dtype=pl.Int64))
        kinds = kinds.scatter(idx, pl.Series([p.kind for p in parsed], dtype=pl.String))
        reasons = reasons.scatter(idx, pl.Series([p.reason for p in parsed], dtype=pl.String))
    return fast, kinds, reasons


@dataclass
class ParseStats:
    """Counts a parser keeps while it reads one file (or one slice of it)."""

    lines: int = 0
    blank_lines: int = 0
    duplicate_lines: int = 0  # exact duplicate lines inside one news batch
    non_article_lines: int = 0
    blank_by_file: dict | None = None
