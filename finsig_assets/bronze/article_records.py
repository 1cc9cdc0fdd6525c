"""Parse and validate news articles: one per ``.json`` file, or one per line in ``.ndjson`` batches.

An article is a JSON object with ``article_id`` (32 hex characters, the md5 of title+url),
``headline`` (non-empty text), ``published_at`` (ISO 8601 with a zone), and optionally ``body``
(text; missing or null means "not fetched" and becomes ``""``), ``url``, ``source``,
``collected_at``, ``sp500_relevant``, ``collection_method``, ``language``, ``content_fetched``.
``article_id`` is stored lower-cased.

Not articles, skipped and counted (never quarantined): a file named ``seen_articles.json``
(``landing_files.is_non_article``, shared with the landing sensor), and
any JSON object with none of the article keys (``{"seen": [...], "total_count": N}``). A file
that looks like an article (has any article key) but is broken *is* quarantined, as are
files that are empty, not UTF-8, not JSON, or not a JSON object.

Inside one ``.ndjson`` batch an exact duplicate line is one record (counted as
``duplicate_lines``); copies of the same article in different files all stay (silver dedupes).
News is small (~25k articles over five years), so validation is plain Python per record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from finsig_assets import landing_files
from finsig_assets.bronze.records import (
    DAY_SPAN_SCHEMA,
    day_spans,
    UNPLACEABLE_SCHEMA,
    UTC_US,
    UTF8_BOM,
    ParseStats,
    RecordRejected,
    decode_json,
    json_type,
    parse_instant,
    raw_excerpt,
    show,
    text_problem,
)
from finsig_assets.trading_calendar import assign_trade_dates

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes

NON_ARTICLE_FILE_NAMES = landing_files.NON_ARTICLE_FILE_NAMES  # decided in one place, with the sensor
ARTICLE_KEYS = frozenset({"article_id", "headline", "published_at", "body", "url"})
REQUIRED = ("article_id", "headline", "published_at")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_OPTIONAL_TEXT = ("url", "source", "collection_method")
_OPTIONAL_BOOL = ("sp500_relevant", "content_fetched")

ARTICLE_SCHEMA: ColumnTypes = {
    "article_id": pl.String,
    "headline": pl.String,
    "body": pl.String,
    "url": pl.String,
    "source": pl.String,
    "published_at": UTC_US,
    "collected_at": UTC_US,
    "sp500_relevant": pl.Boolean,
    "collection_method": pl.String,
    "language": pl.String,
    "content_fetched": pl.Boolean,
}

PLACED_SCHEMA: ColumnTypes = {
    "trade_date": pl.Date,
    "ts": UTC_US,
    "source_line": pl.Int64,
    "byte_start": pl.Int64,
    "byte_end": pl.Int64,
    "status": pl.String,  # 'ok' | 'rejected'
    "kind": pl.String,
    "reason": pl.String,
    "raw": pl.String,
    **ARTICLE_SCHEMA,
}


class NotAnArticle(Exception):
    """A JSON object that is clearly something else (e.g. the collector's seen-list)."""


def _ns_to_datetime(ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=ns // 1000)


def validate_article(obj: Any) -> tuple[dict[str, Any] | None, int | None, RecordRejected | None]:
    """(article, published_at ns, None) or (None, published_at ns or None, rejection).

    The published_at instant is returned even for a rejected record when it can be read, so
    the rejection is quarantined with that record's trade date.
    Raises ``NotAnArticle`` for objects with none of the article keys.
    """
    if not isinstance(obj, dict):
        return None, None, RecordRejected("not_object", f"not a JSON object (got {json_type(obj)} {show(obj, 40)})")
    if not ARTICLE_KEYS.intersection(obj):
        raise NotAnArticle(", ".join(sorted(map(str, obj))[:6]))

    published_ns = None
    published = obj.get("published_at")
    if isinstance(published, str):
        instant = parse_instant(published, "published_at")
        published_ns = instant.ns
    try:
        return _validate(obj, published_ns), published_ns, None
    except RecordRejected as rej:
        return None, published_ns, rej


def _validate(obj: dict[str, Any], published_ns: int | None) -> dict[str, Any]:
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise RecordRejected("missing_field", f"missing required field{plural} " + ", ".join(f"'{m}'" for m in missing))

    published = obj["published_at"]
    if not isinstance(published, str):
        raise RecordRejected("wrong_type", f"published_at must be a string, got {json_type(published)} {show(published)}")
    if published_ns is None:
        instant = parse_instant(published, "published_at")
        raise RecordRejected(instant.kind or "unparsable_time", instant.reason or f"published_at {show(published)} is unusable")

    article_id = obj["article_id"]
    if not isinstance(article_id, str):
        raise RecordRejected("wrong_type", f"article_id must be a string, got {json_type(article_id)} {show(article_id)}")
    if not _HEX32.match(article_id):
        raise RecordRejected("bad_article_id", f"article_id {show(article_id)} is not 32 hexadecimal characters (an md5)")

    headline = obj["headline"]
    if not isinstance(headline, str):
        raise RecordRejected("wrong_type", f"headline must be a string, got {json_type(headline)} {show(headline)}")
    if not headline.strip():
        raise RecordRejected("empty_headline", "headline is empty")
    problem = text_problem(headline)
    if problem:
        raise RecordRejected("invalid_text", f"headline is not valid text: it {problem}")

    body = obj.get("body")
    if body is None:
        body = ""
    elif not isinstance(body, str):
        raise RecordRejected("wrong_type", f"body must be a string, got {json_type(body)} {show(body)}")
    problem = text_problem(body)
    if problem:
        raise RecordRejected("invalid_text", f"body is not valid text: it {problem}")

    out: dict[str, Any] = {
        "article_id": article_id.lower(),
        "headline": headline,
        "body": body,
        "published_at": _ns_to_datetime(published_ns),
    }
    for name in _OPTIONAL_TEXT:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise RecordRejected("wrong_type", f"{name} must be a string, got {json_type(value)} {show(value)}")
        if value is not None:
            problem = text_problem(value, min_len_for_ratio=10**9)
            if problem:
                raise RecordRejected("invalid_text", f"{name} is not valid text: it {problem}")
        out[name] = value
    language = obj.get("language")
    if language is not None and not isinstance(language, str):
        raise RecordRejected("bad_language", f"language must be a string like 'English', got {json_type(language)} {show(language)}")
    if language is not None and text_problem(language, min_len_for_ratio=10**9):
        raise RecordRejected("bad_language", f"language {show(language)} is not valid text")
    out["language"] = language
    for name in _OPTIONAL_BOOL:
        value = obj.get(name)
        if value is not None and not isinstance(value, bool):
            raise RecordRejected("wrong_type", f"{name} must be true or false, got {json_type(value)} {show(value)}")
        out[name] = value
    collected = obj.get("collected_at")
    if collected is not None:
        if not isinstance(collected, str):
            raise RecordRejected("wrong_type", f"collected_at must be a string, got {json_type(collected)} {show(collected)}")
        instant = parse_instant(collected, "collected_at")
        if instant.ns is None:
            assert instant.reason is not None  # parse_instant gives every instant it cannot parse a reason
            raise RecordRejected("unparsable_collected_at", instant.reason)
        out["collected_at"] = _ns_to_datetime(instant.ns)
    else:
        out["collected_at"] = None
    return out


@dataclass
class ArticleParse:
    """Parsed articles of one file, or of a batch of files (then every frame has a ``file`` column:
    the position of the file in the batch)."""

    placed: pl.DataFrame
    unplaceable: pl.DataFrame
    days: pl.DataFrame
    stats: ParseStats = field(default_factory=ParseStats)
    non_article: bool = False


@dataclass
class FileCounts:
    lines: int = 0
    blank_lines: int = 0
    duplicate_lines: int = 0
    non_article_lines: int = 0
    non_article: bool = False
    digest: str | None = None  # SHA-256 of the file's bytes, when read whole


class ArticleCollector:
    """Accumulates records of many files in plain lists; ``finish`` places them all in one
    vectorised pass (25k single-article files must not mean 25k polars round trips)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.unplaceable: list[dict[str, Any]] = []
        self.files: list[FileCounts] = []

    def _record(self, file: int, data: bytes, line: int, start: int, end: int, obj: Any = None, rejection: RecordRejected | None = None):
        ns = None
        article = None
        if rejection is None:
            try:
                article, ns, rejection = validate_article(obj)
            except NotAnArticle:
                self.files[file].non_article_lines += 1
                return
        if ns is None:
            if rejection is None:  # cannot happen: a valid article has an instant
                rejection = RecordRejected("unparsable_time", "published_at is unusable")
            self.unplaceable.append(
                {"file": file, "source_line": line, "kind": rejection.kind, "reason": rejection.reason, "raw": raw_excerpt(data)}
            )
            return
        row = {
            "file": file,
            "ns": ns,
            "source_line": line,
            "byte_start": start,
            "byte_end": end,
            "status": "ok" if rejection is None else "rejected",
            "kind": None if rejection is None else rejection.kind,
            "reason": None if rejection is None else rejection.reason,
            "raw": None if rejection is None else raw_excerpt(data),
        }
        if article:
            row.update(article)
        self.rows.append(row)

    def add_bytes(self, data: bytes, *, batch: bool, first_line: int = 1, first_offset: int = 0) -> int:
        """Parse one file's bytes (or a slice of a batch); returns the file's position."""
        file = len(self.files)
        counts = FileCounts()
        self.files.append(counts)
        if not batch:
            counts.lines = 1
            text = data[3:] if data.startswith(UTF8_BOM) else data
            if not text.strip():
                self.unplaceable.append(
                    {"file": file, "source_line": 1, "kind": "empty_file", "reason": f"empty file ({len(data)} bytes, no article)", "raw": raw_excerpt(data)}
                )
                return file
            try:
                obj = decode_json(text)
            except RecordRejected as rej:
                if rej.kind == "not_utf8":
                    rej = RecordRejected("not_utf8", f"file is {rej.reason}")
                self._record(file, data, 1, 0, len(data), rejection=rej)
                return file
            if isinstance(obj, dict) and not ARTICLE_KEYS.intersection(obj):
                counts.non_article = True
                return file
            self._record(file, data, 1, 0, len(data), obj=obj)
            return file

        if first_offset == 0 and not data.strip():
            self.unplaceable.append(
                {"file": file, "source_line": 1, "kind": "empty_file", "reason": f"empty file ({len(data)} bytes, no articles)", "raw": raw_excerpt(data)}
            )
            return file
        seen: set[bytes] = set()
        pos = first_offset
        for i, line in enumerate(io.BytesIO(data).readlines()):  # split on \n only, like the market reader
            start, number = pos, first_line + i
            pos += len(line)
            counts.lines += 1
            text = line.strip()
            if start == 0 and text.startswith(UTF8_BOM):
                text = text[3:].strip()
            if not text:
                counts.blank_lines += 1
                continue
            if text in seen:
                counts.duplicate_lines += 1
                continue
            seen.add(text)
            try:
                obj = decode_json(text)
            except RecordRejected as rej:
                self._record(file, line, number, start, pos, rejection=rej)
                continue
            self._record(file, line, number, start, pos, obj=obj)
        return file

    def add_file(self, path: Path, span: tuple[int, int, int] | None = None, rel: str | None = None) -> int:
        """Parse a landed news file; ``span=(byte_start, byte_end, first_line)`` reads a batch slice.

        Raises ``LandingReadError`` (naming ``rel``, default ``path``) when the file cannot be
        read; nothing of it is added then. A whole-file read records the file's SHA-256."""
        path = Path(path)
        name = rel or str(path)
        batch = name.endswith(".ndjson")  # the landed name decides (a symlink's target may differ)
        try:
            with landing_files.open_landed(path, name) as handle:
                if span is not None and batch:
                    start, end, first_line = span
                    handle.seek(start)
                    data = handle.read(end - start)
                    return self.add_bytes(data, batch=True, first_line=first_line, first_offset=start)
                data = handle.read()
        except OSError as exc:
            raise landing_files.read_error(name, exc) from exc
        digest = hashlib.sha256(data).hexdigest()
        if not batch and landing_files.is_non_article(name):
            self.files.append(FileCounts(non_article=True, digest=digest))
            return len(self.files) - 1
        file = self.add_bytes(data, batch=batch)
        self.files[file].digest = digest
        return file

    def add_failed(self) -> int:
        """A placeholder for a file that could not be read, so positions stay aligned."""
        self.files.append(FileCounts())
        return len(self.files) - 1

    def finish(self, keep: tuple[dt.date, dt.date] | None) -> ArticleParse:
        """Place every record at once: trade dates, per-(file, day) spans, the kept range."""
        unplaceable = pl.DataFrame(self.unplaceable, schema={"file": pl.Int64, **UNPLACEABLE_SCHEMA})
        days_schema = {"file": pl.Int64, **DAY_SPAN_SCHEMA}
        if not self.rows:
            return ArticleParse(
                pl.DataFrame(schema={"file": pl.Int64, **PLACED_SCHEMA}), unplaceable, pl.DataFrame(schema=days_schema)
            )
        schema = {"file": pl.Int64, "ns": pl.Int64, **{k: v for k, v in PLACED_SCHEMA.items() if k not in ("trade_date", "ts")}}
        frame = pl.DataFrame(self.rows, schema=schema).with_columns(
            pl.col("ns").cast(pl.Datetime("ns", "UTC")).dt.cast_time_unit("us").alias("ts")
        )
        frame = assign_trade_dates(frame, "ts")
        outside = frame.filter(pl.col("trade_date").is_null())
        if outside.height:
            extra = outside.select(
                "file",
                "source_line",
                pl.lit("outside_calendar").alias("kind"),
                pl.format("published_at '{}' is outside the XNYS calendar", pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).alias("reason"),
                pl.col("raw").fill_null(pl.lit("")),
            )
            unplaceable = pl.concat([unplaceable, extra.select(list(unplaceable.columns))]).sort("file", "source_line")
        placed = frame.filter(pl.col("trade_date").is_not_null())
        days = day_spans(placed)
        if keep is not None:
            placed = placed.filter(pl.col("trade_date").is_between(keep[0], keep[1]))
        return ArticleParse(placed.select(["file", *PLACED_SCHEMA]), unplaceable, days)


def _single(collector: ArticleCollector, keep) -> ArticleParse:
    parsed = collector.finish(keep)
    counts = collector.files[0]
    return ArticleParse(
        parsed.placed.drop("file"),
        parsed.unplaceable.drop("file"),
        parsed.days.drop("file"),
        ParseStats(counts.lines, counts.blank_lines, counts.duplicate_lines, counts.non_article_lines),
        counts.non_article,
    )


def parse_article_bytes(
    data: bytes,
    *,
    batch: bool,
    first_line: int = 1,
    first_offset: int = 0,
    keep: tuple[dt.date, dt.date] | None = None,
) -> ArticleParse:
    """Parse one article file's bytes (``batch=False``) or a slice of an ndjson batch."""
    collector = ArticleCollector()
    collector.add_bytes(data, batch=batch, first_line=first_line, first_offset=first_offset)
    return _single(collector, keep)
