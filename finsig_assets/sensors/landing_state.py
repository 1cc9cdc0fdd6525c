"""What the landing zone holds that bronze has not ingested yet, session by session.

The truth is the warehouse, not the sensor's memory: ``meta.landing_files`` says which version
(size, mtime, content hash) of every file bronze last indexed, ``meta.landing_file_days`` which
sessions each file holds records of, the bronze tables and ``bronze.quarantine`` which sessions
were ingested, and ``meta.stale_sessions`` which sessions a bronze run for other sessions left
out of date. So a new Dagster instance (or a sensor switched on for the first time) over a
warehouse that already holds the files finds nothing to do, an empty warehouse gets everything,
and the sensor's cursor stays small: it only remembers files that were touched without a change
of content (same size and hash, new mtime), so that they are not hashed on every tick.

A session is pending for a dataset when

- a file is new or changed (size or mtime differ from the index, and the content hash too):
  the sessions its records fall in now, and those it held before (from the index);
- a file was deleted: the sessions it held;
- the index has records of the session but bronze has no row and no quarantine row for it
  (indexed by a run for other sessions, or its partition did not exist yet);
- it is in ``meta.stale_sessions``.

Files still being written (changed within the settle time) wait for a later tick; files that
cannot be used (a symlink leading outside the landing root, a loop, no read permission) are
reported with their reason and start nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from finsig_assets import landing_files

DATASETS = ("market", "news")
BRONZE_TABLES = {"market": "bronze.market_candles", "news": "bronze.news_articles"}


@dataclass
class DatasetState:
    dataset: str
    pending: dict[dt.date, list[str]] = field(default_factory=lambda: defaultdict(list))  # session -> causes
    digest: list[str] = field(default_factory=list)  # what makes this state distinct (for run keys)
    n_files: int = 0
    n_changed_files: int = 0

    def add(self, sessions, cause: str) -> None:
        for day in sessions:
            self.pending[day].append(cause)


@dataclass
class LandingState:
    datasets: dict[str, DatasetState]
    waiting: list[str]  # files still being written
    unusable: list[str]  # "path: reason" of files that cannot be read
    touched: dict[str, list[int]]  # path -> [size, mtime_ns] of files touched without a content change


@dataclass(frozen=True)
class IndexedFile:
    size: int
    mtime_ns: int
    content_sha256: str | None
    sessions: frozenset[dt.date]


def _query(conn: duckdb.DuckDBPyConnection | None, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql``, or none when the warehouse or the table does not exist yet."""
    if conn is None:
        return []
    try:
        return conn.execute(sql, params or []).fetchall()
    except duckdb.CatalogException:
        return []


def read_index(conn: duckdb.DuckDBPyConnection | None, dataset: str) -> dict[str, IndexedFile]:
    days: dict[str, set[dt.date]] = defaultdict(set)
    for path, day in _query(conn, "SELECT path, trade_date FROM meta.landing_file_days WHERE dataset = ?", [dataset]):
        days[path].add(day)
    try:
        rows = _query(
            conn, "SELECT path, size, mtime_ns, content_sha256 FROM meta.landing_files WHERE dataset = ?", [dataset]
        )
    except duckdb.BinderException:  # a warehouse indexed before content hashes were kept
        rows = [(*r, None) for r in _query(conn, "SELECT path, size, mtime_ns FROM meta.landing_files WHERE dataset = ?", [dataset])]
    return {path: IndexedFile(size, mtime, sha, frozenset(days.get(path, ()))) for path, size, mtime, sha in rows}


def never_ingested(conn: duckdb.DuckDBPyConnection | None, dataset: str) -> list[dt.date]:
    """Sessions the index has records of, with neither a bronze row nor a quarantine row."""
    table = BRONZE_TABLES[dataset]
    return [
        day
        for (day,) in _query(
            conn,
            f"""
            SELECT DISTINCT d.trade_date
            FROM meta.landing_file_days d
            WHERE d.dataset = ?
              AND d.trade_date NOT IN (SELECT DISTINCT trade_date FROM {table})
              AND d.trade_date NOT IN (
                  SELECT DISTINCT trade_date FROM bronze.quarantine WHERE dataset = ? AND trade_date IS NOT NULL
              )
            ORDER BY 1
            """,
            [dataset, dataset],
        )
    ]


