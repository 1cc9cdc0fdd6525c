"""What a landing file is: the one place that decides, for bronze's landing index and the sensor.

Both callers list the landing zone with :func:`scan` and read files with :func:`open_landed`, so
a file the sensor reacts to is exactly a file bronze reads, and no caller can be led by a
symlink out of the landing root.

Rules (``root`` is ``$FINSIG_LANDING_DIR``):

* Datasets are folders under the root: ``market/`` holds ``*.ndjson``; ``news/`` holds ``*.json``
  and ``*.ndjson``. Folders below them are walked recursively. A dataset folder that is itself a
  symlink (``landing/market -> /data/market``) is followed: it is the configured entry point.
* Names starting with ``.`` (files and folders) and names ending in ``~``, ``.tmp``, ``.part``,
  ``.swp`` or ``.crdownload`` are temporary files of editors and downloaders: ignored, silently.
* ``news/**/seen_articles.json`` (the collector's list of ids) is listed like any file;
  :func:`is_non_article` says it holds no article, and bronze counts it as such.
* Folders are never followed through symlinks (no loops). A symlinked *file* is followed only
  when its resolved target lies inside the landing root (or the resolved dataset folder), and is
  then read at that resolved path; otherwise it is skipped (``outside_root``) and never opened.
* Everything that looks like a landing file but cannot be read is a :class:`SkippedEntry` with a
  ``kind`` and a human-readable ``reason``, never an exception: ``outside_root``,
  ``symlink_loop`` (ELOOP), ``dangling_symlink``, ``symlinked_directory``, ``not_a_regular_file``
  (a FIFO, socket or device — opening one could block forever), ``vanished`` (gone between
  listing and ``stat``), ``unreadable`` (``os.access(R_OK)`` fails, or a folder cannot be
  listed). Callers add ``unsettled`` (see :data:`UNSETTLED`) when a file never settles.
* A file modified less than ``settle_seconds`` ago is still being written: it is returned in
  ``LandingScan.unsettled``, not in ``files``, to be read on a later look. An mtime further in
  the future than ``settle_seconds`` (clock skew, or set by hand) counts as settled: waiting for
  it could take forever.

Reading: :func:`open_landed` opens without following a final symlink and refuses anything but a
regular file; every ``OSError`` becomes a :class:`LandingReadError` (``kind`` + ``reason``) that
a caller turns into a skip. :func:`sessions_touched` / :func:`inspect_file` give the trade dates
a file's records belong to, parsed exactly as bronze places records, and the file's SHA-256.
"""

from __future__ import annotations

import datetime as dt
import errno
import gc
import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from finsig_assets import settings

DATASETS = ("market", "news")
SUFFIXES: dict[str, tuple[str, ...]] = {"market": (".ndjson",), "news": (".json", ".ndjson")}
TEMP_SUFFIXES = ("~", ".tmp", ".part", ".swp", ".crdownload")
NON_ARTICLE_FILE_NAMES = frozenset({"seen_articles.json"})
TIME_FIELDS = {"market": "time", "news": "published_at"}  # the field bronze places a record by

# Kinds of skipped entries.
OUTSIDE_ROOT = "outside_root"
SYMLINK_LOOP = "symlink_loop"
DANGLING_SYMLINK = "dangling_symlink"
SYMLINKED_DIRECTORY = "symlinked_directory"
NOT_A_REGULAR_FILE = "not_a_regular_file"
VANISHED = "vanished"
UNREADABLE = "unreadable"
UNSETTLED = "unsettled"  # set by a caller that waited and the file kept changing

READ_CHUNK_BYTES = 8 << 20
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class LandedFile:
    """A readable landing file. ``abs`` is the path to open: the file itself, or, for a symlink
    inside the root, its resolved target (so the link cannot be swapped after the scan)."""

    path: str  # relative to the landing root, '/'-separated: market/2024/06/x.ndjson
    abs: str
    size: int
    mtime_ns: int

    @property
    def abs_path(self) -> Path:
        return Path(self.abs)

    @property
    def fingerprint(self) -> tuple[int, int]:
        """(size, mtime_ns): what changes when a file is written or touched."""
        return (self.size, self.mtime_ns)


@dataclass(frozen=True)
class SkippedEntry:
    """Something in the landing zone that looks like a landing file but is not read."""

    path: str  # relative to the landing root, '/'-separated
    kind: str  # one of the kinds above
    reason: str  # human-readable, names the target/cause
    is_dir: bool = False  # a folder that could not be listed (its files were not seen)


@dataclass
class LandingScan:
    dataset: str
    files: dict[str, LandedFile]  # settled, readable files by relative path
    skipped: list[SkippedEntry]
    unsettled: list[LandedFile]  # changed within settle_seconds: read them on a later look

    def skipped_by_kind(self) -> dict[str, int]:
        return count_kinds(self.skipped)


