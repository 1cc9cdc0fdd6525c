"""The landing-file index (``meta.landing_files`` + ``meta.landing_file_days``).

Why: a partition run must not cost more as the landing zone grows. Every run lists the files
(one ``stat`` each — cheap), compares size and mtime with the index, and parses *fully* only the
files that are new or changed; deleted files leave the index. Files that did not change are
opened only when their indexed ``[min_ts, max_ts]`` overlaps the run's ownership window, and
then only the byte span that holds the window's trading days (from ``meta.landing_file_days``),
so a daily run over a five-year file reads about one day of it.

What a landing file is — suffixes, ignored temporary names, symlinks, unreadable entries — is
decided by :mod:`finsig_assets.landing_files`, which the landing sensor uses too. Here:

* Files changed within the settle time (``FINSIG_LANDING_SETTLE_SECONDS``) are still being
  written: the run waits for them (polling, at most ``MAX_SETTLE_PERIODS`` settle periods); one
  that keeps changing is left out of the run as an ``unsettled`` skip and out of the index, so a
  later run reads it.
* A skip that means "not a landing file" (outside_root, symlink_loop, dangling_symlink,
  symlinked_directory, not_a_regular_file, vanished) drops the path from the index like a
  deleted file. An ``unreadable`` or ``unsettled`` file keeps its index rows (it is still there;
  it is read again once it can be).
* ``first_seen_at`` is when the index first saw a path: kept when the file is re-indexed after a
  change. The duplicate rule uses it (a copy that landed later wins), not the file's mtime,
  which an append or a touch moves. ``content_sha256`` is the hash of the bytes indexed.

Indexing a file and quarantining its *unplaceable* records (no usable timestamp, so no
partition owns them) happen together: the file's NULL-trade_date rows in ``bronze.quarantine``
are replaced in the same transaction as its index rows (``write_index_changes``).

Paths are relative to the landing root with ``/`` separators (``market/2024/06/x.ndjson``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from finsig_assets import landing_files
from finsig_assets.bronze.records import DAY_SPAN_SCHEMA
from finsig_assets.landing_files import UNREADABLE, UNSETTLED, LandedFile, LandingScan, SkippedEntry
from finsig_assets.trading_calendar import OwnershipWindow
from finsig_assets.warehouse import Transaction, Warehouse, polars_schema

if TYPE_CHECKING:
    from finsig_assets.bronze.records import ColumnTypes

__all__ = ["LandedFile", "IndexPlan", "plan_refresh", "settled_scan", "spans_for_window", "write_index_changes"]

INDEX_SCHEMA: ColumnTypes = polars_schema("meta.landing_files")  # from the DDL (the contract)
DAYS_TABLE_SCHEMA: ColumnTypes = {"dataset": pl.String, "path": pl.String, **DAY_SPAN_SCHEMA}

# Skips of a file that is still there, only not readable now: its index rows stay.
HELD_KINDS = frozenset({UNREADABLE, UNSETTLED})
MAX_SETTLE_PERIODS = 3
_sleep = time.sleep  # module-level so tests can change a file while the run waits


def settled_scan(root: Path, dataset: str, settle_seconds: float, log: logging.Logger | Any = None) -> LandingScan:
    """Scan, waiting (at most ``MAX_SETTLE_PERIODS`` settle periods) for files being written.

    A file still unsettled after the wait becomes an ``unsettled`` skip (the caller logs skips)."""
    result = landing_files.scan(root, dataset, settle_seconds=settle_seconds)
    if not result.unsettled:
        return result
    started = time.monotonic()
    deadline = started + MAX_SETTLE_PERIODS * settle_seconds
    if log:
        log.info(
            f"bronze/{dataset}: {len(result.unsettled):,} file(s) changed less than {settle_seconds:g}s ago "
            f"(e.g. {result.unsettled[0].path}); waiting for them to settle"
        )
    while result.unsettled:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        newest = max(f.mtime_ns for f in result.unsettled)
        until_settled = (newest + int(settle_seconds * 1e9) - time.time_ns()) / 1e9
        _sleep(min(max(until_settled, 0.05), left))
        result = landing_files.scan(root, dataset, settle_seconds=settle_seconds)
    waited = time.monotonic() - started
    now = time.time_ns()
    for f in result.unsettled:
        age = (now - f.mtime_ns) / 1e9
        reason = (
            f"still being written: changed {age:.1f}s ago, still changing after a wait of {waited:.1f}s "
            f"(settle time {settle_seconds:g}s); not read, left for a later run"
        )
        result.skipped.append(SkippedEntry(f.path, UNSETTLED, reason))
    result.unsettled = []
    return result


@dataclass
class IndexPlan:
    """What changed since the index was last written."""

    files: dict[str, LandedFile]
    changed: list[LandedFile]  # new, or size/mtime differ: parse fully and re-index
    unchanged: list[LandedFile]
    deleted: list[str]
    indexed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INDEX_SCHEMA))
    skipped: list[SkippedEntry] = field(default_factory=list)  # not read this run (landing_files kinds)
    held: list[str] = field(default_factory=list)  # indexed paths skipped this run whose index rows stay

    @property
    def new(self) -> list[LandedFile]:
        known = set(self.indexed["path"].to_list())
        return [f for f in self.changed if f.path not in known]

    def first_seen(self, run_at: dt.datetime) -> dict[str, dt.datetime]:
        """When the index first saw each landed file: its stored ``first_seen_at``, else now."""
        known = {
            p: t for p, t in zip(self.indexed["path"].to_list(), self.indexed["first_seen_at"].to_list()) if t is not None
        }
        return {path: known.get(path, run_at) for path in self.files}


def plan_refresh(
    warehouse: Warehouse,
    root: Path,
    dataset: str,
    *,
    settle_seconds: float = 0.0,
    log: logging.Logger | Any = None,
) -> IndexPlan:
    found = settled_scan(root, dataset, settle_seconds, log)
    files = found.files
    indexed = warehouse.query(
        "SELECT * FROM meta.landing_files WHERE dataset = ? ORDER BY path", [dataset]
    )
    known = dict(zip(indexed["path"].to_list(), zip(indexed["size"].to_list(), indexed["mtime_ns"].to_list())))
    held_files = {s.path for s in found.skipped if s.kind in HELD_KINDS and not s.is_dir}
    held_dirs = tuple(s.path + "/" for s in found.skipped if s.kind in HELD_KINDS and s.is_dir)
    held = sorted(p for p in known if p not in files and (p in held_files or p.startswith(held_dirs)))
    changed: list[LandedFile] = []
    unchanged: list[LandedFile] = []
    for rel in sorted(files):
        f = files[rel]
        (unchanged if known.get(rel) == (f.size, f.mtime_ns) else changed).append(f)
    deleted = sorted(set(known) - set(files) - set(held))
    return IndexPlan(files, changed, unchanged, deleted, indexed, list(found.skipped), held)


def spans_for_window(
    warehouse: Warehouse,
    dataset: str,
    window: OwnershipWindow,
    paths: Iterable[str],
) -> dict[str, tuple[int, int, int]]:
    """Byte spans ``(start, end, first_line)`` of the indexed, unchanged ``paths`` that hold records
    of the window's sessions — only files whose ``[min_ts, max_ts]`` overlaps the window."""
    wanted = pl.DataFrame({"path": list(paths)}, schema={"path": pl.String})
    if not wanted.height:
        return {}
    with warehouse.connection() as conn:
        conn.register("__wanted_paths", wanted)
        rows = conn.execute(
            """
            SELECT d.path, min(d.byte_start), max(d.byte_end), min(d.line_start)
            FROM meta.landing_files f
            JOIN meta.landing_file_days d ON d.dataset = f.dataset AND d.path = f.path
            WHERE f.dataset = ?
              AND f.min_ts < ? AND f.max_ts >= ?
              AND d.trade_date BETWEEN ? AND ?
              AND f.path IN (SELECT path FROM __wanted_paths)
            GROUP BY d.path
            ORDER BY d.path
            """,
            [dataset, window.end, window.start, window.first_session, window.last_session],
        ).fetchall()
    return {path: (int(start), int(end), int(line)) for path, start, end, line in rows}


