"""Rows for ``bronze.quarantine`` and summaries of why records were rejected.

Every rejected input record becomes one quarantine row: dataset ('market' | 'news'), the file
(relative to the landing root) and 1-based line it came from, a human-readable reason, the raw
record (truncated to ~500 characters) and its trade date — NULL when the record's own timestamp
could not be read. Rejection *kinds* (short codes such as ``high_below_low``) are not stored
(the table's columns are a contract); they group the counts in metadata and in the
``rejection_rate`` check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl

from finsig_assets import landing_files
from finsig_assets.bronze.records import QUARANTINE_SCHEMA, raw_excerpt

MAX_RAW_REREADS = 200_000


def quarantine_rows(dataset: str, frame: pl.DataFrame, quarantined_at: dt.datetime, placed: bool = True) -> pl.DataFrame:
    """Quarantine rows from a frame with source_file, source_line, reason, raw (and trade_date when placed)."""
    if not frame.height:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    trade_date = pl.col("trade_date") if placed else pl.lit(None, pl.Date)
    return frame.select(
        pl.lit(dataset).alias("dataset"),
        pl.col("source_file"),
        pl.col("source_line").cast(pl.Int64),
        pl.col("reason"),
        pl.col("raw"),
        trade_date.cast(pl.Date).alias("trade_date"),
        pl.lit(quarantined_at).cast(QUARANTINE_SCHEMA["quarantined_at"]).alias("quarantined_at"),
    )


def reason_summary(frame: pl.DataFrame) -> pl.DataFrame:
    """kind, count, one example reason — most frequent first (input needs ``kind`` and ``reason``)."""
    if not frame.height:
        return pl.DataFrame(schema={"kind": pl.String, "count": pl.Int64, "example": pl.String})
    return (
        frame.group_by("kind")
        .agg(pl.len().cast(pl.Int64).alias("count"), pl.col("reason").first().alias("example"))
        .sort(["count", "kind"], descending=[True, False])
    )


def counts_by_kind(summary: pl.DataFrame) -> dict[str, int]:
    return {kind: int(n) for kind, n in summary.select("kind", "count").iter_rows()}


def reasons_markdown(summary: pl.DataFrame, total: int | None = None, top: int = 10) -> str:
    """A markdown table of the top rejection kinds, with shares and an example reason each."""
    if not summary.height:
        return "_no rejected records_"
    total = total or int(summary["count"].sum())
    lines = ["| reason | count | share | example |", "|---|---:|---:|---|"]
    for kind, count, example in summary.head(top).iter_rows():
        text = (example or "").replace("|", "\\|").replace("\n", " ")
        if len(text) > 120:
            text = text[:120] + "…"
        lines.append(f"| {kind} | {count:,} | {count / total:.1%} | {text} |")
    rest = summary.slice(top)
    if rest.height:
        lines.append(f"| _{rest.height} more kinds_ | {int(rest['count'].sum()):,} | | |")
    return "\n".join(lines)


def reread_raw(
    frame: pl.DataFrame,
    landing_root: Path | None,
    fallback: Callable[[pl.DataFrame], list[str]],
    max_rereads: int = MAX_RAW_REREADS,
) -> list[str]:
    """The records of ``frame`` as landed (re-read by ``source_file`` and byte offsets), for rows
    that were valid when parsed (their raw text was not kept) and are quarantined later, e.g.
    superseded duplicates. Rows that cannot be re-read get ``fallback(frame)[i]``."""
    if landing_root is None or frame.height > max_rereads or "byte_start" not in frame.columns:
        return fallback(frame)
    out: list[str | None] = [None] * frame.height
    indexed = frame.with_row_index("__i").select("__i", "source_file", "byte_start", "byte_end")
    for (source_file,), group in indexed.group_by(["source_file"]):
        target = landing_files.resolve_landed(landing_root, source_file)
        if target is None:
            continue
        try:
            with landing_files.open_landed(target, source_file) as handle:
                for i, start, end in group.select("__i", "byte_start", "byte_end").iter_rows():
                    handle.seek(start)
                    out[i] = raw_excerpt(handle.read(min(end - start, 4096)))
        except (OSError, landing_files.LandingReadError):
            pass
    if any(value is None for value in out):
        values = fallback(frame)
        out = [values[i] if value is None else value for i, value in enumerate(out)]
    return out  # type: ignore[return-value]