def stale_sessions(conn: duckdb.DuckDBPyConnection | None, dataset: str) -> list[tuple[dt.date, str, dt.datetime]]:
    return _query(
        conn, "SELECT trade_date, reason, since FROM meta.stale_sessions WHERE dataset = ? ORDER BY trade_date", [dataset]
    )


def landing_state(
    root: Path,
    conn: duckdb.DuckDBPyConnection | None,
    *,
    settle_seconds: float,
    now_ns: int | None = None,
    touched: dict[str, list[int]] | None = None,
) -> LandingState:
    touched = touched or {}
    new_touched: dict[str, list[int]] = {}
    waiting: list[str] = []
    unusable: list[str] = []
    states: dict[str, DatasetState] = {}
    for dataset in DATASETS:
        state = DatasetState(dataset)
        states[dataset] = state
        index = read_index(conn, dataset)
        scan = landing_files.scan(root, dataset, settle_seconds=settle_seconds, now_ns=now_ns)
        state.n_files = len(scan.files) + len(scan.unsettled)
        present = set(scan.files) | {f.path for f in scan.unsettled}
        for entry in scan.skipped:
            if entry.kind == "vanished":
                continue  # gone: handled as deleted below when the index knows it
            present.add(entry.path)
            unusable.append(f"{entry.path}: {entry.reason}")
        waiting += [f.path for f in scan.unsettled]

        for path, landed in sorted(scan.files.items()):
            fingerprint = [landed.size, landed.mtime_ns]
            known = index.get(path)
            if known is not None and (known.size, known.mtime_ns) == (landed.size, landed.mtime_ns):
                continue
            if known is not None and touched.get(path) == fingerprint:
                new_touched[path] = fingerprint  # touched earlier, content checked then
                continue
            try:
                contents = landing_files.inspect_file(landed, dataset)  # one read: sessions and hash
            except landing_files.LandingReadError as exc:
                if exc.kind != landing_files.VANISHED:
                    unusable.append(f"{path}: {exc.reason}")
                    present.add(path)
                continue
            if known is not None and known.content_sha256 == contents.sha256:
                new_touched[path] = fingerprint  # same bytes, new mtime: nothing to ingest
                continue
            cause = f"{path} {'changed' if known is not None else 'new'}"
            state.add(contents.sessions | (known.sessions if known else frozenset()), cause)
            state.digest.append(f"{path}:{landed.size}:{landed.mtime_ns}")
            state.n_changed_files += 1

        for path in sorted(set(index) - present):
            state.add(index[path].sessions, f"{path} deleted")
            state.digest.append(f"deleted:{path}")
            state.n_changed_files += 1

        for day in never_ingested(conn, dataset):
            state.add([day], "records landed, never ingested")
            state.digest.append(f"never:{day}")
        for day, reason, since in stale_sessions(conn, dataset):
            state.add([day], f"stale: {reason}")
            state.digest.append(f"stale:{day}:{since}")
    return LandingState(states, waiting, unusable, new_touched)


MAX_RANGES_PER_TICK = 12


def contiguous_ranges(keys: Sequence[str], valid_keys: Sequence[str], max_ranges: int = MAX_RANGES_PER_TICK) -> list[tuple[str, str]]:
    """Runs of consecutive partition keys: one ranged run each, so nothing between them is redone.

    Sparse files (a record every few sessions over years) would make hundreds of runs; above
    ``max_ranges`` the ranges separated by the smallest gaps are merged, so a tick starts a
    bounded number of runs and redoes as few sessions without records as it can.
    """
    position = {k: i for i, k in enumerate(valid_keys)}
    ordered = sorted((position[k], k) for k in keys if k in position)
    ranges: list[list[int]] = []
    for pos, _ in ordered:
        if ranges and ranges[-1][1] == pos - 1:
            ranges[-1][1] = pos
        else:
            ranges.append([pos, pos])
    while len(ranges) > max(1, max_ranges):
        gaps = [ranges[i + 1][0] - ranges[i][1] for i in range(len(ranges) - 1)]
        i = gaps.index(min(gaps))
        ranges[i : i + 2] = [[ranges[i][0], ranges[i + 1][1]]]
    return [(valid_keys[a], valid_keys[b]) for a, b in ranges]


def run_key(dataset: str, first: str, last: str, digest: list[str]) -> str:
    text = "\n".join([dataset, first, last, *sorted(digest)])
    return f"{dataset}:{first}..{last}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