def indexed_days(
    warehouse: Warehouse, dataset: str, window: OwnershipWindow, paths: Iterable[str]
) -> dict[str, list[dt.date]]:
    """The run's sessions that the index says each of ``paths`` holds records for."""
    wanted = pl.DataFrame({"path": sorted(set(paths))}, schema={"path": pl.String})
    if not wanted.height:
        return {}
    with warehouse.connection() as conn:
        conn.register("__wanted_paths", wanted)
        rows = conn.execute(
            """
            SELECT path, trade_date FROM meta.landing_file_days
            WHERE dataset = ? AND trade_date BETWEEN ? AND ?
              AND path IN (SELECT path FROM __wanted_paths)
            ORDER BY path, trade_date
            """,
            [dataset, window.first_session, window.last_session],
        ).fetchall()
    out: dict[str, list[dt.date]] = {}
    for path, day in rows:
        out.setdefault(path, []).append(day)
    return out


def write_index_changes(
    tx: Transaction,
    dataset: str,
    replaced_paths: list[str],
    index_rows: pl.DataFrame,
    day_rows: pl.DataFrame,
    unplaceable_quarantine: pl.DataFrame,
) -> None:
    """Inside the caller's transaction: drop the index rows and NULL-trade_date quarantine rows of
    ``replaced_paths`` (re-indexed or deleted files) and insert their new versions."""
    if not replaced_paths:
        return
    paths = pl.DataFrame({"path": replaced_paths}, schema={"path": pl.String})
    tx.conn.register("__replaced_paths", paths)
    try:
        in_paths = "path IN (SELECT path FROM __replaced_paths)"
        tx.execute(f"DELETE FROM meta.landing_files WHERE dataset = ? AND {in_paths}", [dataset])
        tx.execute(f"DELETE FROM meta.landing_file_days WHERE dataset = ? AND {in_paths}", [dataset])
        tx.execute(
            "DELETE FROM bronze.quarantine WHERE dataset = ? AND trade_date IS NULL "
            "AND source_file IN (SELECT path FROM __replaced_paths)",
            [dataset],
        )
    finally:
        tx.conn.unregister("__replaced_paths")
    if index_rows.height:
        tx.insert("meta.landing_files", index_rows)
    if day_rows.height:
        tx.insert("meta.landing_file_days", day_rows)
    if unplaceable_quarantine.height:
        tx.insert("bronze.quarantine", unplaceable_quarantine)


def write_file_problems(tx: Transaction, dataset: str, unplaced: pl.DataFrame) -> None:
    """Inside the caller's transaction: replace the dataset's file-level quarantine rows that no
    partition owns (``source_line`` 0, NULL trade_date) with this run's view of the landing zone."""
    tx.execute(
        "DELETE FROM bronze.quarantine WHERE dataset = ? AND trade_date IS NULL AND source_line = 0", [dataset]
    )
    if unplaced.height:
        tx.insert("bronze.quarantine", unplaced)
