"""The landing-file index (``meta.landing_files`` + ``meta.landing_file_days``).

Why: a partition run must not cost more as the landing zone grows. Every run lists the files
(one ``stat`` each — cheap), compares size and mtime with the index, and parses *fully* only the
files that are new or changed; deleted files leave the index. Files that did not change are
opened only when their indexed ``[min_ts, max_ts]`` overlaps the run's ownership window, and
then only the byte span that holds the window's trading days (from ``meta.landing_file_days``),
so a daily run over a five-year file reads about one day of it.

Indexing a file and quarantining its *unplaceable* records (no usable timestamp, so no
partition owns them) happen together: the file's NULL-trade_date rows in ``bronze.quarantine``
are replaced in the same transaction as its index rows (``write_index_changes``).

Paths are relative to the landing root with ``/`` separators (``market/2024/06/x.ndjson``);
files whose names start with ``.`` are ignored (editors' and downloaders' temporary files).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from finsig_assets.bronze.records import DAY_SPAN_SCHEMA, UTC_US, safe_text
from finsig_assets.trading_calendar import OwnershipWindow
from finsig_assets.warehouse import DuckDBWarehouse, Transaction

SUFFIXES = {"market": (".ndjson",), "news": (".json", ".ndjson")}

INDEX_SCHEMA: dict[str, pl.DataType] = {
    "dataset": pl.String,
    "path": pl.String,
    "size": pl.Int64,
    "mtime_ns": pl.Int64,
    "min_ts": UTC_US,
    "max_ts": UTC_US,
    "n_lines": pl.Int64,
    "n_records": pl.Int64,
    "n_unplaceable": pl.Int64,
    "n_blank": pl.Int64,
    "non_article": pl.Boolean,
    "indexed_at": UTC_US,
}
DAYS_TABLE_SCHEMA: dict[str, pl.DataType] = {"dataset": pl.String, "path": pl.String, **DAY_SPAN_SCHEMA}


@dataclass(frozen=True)
class LandedFile:
    path: str  # relative to the landing root, '/'-separated
    abs: str  # absolute path as found on disk
    size: int
    mtime_ns: int

    @property
    def abs_path(self) -> Path:
        return Path(self.abs)


def scan_landing(root: Path, dataset: str) -> dict[str, LandedFile]:
    """Every landed file of ``dataset`` under ``root/dataset`` (recursively), by relative path."""
    base = Path(root) / dataset
    suffixes = SUFFIXES[dataset]
    found: dict[str, LandedFile] = {}
    if not base.is_dir():
        return found
    stack = [str(base)]
    prefix = str(Path(root)).rstrip(os.sep) + os.sep
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):  # no symlink loops
                stack.append(entry.path)
            elif entry.name.endswith(suffixes) and entry.is_file():
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                rel = entry.path[len(prefix) :]
                if os.sep != "/":
                    rel = rel.replace(os.sep, "/")
                rel = safe_text(rel)
                found[rel] = LandedFile(rel, entry.path, st.st_size, st.st_mtime_ns)
    return found


@dataclass
class IndexPlan:
    """What changed since the index was last written."""

    files: dict[str, LandedFile]
    changed: list[LandedFile]  # new, or size/mtime differ: parse fully and re-index
    unchanged: list[LandedFile]
    deleted: list[str]
    indexed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=INDEX_SCHEMA))

    @property
    def new(self) -> list[LandedFile]:
        known = set(self.indexed["path"].to_list())
        return [f for f in self.changed if f.path not in known]


def plan_refresh(warehouse: DuckDBWarehouse, root: Path, dataset: str) -> IndexPlan:
    files = scan_landing(root, dataset)
    indexed = warehouse.query(
        "SELECT * FROM meta.landing_files WHERE dataset = ? ORDER BY path", [dataset]
    )
    known = dict(zip(indexed["path"].to_list(), zip(indexed["size"].to_list(), indexed["mtime_ns"].to_list())))
    changed, unchanged = [], []
    for rel in sorted(files):
        f = files[rel]
        (unchanged if known.get(rel) == (f.size, f.mtime_ns) else changed).append(f)
    deleted = sorted(set(known) - set(files))
    return IndexPlan(files, changed, unchanged, deleted, indexed)


def spans_for_window(
    warehouse: DuckDBWarehouse,
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
