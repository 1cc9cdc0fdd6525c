"""A local MLflow store that moves with ``FINSIG_HOME``: recorded artifact URIs follow the store.

The problem
-----------
finsig's default store is a SQLite database under ``$FINSIG_HOME/mlflow`` with the artifacts
beside it (``$FINSIG_HOME/mlflow/artifacts``). MLflow records every artifact location as an
*absolute* URI when it is created -- the experiment's ``artifact_location``, each run's
``artifact_uri``, each logged model's ``artifact_location``, each model version's ``source`` and
``storage_location`` (and trace and workspace locations, when those are used) -- and reads them
back verbatim. So a home that is moved or copied (a backup restored elsewhere, a home copied to
another machine or another path) keeps pointing at the *original* directory: new runs write their
artifacts there, and models load from there (or fail, when it is gone).

Why finsig does it itself
-------------------------
MLflow offers no supported way to keep local artifact locations relative: a relative location is
resolved against the working directory and stored absolute (``resolve_uri_if_local``; mlflow
PR #7670 made that deliberate; PR #645, which proposed relative local URIs, was closed, and issue
#3144 "artifact location when moving mlruns folder" is still open). ``mlflow db move-resources
--artifact-policy retarget`` (3.x) only re-targets experiments between *workspaces* of one
server and leaves run, model and version URIs as they were. The third-party fixers (``mlfix``,
``mlflow-extra``) rewrite the old file store's ``meta.yaml`` files, not a SQL store. Hence this
module.

What it does
------------
Beside the database, ``<db>.artifact-root`` records the artifact root the database's URIs were
written for (one line, a ``file://`` URI). When finsig opens the store (``MlflowTracking.activate``)
and that root is not the current one (``<store dir>/artifacts``), every recorded URI under the
old root is rewritten to the same place under the new root, in one SQLite transaction, under an
exclusive lock on ``<db>.lock`` (``fcntl.flock``) so that several processes opening a fresh copy
together rewrite it once; then the marker is replaced. A crash between the commit and the marker
only repeats a rewrite that finds nothing left to change. A store with no marker -- made before
this module, or copied without it -- takes its old root from its experiments: an experiment
location laid out like finsig's (``.../<store dir name>/artifacts``) that is not the current
root. MLflow's in-process artifact-repository cache (keyed by run id, which a copy shares with
its original) is cleared after a rewrite.

Only SQLite stores whose artifacts live in ``<store dir>/artifacts`` (finsig's default layout) are
relocated; an explicitly configured artifact location is the user's choice and left alone, and a
tracking server (``http(s)://``) owns its own locations. If the database was copied without its
artifacts (the new root is empty or missing while the old one still holds files), nothing is
rewritten (a WARNING says so): pointing the store at files that are not there would lose every
model.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

MARKER_SUFFIX = ".artifact-root"
LOCK_SUFFIX = ".lock"
_warned_copies: set[Path] = set()  # stores whose "copied without artifacts" warning was logged

# Every column of MLflow 3.x's SQL schema that holds an artifact location (tables and columns a
# given schema version lacks are skipped). Only values under the old root change.
URI_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("trace_tags", "value"),  # mlflow.artifactLocation and the archive location of traces
    ("workspaces", "default_artifact_root"),
    ("workspaces", "trace_archival_location"),
)


@dataclass(frozen=True)
class Relocation:
    """What one rewrite did: the roots it moved from and to, and rows changed per column."""

    old_roots: tuple[str, ...]
    new_root: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def sqlite_db_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store, or ``:memory:``)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path).resolve()


def marker_path(db: Path) -> Path:
    return db.with_name(db.name + MARKER_SUFFIX)


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + LOCK_SUFFIX)


def read_marker(db: Path) -> str | None:
    try:
        text = marker_path(db).read_text().strip()
    except FileNotFoundError:
        return None
    return text or None


def _write_marker(db: Path, root_uri: str) -> None:
    marker = marker_path(db)
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(root_uri + "\n")
    tmp.replace(marker)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _local_path(uri: str) -> Path | None:
    """The filesystem path of a ``file:`` URI or a plain absolute path, else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def _has_entries(path: Path) -> bool:
    try:
        return any(path.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False


def _spellings(root: Path) -> list[str]:
    """How MLflow may have written a local root: ``file:///p`` (finsig's), ``file:/p``, ``/p``."""
    uri = root.as_uri()
    return list(dict.fromkeys([uri, "file:" + uri[len("file://") :], str(root)]))


def _columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    present = []
    for table, column in URI_COLUMNS:
        if table in tables and column in {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}:
            present.append((table, column))
    return present


def _legacy_roots(conn: sqlite3.Connection, root: Path) -> list[str]:
    """Old roots of a store without a marker: experiment locations laid out like ``root``."""
    if "experiments" not in {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}:
        return []
    found = []
    for (location,) in conn.execute("SELECT DISTINCT artifact_location FROM experiments WHERE artifact_location IS NOT NULL"):
        path = _local_path(location)
        if path is None or path == root:
            continue
        if path.name == root.name and path.parent.name == root.parent.name:
            found.append(path.as_uri())
    return found


def _rewrite(conn: sqlite3.Connection, old_roots: list[str], new_root: Path) -> dict[str, int]:
    """Rewrite every URI under one of ``old_roots`` to ``new_root``, in one transaction."""
    rows: dict[str, int] = {}
    columns = _columns(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for old_uri in old_roots:
            old_path = _local_path(old_uri)
            if old_path is None:
                continue
            for old, new in zip(_spellings(old_path), _spellings(new_root), strict=True):
                for table, column in columns:
                    cursor = conn.execute(
                        f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                        f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                        [new, len(old) + 1, old, len(old) + 1, old + "/"],
                    )
                    if cursor.rowcount > 0:
                        key = f"{table}.{column}"
                        rows[key] = rows.get(key, 0) + cursor.rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return rows


def _forget_cached_artifact_repos() -> None:
    """MLflow caches artifact repositories by run/model id in-process; a rewrite makes them stale."""
    try:
        from mlflow.tracking._tracking_service import utils
    except ImportError:  # pragma: no cover - a future MLflow without the cache
        return
    cache = getattr(utils, "_artifact_repos_cache", None)
    if cache is not None:
        cache.clear()


def sync_artifact_root(db: Path, root: Path) -> Relocation | None:
    """Make the store ``db`` record its artifacts under ``root``; the rewrite done, or None.

    Cheap when nothing moved (one small file read). Safe to call from many processes at once.
    """
    current = root.as_uri()
    if read_marker(db) == current:
        return None
    db.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(lock_path(db)):
        recorded = read_marker(db)  # another process may have done it while we waited
        if recorded == current:
            return None
        relocation = None
        if db.exists():
            conn = sqlite3.connect(db, timeout=60, isolation_level=None)
            try:
                old_roots = [recorded] if recorded else _legacy_roots(conn, root)
                old_roots = [r for r in dict.fromkeys(old_roots) if r != current]
                if old_roots:
                    old_dirs = [p for p in (_local_path(r) for r in old_roots) if p is not None and _has_entries(p)]
                    if old_dirs and not _has_entries(root):
                        if db in _warned_copies:
                            return None
                        _warned_copies.add(db)
                        log.warning(
                            "MLflow store %s records its artifacts under %s, and %s holds none: the database was copied "
                            "without its artifacts; leaving the recorded locations as they are",
                            db,
                            ", ".join(old_roots),
                            root,
                        )
                        return None
                    rows = _rewrite(conn, old_roots, root)
                    relocation = Relocation(tuple(old_roots), current, rows)
            finally:
                conn.close()
        _write_marker(db, current)
    if relocation is not None and relocation.total:
        _forget_cached_artifact_repos()
        log.warning(
            "MLflow store %s was moved: rewrote %d artifact locations from %s to %s (%s)",
            db,
            relocation.total,
            ", ".join(relocation.old_roots),
            current,
            ", ".join(f"{k} {v}" for k, v in sorted(relocation.rows.items())),
        )
    return relocation


def main(argv: list[str] | None = None) -> int:
    """Relocate a moved store now, e.g. before ``mlflow ui`` or ``mlflow models serve`` open it (finsig does on open).

    ``finsig mlflow-store [TRACKING_URI]`` (``make mlflow-ui`` and ``make serve`` run it)
    """
    import argparse

    from finsig_assets import settings

    parser = argparse.ArgumentParser(prog="finsig mlflow-store", description=main.__doc__)
    parser.add_argument("tracking_uri", nargs="?", default=None, help="default: MLFLOW_TRACKING_URI or the store under $FINSIG_HOME/mlflow")
    args = parser.parse_args(argv)
    uri = args.tracking_uri or settings.mlflow_tracking_uri()
    db = sqlite_db_path(uri)
    if db is None:
        print(f"{uri}: not a local SQLite store, nothing to relocate")
        return 0
    root = db.parent / "artifacts"
    root.mkdir(parents=True, exist_ok=True)
    relocation = sync_artifact_root(db, root)
    if relocation is None or not relocation.total:
        print(f"{db}: artifact locations already under {root}")
    else:
        print(f"{db}: rewrote {relocation.total} artifact locations from {', '.join(relocation.old_roots)} to {relocation.new_root}")
    return 0
