"""Parse and validate candle lines: both OANDA shapes, every line accounted for.

Accepted shapes (one JSON object a line):

* raw v20 — ``{"complete": true, "volume": 12, "time": "2024-10-13T22:00:00.000000000Z",
  "mid": {"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "5816.8"}}``; the instrument is not
  in the line, so it is ``default_instrument`` (configurable, ``SPX500_USD``) unless the line
  carries an ``instrument`` key;
* flattened — ``{"time": ..., "instrument": "SPX500_USD", "granularity": "M1", "open": 5816.2,
  "high": ..., "low": ..., "close": ..., "volume": 4, "collected_at": ...}``.

Prices may be JSON numbers or numeric strings in either shape (OANDA sends strings, the
flattener numbers); anything else (``true``, ``null``, arrays) is the wrong type. ``volume`` must
be a JSON integer (``12.0`` is accepted as 12, ``12.5`` is not). ``"complete": false`` candles are
in progress: they are counted, not stored and not quarantined. Blank lines are counted.

How it is fast: the two canonical line shapes are matched by regular expression over a chunk of
~50k lines at once (``candle_line_patterns``: Rust, ~2M lines/s); only the other lines take the
per-line walk (``walk_lines``: orjson, a type-checked fast path for either shape in any key order,
the garbage collector paused, and the slow, exact ``classify_candle`` for what it does not vouch
for, which names the problem). Everything that needs a decision over values -- timestamp parsing,
the minute boundary, finiteness, positivity, OHLC order, volume sign, trade-date placement -- runs
vectorised in polars over the chunk, which may span several small files (``Segment``), so a
landing zone of many small files costs what one big file does. Raw text is only kept for rejected
lines.

A record whose own timestamp cannot be read (or lies outside the XNYS calendar) cannot be
placed in a partition: it comes back in ``unplaceable`` and the landing index quarantines it
with a NULL trade_date. Every other rejection is "placed" and quarantined by the partition run
that owns its trade date.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from finsig_assets import landing_files
from finsig_assets.bronze.candle_line_patterns import MATCHED_SCHEMA, match_canonical
from finsig_assets.bronze.records import (
    day_spans,
    UNPLACEABLE_SCHEMA,
    UTC_US,
    UTF8_BOM,
    ParseStats,
    RecordRejected,
    decode_json,
    find_surrogate,
    json_type,
    parse_instants,
    raw_excerpt,
    show,
)
from finsig_assets.trading_calendar import assign_trade_dates, session_frame

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes

DEFAULT_INSTRUMENT = "SPX500_USD"
READ_HINT_BYTES = 8 << 20  # ~50k lines per chunk
_PRICE_FIELDS = ("open", "high", "low", "close")
_V20_KEYS = ("o", "h", "l", "c")
_NUMBER = (int, float)
_NS_PER_MINUTE = 60_000_000_000

# Columns of the "placed" frame a candle parse returns (payload is null on rejected rows).
PLACED_SCHEMA: ColumnTypes = {
    "trade_date": pl.Date,
    "ts": UTC_US,
    "source_line": pl.Int64,
    "byte_start": pl.Int64,
    "byte_end": pl.Int64,
    "status": pl.String,  # 'ok' | 'rejected' | 'incomplete'
    "kind": pl.String,
    "reason": pl.String,
    "raw": pl.String,
    "instrument": pl.String,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Int64,
    "collected_at": UTC_US,
}


@dataclass(frozen=True)
class CandleSettings:
    default_instrument: str = DEFAULT_INSTRUMENT
    instruments: frozenset[str] = frozenset({DEFAULT_INSTRUMENT})

    @classmethod
    def of(cls, default_instrument: str = DEFAULT_INSTRUMENT, instruments: Iterable[str] = ()) -> "CandleSettings":
        return cls(default_instrument, frozenset({default_instrument, *instruments}))


class _Incomplete:
    """Marker: a ``"complete": false`` candle (normal for the bar in progress)."""

    def __init__(self, time: Any):
        self.time = time


def classify_candle(obj: Any, settings: CandleSettings) -> tuple | _Incomplete:
    """The exact, slow walk over one decoded candle: values, or ``RecordRejected`` naming the problem.

    Returns ``(time, open, high, low, close, volume, instrument, collected_at)`` with prices as
    floats and volume as int; value checks (finite, positive, OHLC order, minute boundary) are
    the vectorised stage's job. A rejection carries ``.time`` (the raw time string, if any) so
    the record can still be placed in its partition.
    """
    try:
        values = _classify(obj, settings)
    except RecordRejected as rej:
        rej.time = _usable_time(obj.get("time")) if isinstance(obj, dict) else None
        raise
    if isinstance(values, _Incomplete):
        values.time = _usable_time(values.time)
    return values


def _usable_time(value: Any) -> str | None:
    """A time string that can go into a column (not one holding unpaired surrogates)."""
    if isinstance(value, str) and find_surrogate(value) is None:
        return value
    return None


def _classify(obj: Any, settings: CandleSettings) -> tuple | _Incomplete:
    if not isinstance(obj, dict):
        raise RecordRejected("not_object", f"not a JSON object (got {json_type(obj)} {show(obj, 40)})")
    where = find_surrogate(obj)
    if where:
        raise RecordRejected("invalid_text", f"{where} holds an unpaired surrogate escape (not valid text)")
    complete = obj.get("complete", True)
    if not isinstance(complete, bool):
        raise RecordRejected("wrong_type", f"complete must be true or false, got {json_type(complete)} {show(complete)}")
    if complete is False:
        return _Incomplete(obj.get("time"))

    if "mid" in obj:
        prices = obj["mid"]
        if not isinstance(prices, dict):
            raise RecordRejected("wrong_type", f"mid must be an object of o/h/l/c prices, got {json_type(prices)} {show(prices)}")
        names = [(f"mid.{k}", k) for k in _V20_KEYS]
    elif any(k in obj for k in _PRICE_FIELDS):
        prices = obj
        names = [(k, k) for k in _PRICE_FIELDS]
    elif "bid" in obj or "ask" in obj:
        raise RecordRejected("unknown_shape", "OANDA v20 candle without 'mid' prices (has bid/ask); only mid candles are accepted")
    else:
        keys = ", ".join(show(k, 20) for k in list(obj)[:8]) or "none"
        raise RecordRejected(
            "unknown_shape",
            f"unknown candle shape: neither 'mid' (OANDA v20) nor 'open'/'high'/'low'/'close' (flattened); keys: {keys}",
        )

    missing = [] if "time" in obj else ["time"]
    missing += [label for label, key in names if key not in prices]
    if "volume" not in obj:
        missing.append("volume")
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise RecordRejected("missing_field", f"missing required field{plural} " + ", ".join(f"'{m}'" for m in missing))

    time = obj["time"]
    if not isinstance(time, str):
        raise RecordRejected("wrong_type", f"time must be a string, got {json_type(time)} {show(time)}")

    values = []
    for label, key in names:
        value = prices[key]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RecordRejected(
                "wrong_type", f"{label} must be a number or numeric string, got {json_type(value)} {show(value)}"
            )
        if isinstance(value, str):
            try:
                values.append(float(value))
            except ValueError:
                raise RecordRejected("not_numeric", f"{label} {show(value)} is not a number") from None
        else:
            try:
                values.append(float(value))
            except OverflowError:
                raise RecordRejected("non_finite", f"{label} {show(value)} is not finite") from None

    volume = obj["volume"]
    if isinstance(volume, bool) or not isinstance(volume, (int, float)):
        raise RecordRejected("wrong_type", f"volume must be an integer, got {json_type(volume)} {show(volume)}")
    if isinstance(volume, float):
        if not math.isfinite(volume):
            raise RecordRejected("non_finite", f"volume {show(volume)} is not finite")
        if not volume.is_integer():
            raise RecordRejected("non_integer_volume", f"volume {show(volume)} is not an integer")
        volume = int(volume)

    instrument = obj.get("instrument")
    if instrument is None:
        instrument = settings.default_instrument
    elif not isinstance(instrument, str):
        raise RecordRejected("wrong_type", f"instrument must be a string, got {json_type(instrument)} {show(instrument)}")
    if instrument not in settings.instruments:
        accepted = ", ".join(sorted(settings.instruments))
        raise RecordRejected("instrument_mismatch", f"instrument {show(instrument)} is not an accepted instrument ({accepted})")

    granularity = obj.get("granularity")
    if granularity is not None and granularity != "M1":
        raise RecordRejected("granularity_not_m1", f"granularity {show(granularity)} is not M1 (one-minute candles only)")

    collected_at = obj.get("collected_at")
    if collected_at is not None and not isinstance(collected_at, str):
        raise RecordRejected("wrong_type", f"collected_at must be a string, got {json_type(collected_at)} {show(collected_at)}")

    return (time, *values, volume, instrument, collected_at)


@dataclass
class CandleChunk:
    placed: pl.DataFrame
    unplaceable: pl.DataFrame
    stats: ParseStats = field(default_factory=ParseStats)


@dataclass(frozen=True)
class Segment:
    """Consecutive lines of one file inside a chunk: ``n_lines`` lines starting at 1-based line
    ``first_line`` and byte ``first_offset`` of file number ``file`` (its position in a batch)."""

    file: int
    first_line: int
    first_offset: int
    n_lines: int


def parse_candle_chunk(
    lines: list[bytes],
    first_line: int,
    first_offset: int,
    settings: CandleSettings,
    keep: tuple[dt.date, dt.date] | None = None,
) -> tuple[CandleChunk, pl.DataFrame]:
    """Parse consecutive lines of one file (``first_line`` is the 1-based number of ``lines[0]``).

    Returns the chunk (placed rows restricted to ``keep`` when given) and the chunk's day spans
    (over every placed row, kept or not) for the landing index.
    """
    chunk, days = parse_candle_segments(lines, [Segment(0, first_line, first_offset, len(lines))], settings, keep)
    return CandleChunk(chunk.placed.drop("file"), chunk.unplaceable.drop("file"), chunk.stats), days.drop("file")


def parse_candle_segments(
    lines: list[bytes],
    segments: list[Segment],
    settings: CandleSettings,
    keep: tuple[dt.date, dt.date] | None = None,
) -> tuple[CandleChunk, pl.DataFrame]:
    """Parse lines of one or more files in one pass (many small files cost what one big one does).

    Every returned frame carries ``file`` (the segment's file number); ``stats.blank_by_file``
    counts blank lines per file number.
    """
    positions = line_positions(lines, segments)
    matched = match_canonical(lines, settings.default_instrument, settings.instruments)
    walked = walk_lines(lines, _unmatched_rows(len(lines), matched["row"]), settings, _first_line_rows(segments))

    n = len(lines)
    stats = ParseStats(lines=n, blank_lines=len(walked.blank_rows))
    blank_files = positions["file"].gather(walked.blank_rows) if walked.blank_rows else None
    stats.blank_by_file = dict(blank_files.value_counts().iter_rows()) if blank_files is not None else {}
    values = pl.concat([matched.with_columns(_NO_PRE_CHECK), walked.values], how="vertical").sort("row")
    frame = positions.join(values, on="row", how="inner", maintain_order="left")
    ns, time_kind, time_reason = parse_instants(frame["time_str"], "time")
    ca_ns, _, ca_reason = parse_instants(frame["collected_str"], "collected_at")
    frame = frame.with_columns(
        ns.alias("ns"),
        time_kind.alias("time_kind"),
        time_reason.alias("time_reason"),
        ca_ns.alias("ca_ns"),
        ca_reason.alias("ca_reason"),
    ).with_columns(
        pl.col("ns").cast(pl.Datetime("ns", "UTC")).dt.cast_time_unit("us").alias("ts"),
        pl.col("ca_ns").cast(pl.Datetime("ns", "UTC")).dt.cast_time_unit("us").alias("collected_at"),
    )
    return _finish_chunk(frame, lines, stats, keep)


# What the per-line walk adds to a line's values: its rejection (if it already has one) and
# whether it is an in-progress candle. A pattern-matched line has neither.
_NO_PRE_CHECK = (
    pl.lit(None, pl.String).alias("pre_kind"),
    pl.lit(None, pl.String).alias("pre_reason"),
    pl.lit(False).alias("incomplete"),
)
WALKED_SCHEMA: ColumnTypes = {
    **MATCHED_SCHEMA,
    "pre_kind": pl.String,
    "pre_reason": pl.String,
    "incomplete": pl.Boolean,
}


def line_positions(lines: list[bytes], segments: list[Segment]) -> pl.DataFrame:
    """Per line: ``row`` (index in ``lines``), ``file``, 1-based ``source_line`` and its byte span,
    from the line lengths and each segment's first line and offset."""
    n = len(lines)
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    ends = np.empty(n, dtype=np.int64)
    source_line = np.empty(n, dtype=np.int64)
    file_ids = np.empty(n, dtype=np.int64)
    at = 0
    for seg in segments:
        stop = at + seg.n_lines
        ends[at:stop] = np.cumsum(lengths[at:stop]) + seg.first_offset
        source_line[at:stop] = np.arange(seg.first_line, seg.first_line + seg.n_lines, dtype=np.int64)
        file_ids[at:stop] = seg.file
        at = stop
    if at != n:
        raise ValueError(f"segments cover {at} lines, the chunk has {n}")
    return pl.DataFrame(
        {
            "row": pl.Series(np.arange(n, dtype=np.int64)),
            "file": pl.Series(file_ids),
            "source_line": pl.Series(source_line),
            "byte_start": pl.Series(ends - lengths),
            "byte_end": pl.Series(ends),
        }
    )


def _first_line_rows(segments: list[Segment]) -> set[int]:
    """Rows holding a file's first line, which may carry a UTF-8 byte order mark."""
    rows, row0 = set(), 0
    for seg in segments:
        if seg.first_offset == 0:
            rows.add(row0)
        row0 += seg.n_lines
    return rows


def _unmatched_rows(n: int, matched_rows: pl.Series) -> list[int]:
    unmatched = np.ones(n, dtype=bool)
    unmatched[matched_rows.to_numpy()] = False
    return np.flatnonzero(unmatched).tolist()


@dataclass
class LineWalk:
    """What the per-line walk made of the lines it was given: ``values`` (``WALKED_SCHEMA``, one
    row per non-blank line) and the rows that were blank."""

    values: pl.DataFrame
    blank_rows: list[int]


def walk_lines(lines: list[bytes], rows: list[int], settings: CandleSettings, bom_rows: set[int]) -> LineWalk:
    """The per-line walk over ``rows`` of ``lines``: ``orjson``, a type-checked fast path for the two
    shapes in any key order, and the exact ``classify_candle`` for the rest, which names the problem."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    default_instrument = settings.default_instrument
    accepted = settings.instruments
    number = _NUMBER
    # The prices as decoded: checked with ``type(x) in number`` (exact int or float, never bool),
    # which a type checker does not narrow.
    o: Any
    h: Any
    lo: Any
    c: Any
    out: list[tuple] = []
    append = out.append
    blank_rows: list[int] = []

    gc_enabled = gc.isenabled()
    gc.disable()  # the loop allocates many short-lived containers and no cycles
    try:
        for row in rows:
            line = lines[row]
            try:
                obj = loads(line)
            except decode_error:
                obj = None
            if type(obj) is dict:
                t = obj.get("time")
                v = obj.get("volume")
                inst = obj.get("instrument", default_instrument)
                if (
                    type(t) is str
                    and type(v) is int
                    and type(inst) is str
                    and inst in accepted
                    and obj.get("complete", True) is True
                    and obj.get("granularity", "M1") == "M1"
                ):
                    ca = obj.get("collected_at")
                    if ca is None or type(ca) is str:
                        mid = obj.get("mid")
                        if mid is not None:
                            if type(mid) is dict:
                                o, h, lo, c = mid.get("o"), mid.get("h"), mid.get("l"), mid.get("c")
                                if type(o) is str and type(h) is str and type(lo) is str and type(c) is str:
                                    try:
                                        append((row, t, float(o), float(h), float(lo), float(c), v, inst, ca, None, None, False))
                                        continue
                                    except ValueError:
                                        pass
                        else:
                            o, h, lo, c = obj.get("open"), obj.get("high"), obj.get("low"), obj.get("close")
                            if type(o) in number and type(h) in number and type(lo) in number and type(c) in number:
                                append((row, t, float(o), float(h), float(lo), float(c), v, inst, ca, None, None, False))
                                continue
            # Slow path: blank lines, BOMs, and anything the fast path did not vouch for.
            text = line.strip()
            if row in bom_rows and text.startswith(UTF8_BOM):
                text = text[3:].strip()
            if not text:
                blank_rows.append(row)
                continue
            try:
                if obj is None:
                    obj = decode_json(text)
                values = classify_candle(obj, settings)
            except RecordRejected as rej:
                append((row, getattr(rej, "time", None), None, None, None, None, None, None, None, rej.kind, rej.reason, False))
                continue
            if isinstance(values, _Incomplete):
                append((row, values.time, None, None, None, None, None, None, None, None, None, True))
            else:
                append((row, *values, None, None, False))
    finally:
        if gc_enabled:
            gc.enable()
    return LineWalk(_walked_frame(out), blank_rows)


def _walked_frame(out: list[tuple]) -> pl.DataFrame:
    if not out:
        return pl.DataFrame(schema=WALKED_SCHEMA)
    columns = list(zip(*out))
    return pl.DataFrame(
        {
            "row": pl.Series(columns[0], dtype=pl.Int64),
            "time_str": pl.Series(columns[1], dtype=pl.String),
            "open": _float_column(columns[2]),
            "high": _float_column(columns[3]),
            "low": _float_column(columns[4]),
            "close": _float_column(columns[5]),
            # Integers beyond int64 become null here and are rejected as out of range later.
            "volume": _int_column(columns[6]),
            "instrument": pl.Series(columns[7], dtype=pl.String),
            "collected_str": pl.Series(columns[8], dtype=pl.String),
            "pre_kind": pl.Series(columns[9], dtype=pl.String),
            "pre_reason": pl.Series(columns[10], dtype=pl.String),
            "incomplete": pl.Series(columns[11], dtype=pl.Boolean),
        }
    )


def _float_column(values: tuple) -> pl.Series:
    try:
        return pl.Series(np.array(values, dtype=np.float64))  # fast when there is no None
    except (TypeError, ValueError):
        return pl.Series(values, dtype=pl.Float64)


def _int_column(values: tuple) -> pl.Series:
    try:
        return pl.Series(np.array(values, dtype=np.int64))
    except (TypeError, ValueError, OverflowError):
        return pl.Series(values, dtype=pl.Int64, strict=False)


@lru_cache(maxsize=1)
def _calendar_bounds() -> tuple[str, str]:
    sessions = session_frame()
    return str(sessions["window_start"].min()), str(sessions["window_end"].max())


def _finish_chunk(
    frame: pl.DataFrame,
    lines: list[bytes],
    stats: ParseStats,
    keep: tuple[dt.date, dt.date] | None,
) -> tuple[CandleChunk, pl.DataFrame]:
    timed = assign_trade_dates(frame.filter(pl.col("ts").is_not_null()), "ts")
    untimed = frame.filter(pl.col("ts").is_null()).with_columns(pl.lit(None, pl.Date).alias("trade_date"))
    frame = pl.concat([timed, untimed], how="vertical") if untimed.height else timed

    lo, hi = _calendar_bounds()
    also = pl.when(pl.col("pre_reason").is_not_null()).then(pl.lit("; also: ") + pl.col("pre_reason")).otherwise(pl.lit(""))
    unplaceable = (
        frame.filter(pl.col("trade_date").is_null())
        .with_columns(
            pl.when(pl.col("time_kind").is_not_null())
            .then(pl.col("time_kind"))
            .when(pl.col("ns").is_null())
            .then(pl.col("pre_kind"))
            .otherwise(pl.lit("outside_calendar"))
            .alias("kind"),
            pl.when(pl.col("time_kind").is_not_null())
            .then(pl.col("time_reason") + also)
            .when(pl.col("ns").is_null())
            .then(pl.col("pre_reason"))
            .otherwise(
                pl.format("time '{}' is outside the XNYS calendar ({} .. {})", pl.col("time_str"), pl.lit(lo), pl.lit(hi)) + also
            )
            .alias("reason"),
        )
        .select("row", "file", "source_line", "kind", "reason")
    )
    placed = frame.filter(pl.col("trade_date").is_not_null())

    # Day spans over every placed record (valid, rejected or in progress): the landing index.
    days = day_spans(placed)
    if keep is not None:
        placed = placed.filter(pl.col("trade_date").is_between(keep[0], keep[1]))

    checks = [
        (pl.col("ns") % _NS_PER_MINUTE != 0, "off_minute_time", pl.format("time '{}' is not on a minute boundary", pl.col("time_str"))),
    ]
    for name in _PRICE_FIELDS:
        checks.append((~pl.col(name).is_finite(), "non_finite", pl.format(f"{name} {{}} is not finite", pl.col(name))))
    for name in _PRICE_FIELDS:
        checks.append((pl.col(name) <= 0, "non_positive", pl.format(f"{name} {{}} is not positive", pl.col(name))))
    checks += [
        (pl.col("high") < pl.col("low"), "high_below_low", pl.format("high {} < low {}", pl.col("high"), pl.col("low"))),
        (
            (pl.col("open") < pl.col("low")) | (pl.col("open") > pl.col("high")),
            "open_outside_range",
            pl.format("open {} outside [low {}, high {}]", pl.col("open"), pl.col("low"), pl.col("high")),
        ),
        (
            (pl.col("close") < pl.col("low")) | (pl.col("close") > pl.col("high")),
            "close_outside_range",
            pl.format("close {} outside [low {}, high {}]", pl.col("close"), pl.col("low"), pl.col("high")),
        ),
        (pl.col("volume").is_null(), "volume_out_of_range", pl.lit("volume is outside the 64-bit integer range")),
        (pl.col("volume") < 0, "negative_volume", pl.format("volume {} is negative", pl.col("volume"))),
        (pl.col("collected_str").is_not_null() & pl.col("ca_ns").is_null(), "unparsable_collected_at", pl.col("ca_reason")),
    ]
    kind_expr = pl.when(pl.col("pre_kind").is_not_null()).then(pl.col("pre_kind")).when(pl.col("incomplete")).then(None)
    reason_expr = pl.when(pl.col("pre_kind").is_not_null()).then(pl.col("pre_reason")).when(pl.col("incomplete")).then(None)
    for cond, kind, reason in checks:
        kind_expr = kind_expr.when(cond).then(pl.lit(kind))
        reason_expr = reason_expr.when(cond).then(reason)
    placed = placed.with_columns(kind_expr.otherwise(None).alias("kind"), reason_expr.otherwise(None).alias("reason"))
    placed = placed.with_columns(
        pl.when(pl.col("kind").is_not_null())
        .then(pl.lit("rejected"))
        .when(pl.col("incomplete"))
        .then(pl.lit("incomplete"))
        .otherwise(pl.lit("ok"))
        .alias("status")
    )

    # Raw text only for what gets quarantined.
    def with_raw(df: pl.DataFrame) -> pl.DataFrame:
        raw = [raw_excerpt(lines[i]) for i in df["row"].to_list()]
        return df.with_columns(pl.Series("raw", raw, dtype=pl.String))

    rejected_mask = placed["status"] == "rejected"
    if rejected_mask.any():
        rejected = with_raw(placed.filter(rejected_mask))
        placed = pl.concat(
            [placed.filter(~rejected_mask).with_columns(pl.lit(None, pl.String).alias("raw")), rejected], how="diagonal"
        ).sort("row")
    else:
        placed = placed.with_columns(pl.lit(None, pl.String).alias("raw"))
    placed = placed.select(["file", *PLACED_SCHEMA])
    unplaceable = (
        with_raw(unplaceable).select(["file", *UNPLACEABLE_SCHEMA])
        if unplaceable.height
        else pl.DataFrame(schema={"file": pl.Int64, **UNPLACEABLE_SCHEMA})
    )
    return CandleChunk(placed, unplaceable, stats), days


def iter_line_chunks(
    path: Path, span: tuple[int, int] | None = None, hint: int = READ_HINT_BYTES, rel: str | None = None
) -> Iterable[tuple[list[bytes], int]]:
    """Yield (lines, byte offset of the first) from ``path``, or from the byte span ``[start, end)``.

    Opened through ``landing_files.open_landed`` (no final symlink, regular files only); a file
    that cannot be opened raises ``LandingReadError`` naming ``rel`` (default: ``path``)."""
    with landing_files.open_landed(path, rel) as handle:
        pos, end = 0, None
        if span is not None:
            pos, end = span
            handle.seek(pos)
        while True:
            lines = handle.readlines(hint)
            if not lines:
                return
            if end is not None:
                size, cut = pos, len(lines)
                for i, line in enumerate(lines):
                    if size >= end:
                        cut = i
                        break
                    size += len(line)
                lines = lines[:cut]
                if not lines:
                    return
            yield lines, pos
            pos += sum(len(line) for line in lines)
            if end is not None and pos >= end:
                return


@dataclass
class CandleLineResult:
    status: str  # 'ok' | 'rejected' | 'incomplete' | 'unplaceable' | 'blank'
    kind: str | None = None
    reason: str | None = None
    trade_date: dt.date | None = None
    values: dict[str, Any] = field(default_factory=dict)


def parse_candle_line(line: bytes | str, settings: CandleSettings = CandleSettings()) -> CandleLineResult:
    """Parse and validate one candle line through exactly the bulk code path."""
    data = line.encode("utf-8", errors="surrogatepass") if isinstance(line, str) else line
    chunk, _ = parse_candle_chunk([data], 1, 0, settings)
    if chunk.unplaceable.height:
        row = chunk.unplaceable.row(0, named=True)
        return CandleLineResult("unplaceable", row["kind"], row["reason"])
    if not chunk.placed.height:
        return CandleLineResult("blank")
    row = chunk.placed.row(0, named=True)
    values = {k: row[k] for k in ("instrument", "ts", "open", "high", "low", "close", "volume", "collected_at")}
    return CandleLineResult(row["status"], row["kind"], row["reason"], row["trade_date"], values)
