"""The XNYS session table, computed once per exchange_calendars version and kept on disk.

Every process that loads the definitions needs the session list (the partition keys), and
every bronze and silver step needs the session table (ownership windows, regular-hours open
and close). Importing exchange_calendars (with pandas) and building the calendar costs about a
second, which every ``dagster`` command, run and step paid before doing anything. The table
depends only on the library's version and the first session, so it is computed by
exchange_calendars the first time and read back (a few milliseconds of Arrow IPC) after that.

- The file name carries the exchange_calendars version and the first session: upgrading the
  library (new holidays) computes a new table; nothing has to be invalidated by hand.
- Written to a temporary file and renamed: concurrent first uses (a backfill's steps) never
  read a half-written table.
- A file that cannot be read (truncated, foreign) is recomputed; a directory that cannot be
  written (a read-only image) only costs the computation, every time.

Location: ``FINSIG_CALENDAR_CACHE`` (a directory), else ``$XDG_CACHE_HOME/finsig``, else
``~/.cache/finsig``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)
ENV = "FINSIG_CALENDAR_CACHE"


def cache_dir() -> Path:
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "finsig"


def cache_path(first_session: str) -> Path:
    return cache_dir() / f"xnys-{first_session}-exchange_calendars-{version('exchange_calendars')}.arrow"


def cached_session_table(first_session: str, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """The table ``compute`` builds, from the cache when it holds this version's."""
    path = cache_path(first_session)
    try:
        return pl.read_ipc(path)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001 -- any unreadable file is recomputed, not trusted
        log.warning("recomputing the session table: %s could not be read (%s)", path, exc)
    table = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        try:
            table.write_ipc(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        log.info("session table not cached (%s): it is computed in each process", exc)
    return table