def count_kinds(entries: Iterable[SkippedEntry]) -> dict[str, int]:
    """How many entries of each kind, sorted by kind (for metadata)."""
    return dict(sorted(Counter(e.kind for e in entries).items()))


class LandingReadError(Exception):
    """A landing file could not be read; ``kind`` and ``reason`` are those of a SkippedEntry."""

    def __init__(self, path: str, kind: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.kind = kind
        self.reason = reason

    def skipped(self) -> SkippedEntry:
        return SkippedEntry(self.path, self.kind, self.reason)


def settle_seconds() -> float:
    """How long a file must be unchanged before it is read (``FINSIG_LANDING_SETTLE_SECONDS``)."""
    return settings.landing_settle_seconds()


def is_ignored_name(name: str) -> bool:
    """Temporary files of editors and downloaders (and hidden folders): never landing files."""
    return name.startswith(".") or name.endswith(TEMP_SUFFIXES)


def is_landing_name(name: str, dataset: str) -> bool:
    return not is_ignored_name(name) and name.endswith(SUFFIXES[dataset])


def is_non_article(path: str | Path) -> bool:
    """A news file that holds no article by its name (``seen_articles.json``)."""
    name = Path(path).name
    return name in NON_ARTICLE_FILE_NAMES and not name.endswith(".ndjson")


def is_unsettled(mtime_ns: int, now_ns: int, settle: float) -> bool:
    """Changed less than ``settle`` seconds ago (or up to ``settle`` seconds in the future)."""
    if settle <= 0:
        return False
    age = now_ns - mtime_ns
    window = int(settle * 1e9)
    return -window < age < window


def read_error(path: str, exc: OSError, *, at_open: bool = True) -> LandingReadError:
    """The skip an ``OSError`` on a landing file amounts to."""
    why = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return LandingReadError(path, VANISHED, "vanished before it could be read (deleted or renamed after the scan)")
    if exc.errno == errno.ELOOP:
        if at_open:  # opened with O_NOFOLLOW: the name became a symlink after the scan
            return LandingReadError(path, UNREADABLE, "cannot read: it became a symbolic link after the scan (not followed)")
        return LandingReadError(path, SYMLINK_LOOP, f"symlink loop ({why}); not read")
    return LandingReadError(path, UNREADABLE, f"cannot read: {why}")


def open_landed(path: str | Path, rel: str | None = None) -> BinaryIO:
    """Open a landing file for reading: no final symlink, regular files only, never blocks.

    Every read of a landing file (bronze's parsers, the hashes, :func:`inspect_file`) goes
    through here. Raises :class:`LandingReadError` (``rel`` names the file; default ``path``).
    """
    name = rel or str(path)
    try:
        fd = os.open(path, _O_FLAGS)
    except OSError as exc:
        raise read_error(name, exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LandingReadError(name, NOT_A_REGULAR_FILE, f"not a regular file ({_file_type(st.st_mode)}); not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def resolve_landed(root: Path | str, rel: str) -> str | None:
    """The path to open for the landing file ``rel`` (relative to ``root``): its resolved path
    when that lies inside the landing root (or the resolved dataset folder), else None."""
    root_text = str(Path(root))
    full = os.path.join(root_text, *rel.split("/"))
    target = os.path.realpath(full)
    dataset = rel.split("/", 1)[0]
    trusted = (os.path.realpath(root_text), os.path.realpath(os.path.join(root_text, dataset)))
    return target if any(_inside(target, base) for base in trusted) else None


def content_sha256(file: LandedFile | str | Path) -> str:
    """SHA-256 (hex) of a file's bytes: tells a touched file (same hash) from a changed one."""
    path, rel = _where(file)
    digest = hashlib.sha256()
    with open_landed(path, rel) as handle:
        try:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        except OSError as exc:
            raise read_error(rel, exc) from exc
    return digest.hexdigest()


def scan(root: Path | str, dataset: str, *, settle_seconds: float = 0.0, now_ns: int | None = None) -> LandingScan:
    """Every landing file of ``dataset`` under ``root/dataset`` (recursively). Never raises for
    what it finds on disk: problems become ``skipped`` entries."""
    if dataset not in SUFFIXES:
        raise ValueError(f"unknown dataset {dataset!r} (expected one of {', '.join(DATASETS)})")
    root_text = str(Path(root)).rstrip(os.sep) or os.sep
    base = os.path.join(root_text, dataset)
    now_ns = time.time_ns() if now_ns is None else now_ns
    out = LandingScan(dataset, {}, [], [])
    prefix = root_text if root_text.endswith(os.sep) else root_text + os.sep

    def rel_of(path: str) -> str:
        rel = path[len(prefix):] if path.startswith(prefix) else os.path.relpath(path, root_text)
        return safe_text(rel.replace(os.sep, "/") if os.sep != "/" else rel)

    try:
        if not stat.S_ISDIR(os.stat(base).st_mode):
            out.skipped.append(SkippedEntry(dataset, UNREADABLE, f"{base} is not a folder; nothing read", True))
            return out
    except FileNotFoundError:
        return out
    except OSError as exc:
        out.skipped.append(SkippedEntry(dataset, UNREADABLE, f"cannot open the dataset folder: {exc.strerror}", True))
        return out
    trusted = {os.path.realpath(root_text), os.path.realpath(base)}

    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except FileNotFoundError:
            continue
        except OSError as exc:
            out.skipped.append(SkippedEntry(rel_of(folder), UNREADABLE, f"cannot list folder: {exc.strerror or exc}", True))
            continue
        for entry in entries:
            if is_ignored_name(entry.name):
                continue
            try:
                if entry.is_symlink():
                    _symlink(entry, rel_of(entry.path), dataset, trusted, out, now_ns, settle_seconds)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.endswith(SUFFIXES[dataset]):
                    _regular(entry.path, rel_of(entry.path), entry.path, out, now_ns, settle_seconds)
            except OSError as exc:  # anything else the file system throws at us: skip, never raise
                err = read_error(rel_of(entry.path), exc, at_open=False)
                out.skipped.append(err.skipped())
    out.unsettled.sort(key=lambda f: f.path)
    return out


def _regular(path: str, rel: str, target: str, out: LandingScan, now_ns: int, settle: float, st=None) -> None:
    try:
        st = st or os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        out.skipped.append(SkippedEntry(rel, VANISHED, "vanished between listing and stat (deleted or renamed while scanning)"))
        return
    if not stat.S_ISREG(st.st_mode):
        out.skipped.append(SkippedEntry(rel, NOT_A_REGULAR_FILE, f"not a regular file ({_file_type(st.st_mode)}); not read"))
        return
    if not os.access(target, os.R_OK):
        out.skipped.append(SkippedEntry(rel, UNREADABLE, f"cannot read: {os.strerror(errno.EACCES)}"))
        return
    landed = LandedFile(rel, target, st.st_size, st.st_mtime_ns)
    if is_unsettled(st.st_mtime_ns, now_ns, settle):
        out.unsettled.append(landed)
    else:
        out.files[rel] = landed


def _symlink(entry: os.DirEntry, rel: str, dataset: str, trusted: set[str], out: LandingScan, now_ns: int, settle: float) -> None:
    wanted = is_landing_name(entry.name, dataset)
    try:
        link = os.readlink(entry.path)
    except FileNotFoundError:
        if wanted:
            out.skipped.append(SkippedEntry(rel, VANISHED, "vanished between listing and stat (deleted or renamed while scanning)"))
        return
    try:
        st = os.stat(entry.path)  # follows the link
    except OSError as exc:
        if not wanted:
            return
        if exc.errno == errno.ELOOP:
            out.skipped.append(SkippedEntry(rel, SYMLINK_LOOP, f"symlink loop: {entry.name} -> {link} ({exc.strerror}); not read"))
        elif isinstance(exc, FileNotFoundError):
            out.skipped.append(SkippedEntry(rel, DANGLING_SYMLINK, f"dangling symlink: {entry.name} -> {link} (no such file); not read"))
        else:
            out.skipped.append(read_error(rel, exc, at_open=False).skipped())
        return
    target = os.path.realpath(entry.path)
    if stat.S_ISDIR(st.st_mode):
        out.skipped.append(
            SkippedEntry(rel, SYMLINKED_DIRECTORY, f"symlink to the folder {target}; folders are not followed through symlinks")
        )
        return
    if not wanted:
        return
    if not any(_inside(target, base) for base in trusted):
        out.skipped.append(
            SkippedEntry(rel, OUTSIDE_ROOT, f"symlink to {target} resolves outside the landing root; not read")
        )
        return
    _regular(target, rel, target, out, now_ns, settle, st=st)


def _inside(path: str, base: str) -> bool:
    try:
        return os.path.commonpath([path, base]) == base
    except ValueError:  # different drives
        return False


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return f"mode {stat.filemode(mode)}"


def safe_text(text: str) -> str:
    """A string DuckDB can store (valid UTF-8): unpaired surrogates (undecodable bytes in file
    names, broken escapes in JSON) become escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _where(file: LandedFile | str | Path) -> tuple[str, str]:
    if isinstance(file, LandedFile):
        return file.abs, file.path
    return str(file), str(file)


# ---------------------------------------------------------------------------------------------
# What sessions a file touches.


@dataclass(frozen=True)
class FileContents:
    """What one read of a landing file tells: the trade dates its records belong to (as bronze
    places them), the SHA-256 of its bytes, and how many lines it has."""

    sessions: frozenset[dt.date]
    sha256: str
    n_lines: int


def sessions_touched(file: LandedFile | str | Path, dataset: str) -> set[dt.date]:
    """The trade dates of the records in ``file``. Raises :class:`LandingReadError`."""
    return set(inspect_file(file, dataset).sessions)


def inspect_file(file: LandedFile | str | Path, dataset: str) -> FileContents:
    """Read ``file`` once: the trade dates its records touch, and its SHA-256.

    A record touches the session bronze would place it in — valid, rejected or (market) an
    incomplete candle alike, since re-materializing that session changes its rows or its
    quarantine. A record with no usable timestamp (unparsable, no zone, not a JSON object,
    outside the calendar) touches none; neither does a non-article file. Raises
    :class:`LandingReadError` when the file cannot be read (turn it into a skip).
    About 1.5 s per million candle lines.
    """
    if dataset not in TIME_FIELDS:
        raise ValueError(f"unknown dataset {dataset!r}")
    path, rel = _where(file)
    batch = dataset == "market" or rel.endswith(".ndjson")  # the landed name decides, as in bronze
    digest = hashlib.sha256()
    sessions: set[dt.date] = set()
    n_lines = 0
    with open_landed(path, rel) as handle:
        try:
            if batch:
                first = True
                while lines := handle.readlines(READ_CHUNK_BYTES):
                    digest.update(b"".join(lines))
                    n_lines += len(lines)
                    sessions |= _trade_dates(_line_times(lines, TIME_FIELDS[dataset], first), TIME_FIELDS[dataset])
                    first = False
            else:
                data = handle.read()
                digest.update(data)
                n_lines = 1
                if not is_non_article(rel):
                    sessions = _trade_dates(_document_times(data, TIME_FIELDS[dataset]), TIME_FIELDS[dataset])
        except OSError as exc:
            raise read_error(rel, exc) from exc
    return FileContents(frozenset(sessions), digest.hexdigest(), n_lines)


def _line_times(lines: list[bytes], field: str, first_chunk: bool) -> list[str]:
    """The ``field`` strings of the JSON-object lines, decoded as bronze decodes them."""
    import orjson

    from finsig_assets.bronze.records import UTF8_BOM, RecordRejected, decode_json

    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    out: list[str] = []
    append = out.append
    gc_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived dicts and no cycles: the collector only costs time
    try:
        try:  # the usual chunk: every line is JSON
            objs = list(map(loads, lines))
        except decode_error:
            objs = None
        if objs is not None:
            return [v for o in objs if type(o) is dict and type(v := o.get(field)) is str]
        for i, line in enumerate(lines):
            try:
                obj = loads(line)
            except decode_error:  # the slow path bronze takes: BOM, stdlib fallback (NaN, surrogates)
                text = line.strip()
                if first_chunk and i == 0 and text.startswith(UTF8_BOM):
                    text = text[3:].strip()
                if not text:
                    continue
                try:
                    obj = decode_json(text)
                except RecordRejected:
                    continue
                value = obj.get(field) if isinstance(obj, dict) else None
                if isinstance(value, str) and _is_text(value):
                    append(value)
                continue
            if type(obj) is dict:
                value = obj.get(field)
                if type(value) is str:
                    append(value)
    finally:
        if gc_enabled:
            gc.enable()
    return out


def _document_times(data: bytes, field: str) -> list[str]:
    """One single-article ``.json`` file, as bronze reads it."""
    from finsig_assets.bronze.records import UTF8_BOM, RecordRejected, decode_json

    text = data[3:] if data.startswith(UTF8_BOM) else data
    if not text.strip():
        return []
    try:
        obj = decode_json(text)
    except RecordRejected:
        return []
    value = obj.get(field) if isinstance(obj, dict) else None
    return [value] if isinstance(value, str) and _is_text(value) else []


def _trade_dates(times: list[str], field: str) -> set[dt.date]:
    """Trade dates of the instants, parsed by bronze's ``parse_instants`` and placed by
    ``assign_trade_dates``. Partition windows start and end on whole UTC hours (17:00 New York),
    so instants are placed by their hour: a million instants cost a few thousand placements."""
    if not times:
        return set()
    import polars as pl

    from finsig_assets.bronze.records import parse_instants
    from finsig_assets.trading_calendar import assign_trade_dates

    ns, _, _ = parse_instants(pl.Series("t", times, dtype=pl.String), field)
    hours = (
        ns.drop_nulls()
        .cast(pl.Datetime("ns", "UTC"))
        .dt.cast_time_unit("us")
        .dt.truncate("1h")
        .unique()
        .alias("ts")
        .to_frame()
    )
    if not hours.height:
        return set()
    return set(assign_trade_dates(hours, "ts")["trade_date"].drop_nulls().unique().to_list())


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
