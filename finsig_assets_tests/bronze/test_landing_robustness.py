"""Bronze never crashes on what it finds in the landing zone, and never drops anything silently.

Every case here was found by a user: a symlink to /etc/passwd whose lines landed in the
quarantine, a symlink loop that failed both assets, one unreadable file that failed every
partition, a file read while it was being written. Each becomes a skipped entry: a WARNING, a
count in the metadata, one quarantine row (``source_line`` 0, empty ``raw``) — and every other
file's rows are written.
"""

from __future__ import annotations

import builtins
import datetime as dt
import errno
import importlib
import json
import logging
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from finsig_assets.bronze import landing_index, market_candles, news_articles
from finsig_assets_tests.bronze.helpers import article, metadata, ny, v20, write_lines
from finsig_assets_tests.check_results import table_checks

market_module = importlib.import_module("finsig_assets.bronze.market_candles")
D = dt.date.fromisoformat
DAY = "2024-06-25"


def run(assets, warehouse, landing, partition: str | None = DAY, first: str | None = None, last: str | None = None):
    """Materialize; return the result and the run's WARNING messages."""
    instance = dg.DagsterInstance.ephemeral()
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last} if first else None
    result = dg.materialize(
        assets,
        partition_key=None if first else partition,
        tags=tags,
        resources={"warehouse": warehouse, "landing": landing},
        instance=instance,
    )
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    return result, warnings


def quarantine(warehouse, where: str = "TRUE", params=None):
    return warehouse.query(
        f"SELECT dataset, source_file, source_line, trade_date, reason, raw FROM bronze.quarantine WHERE {where} "
        "ORDER BY dataset, source_file, trade_date NULLS FIRST, source_line",
        params,
    )


def candles(warehouse):
    return warehouse.query("SELECT * FROM bronze.market_candles ORDER BY ts, source_file")


def indexed_paths(warehouse) -> list[str]:
    return warehouse.query("SELECT path FROM meta.landing_files ORDER BY path")["path"].to_list()


def check(result, name="market_candles") -> dg.AssetCheckEvaluation:
    (ev,) = [e for e in table_checks(result) if e.asset_key.path[-1] == name]
    return ev


@pytest.fixture
def deny(monkeypatch):
    """``deny(path, at_scan=True)``: reading ``path`` fails with EACCES, as for a file mode 000
    when not root. ``os.access`` says so too unless ``at_scan=False`` (the file became
    unreadable after the scan). Every way of opening it fails: os.open and builtins.open."""
    denied: dict[str, bool] = {}
    real_access, real_os_open, real_open = os.access, os.open, builtins.open

    def hit(path) -> str | None:
        try:
            key = os.path.realpath(os.fspath(path))
        except TypeError:  # a file descriptor
            return None
        return key if key in denied else None

    def eacces(path):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def access(path, mode, *a, **k):
        key = hit(path)
        if key and denied[key]:
            return False
        return real_access(path, mode, *a, **k)

    def os_open(path, *a, **k):
        if hit(path):
            raise eacces(path)
        return real_os_open(path, *a, **k)

    def open_(file, *a, **k):
        if hit(file):
            raise eacces(file)
        return real_open(file, *a, **k)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)

    def deny_path(path: Path, at_scan: bool = True) -> None:
        denied[os.path.realpath(path)] = at_scan

    deny_path.lift = denied.clear
    return deny_path


@pytest.fixture
def opened(monkeypatch):
    """Every landed file the market asset opens (its relative path)."""
    calls: list[str] = []
    real = market_module.read_market_file

    def spy(landed, span):
        calls.append(landed.path)
        return real(landed, span)

    monkeypatch.setattr(market_module, "read_market_file", spy)
    return calls


# --- symlinks ---------------------------------------------------------------------------------


def test_symlink_out_of_the_landing_root_is_never_opened(warehouse, landing, tmp_path, opened):
    outside = tmp_path / "outside"
    passwd = write_lines(outside / "passwd", [f"user{i}:x:{1000 + i}:{1000 + i}::/nonexistent:/usr/sbin/nologin" for i in range(31)])
    t = ny(f"{DAY} 10:31")
    # A valid candle outside the root, newer and later-named than the landed one: it used to win
    # the duplicate rule and reach gold.
    planted = write_lines(outside / "candle.ndjson", [v20(t, c=5450.9, h=5451.0)], mtime_ns=3_000_000_000_000_000_000)
    write_lines(landing.market_dir / "a.ndjson", [v20(t, c=5450.4), v20(ny(f"{DAY} 10:32"))])
    os.symlink(passwd, landing.market_dir / "passwd.ndjson")
    os.symlink(planted, landing.market_dir / "z_planted.ndjson")

    result, warnings = run([market_candles], warehouse, landing)
    assert result.success
    rows = candles(warehouse)
    assert rows.select("source_file", "close").rows() == [("market/a.ndjson", 5450.4), ("market/a.ndjson", 5450.4)]
    assert sorted(opened) == ["market/a.ndjson"]
    q = quarantine(warehouse)
    assert q.rows() == [
        ("market", "market/passwd.ndjson", 0, None, f"symlink to {passwd.resolve()} resolves outside the landing root; not read", ""),
        ("market", "market/z_planted.ndjson", 0, None, f"symlink to {planted.resolve()} resolves outside the landing root; not read", ""),
    ]
    assert any("market/passwd.ndjson not read (outside_root)" in w for w in warnings)
    meta = metadata(result)
    assert meta["run_files_not_read_by_reason"] == {"outside_root": 2} and meta["run_files_not_read"] == 2
    assert "market/passwd.ndjson" in meta["run_files_not_read_list"]
    assert indexed_paths(warehouse) == ["market/a.ndjson"]

    # Another run (another partition) replaces the rows, it does not add to them.
    run([market_candles], warehouse, landing, partition="2024-06-24")
    assert quarantine(warehouse).height == 2
    # The link removed: its row goes.
    (landing.market_dir / "passwd.ndjson").unlink()
    run([market_candles], warehouse, landing)
    assert quarantine(warehouse)["source_file"].to_list() == ["market/z_planted.ndjson"]


def test_symlink_loop_is_skipped_and_both_assets_succeed(warehouse, landing):
    os.symlink("loop.ndjson", landing.market_dir / "loop.ndjson")
    os.symlink("loop.json", landing.news_dir / "loop.json")
    write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"{DAY} 10:00"))])
    (landing.news_dir / "a.json").write_text(json.dumps(article(1)))
    result, warnings = run([market_candles, news_articles], warehouse, landing)
    assert result.success
    assert candles(warehouse).height == 1
    assert warehouse.query("SELECT count(*) AS n FROM bronze.news_articles")["n"][0] == 1
    q = quarantine(warehouse)
    assert q.select("dataset", "source_file", "source_line", "trade_date", "raw").rows() == [
        ("market", "market/loop.ndjson", 0, None, ""),
        ("news", "news/loop.json", 0, None, ""),
    ]
    assert q["reason"][0] == "symlink loop: loop.ndjson -> loop.ndjson (Too many levels of symbolic links); not read"
    assert sum("not read (symlink_loop)" in w for w in warnings) == 2
    assert metadata(result, "news_articles")["run_files_not_read_by_reason"] == {"symlink_loop": 1}


# --- unreadable files ---------------------------------------------------------------------------


@pytest.mark.parametrize("at_scan", [True, False], ids=["os.access-says-so", "fails-at-open"])
def test_unreadable_file_is_quarantined_and_the_rest_is_written(warehouse, landing, deny, at_scan):
    write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"{DAY} 10:{m:02d}")) for m in range(5)])
    secret = write_lines(landing.market_dir / "b.ndjson", [v20(ny(f"{DAY} 11:{m:02d}")) for m in range(5)])
    deny(secret, at_scan=at_scan)
    result, warnings = run([market_candles], warehouse, landing)
    assert result.success
    assert candles(warehouse)["source_file"].unique().to_list() == ["market/a.ndjson"]
    assert quarantine(warehouse).rows() == [
        ("market", "market/b.ndjson", 0, None, "cannot read: Permission denied", "")
    ]
    assert any("market/b.ndjson not read (unreadable): cannot read: Permission denied" in w for w in warnings)
    assert metadata(result)["run_files_not_read_by_reason"] == {"unreadable": 1}
    assert indexed_paths(warehouse) == ["market/a.ndjson"]  # read on a later run, as a new file
    ev = check(result)
    assert ev.metadata["files_not_read"].value == 1 and ev.metadata["rejected"].value == 1

    deny.lift()
    run([market_candles], warehouse, landing)
    assert candles(warehouse).height == 10 and quarantine(warehouse).height == 0
    assert indexed_paths(warehouse) == ["market/a.ndjson", "market/b.ndjson"]


def test_a_file_indexed_before_keeps_its_index_and_quarantines_its_sessions(warehouse, landing, deny):
    write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"2024-06-24 10:{m:02d}")) for m in range(3)])
    both = write_lines(
        landing.market_dir / "b.ndjson", [v20(ny(f"{d} 11:{m:02d}")) for d in ("2024-06-24", DAY) for m in range(3)]
    )
    run([market_candles], warehouse, landing, first="2024-06-24", last=DAY)
    index_before = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")
    deny(both, at_scan=False)  # chmod after indexing: mtime and size unchanged, open fails

    result, _ = run([market_candles], warehouse, landing, first="2024-06-24", last=DAY)
    assert result.success
    assert candles(warehouse)["source_file"].unique().to_list() == ["market/a.ndjson"]
    assert quarantine(warehouse).select("source_file", "source_line", "trade_date", "reason").rows() == [
        ("market/b.ndjson", 0, D("2024-06-24"), "cannot read: Permission denied"),
        ("market/b.ndjson", 0, D(DAY), "cannot read: Permission denied"),
    ]
    index_after = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")
    assert index_after.select("path", "first_seen_at").rows() == index_before.select("path", "first_seen_at").rows()
    events = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert events[DAY]["files_not_read"].value == 1 and events[DAY]["quarantine_rows_written"].value == 1

    deny.lift()
    run([market_candles], warehouse, landing, first="2024-06-24", last=DAY)
    assert candles(warehouse).height == 9 and quarantine(warehouse).height == 0


def test_unreadable_news_file(warehouse, landing, deny):
    (landing.news_dir / "a.json").write_text(json.dumps(article(1)))
    secret = landing.news_dir / "b.json"
    secret.write_text(json.dumps(article(2)))
    deny(secret, at_scan=False)
    result, _ = run([news_articles], warehouse, landing)
    assert result.success
    assert warehouse.query("SELECT source_file FROM bronze.news_articles")["source_file"].to_list() == ["news/a.json"]
    assert quarantine(warehouse).select("source_file", "source_line", "trade_date", "reason").rows() == [
        ("news/b.json", 0, None, "cannot read: Permission denied")
    ]


# --- files that vanish --------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["market", "news"])
def test_file_vanishing_between_the_scan_and_the_read(warehouse, landing, monkeypatch, dataset):
    if dataset == "market":
        write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"{DAY} 10:00"))])
        gone = write_lines(landing.market_dir / "b.ndjson", [v20(ny(f"{DAY} 10:01"))])
        asset, table = market_candles, "bronze.market_candles"
    else:
        (landing.news_dir / "a.json").write_text(json.dumps(article(1)))
        gone = landing.news_dir / "b.json"
        gone.write_text(json.dumps(article(2)))
        asset, table = news_articles, "bronze.news_articles"
    # Listed by the scan, deleted the moment bronze opens it (however it opens it).
    real_os_open, real_open = os.open, builtins.open

    def vanish(path):
        try:
            if os.path.realpath(os.fspath(path)) == str(gone.resolve()) and gone.exists():
                gone.unlink()
        except TypeError:
            pass

    monkeypatch.setattr(os, "open", lambda path, *a, **k: vanish(path) or real_os_open(path, *a, **k))
    monkeypatch.setattr(builtins, "open", lambda file, *a, **k: vanish(file) or real_open(file, *a, **k))
    result, warnings = run([asset], warehouse, landing)
    assert result.success
    assert warehouse.query(f"SELECT source_file FROM {table}")["source_file"].to_list() == [f"{dataset}/a.{'ndjson' if dataset == 'market' else 'json'}"]
    q = quarantine(warehouse)
    assert q.select("source_file", "source_line", "trade_date", "raw").rows() == [(f"{dataset}/{gone.name}", 0, None, "")]
    assert q["reason"][0].startswith("vanished before it could be read")
    assert any("not read (vanished)" in w for w in warnings)
    run([asset], warehouse, landing)  # gone for good: the row goes
    assert quarantine(warehouse).height == 0


# --- files still being written ----------------------------------------------------------------


def test_a_file_being_written_is_waited_for(warehouse, landing, monkeypatch):
    monkeypatch.setenv("FINSIG_LANDING_SETTLE_SECONDS", "0.4")
    write_lines(landing.market_dir / "fresh.ndjson", [v20(ny(f"{DAY} 10:00"))])
    started = time.monotonic()
    result, _ = run([market_candles], warehouse, landing)
    assert result.success and candles(warehouse).height == 1 and quarantine(warehouse).height == 0
    assert time.monotonic() - started >= 0.3


def test_a_file_that_keeps_changing_is_left_for_a_later_run(warehouse, landing, monkeypatch):
    # 1 s: the scan right after each append must see the file as changed "just now" even on a
    # loaded machine (with 0.3 s a slow scan once found it settled).
    monkeypatch.setenv("FINSIG_LANDING_SETTLE_SECONDS", "1.0")
    old = time.time_ns() - 60 * 10**9
    write_lines(landing.market_dir / "done.ndjson", [v20(ny(f"{DAY} 10:00"))], mtime_ns=old)
    growing = write_lines(landing.market_dir / "growing.ndjson", [v20(ny(f"{DAY} 11:00"))])
    real_sleep = time.sleep
    n = {"appended": 0}

    def sleep_while_the_downloader_writes(seconds):
        real_sleep(seconds)
        with open(growing, "a") as out:
            out.write(v20(ny(f"{DAY} 11:{1 + n['appended']:02d}")) + "\n")
        n["appended"] += 1

    monkeypatch.setattr(landing_index, "_sleep", sleep_while_the_downloader_writes)
    started = time.monotonic()
    result, warnings = run([market_candles], warehouse, landing)
    assert result.success
    assert time.monotonic() - started < 15  # bounded: a few settle periods
    assert candles(warehouse)["source_file"].to_list() == ["market/done.ndjson"]
    q = quarantine(warehouse)
    assert q.select("source_file", "source_line", "trade_date", "raw").rows() == [("market/growing.ndjson", 0, None, "")]
    assert q["reason"][0].startswith("still being written: changed ") and "left for a later run" in q["reason"][0]
    assert any("market/growing.ndjson not read (unsettled)" in w for w in warnings)
    assert indexed_paths(warehouse) == ["market/done.ndjson"]
    assert metadata(result)["run_files_not_read_by_reason"] == {"unsettled": 1}

    # The download finishes; the next run reads the whole file.
    monkeypatch.setattr(landing_index, "_sleep", real_sleep)
    os.utime(growing, ns=(old, old))
    run([market_candles], warehouse, landing)
    assert candles(warehouse).height == 2 + n["appended"] and quarantine(warehouse).height == 0
    assert indexed_paths(warehouse) == ["market/done.ndjson", "market/growing.ndjson"]


# --- a previously indexed file that turns into a symlink -----------------------------------------


def test_a_file_replaced_by_an_outside_symlink_leaves_the_index(warehouse, landing, tmp_path):
    path = write_lines(landing.market_dir / "a.ndjson", ["garbage", v20(ny(f"{DAY} 10:00"))])
    run([market_candles], warehouse, landing)
    assert quarantine(warehouse, "trade_date IS NULL")["source_line"].to_list() == [1]
    path.unlink()
    os.symlink(write_lines(tmp_path / "elsewhere.ndjson", ["{}"]), path)
    result, _ = run([market_candles], warehouse, landing)
    assert result.success and candles(warehouse).height == 0 and indexed_paths(warehouse) == []
    # The old version's unplaceable row went with its index row; the link's own row replaced it.
    assert quarantine(warehouse).select("source_file", "source_line").rows() == [("market/a.ndjson", 0)]


def test_a_folder_that_cannot_be_listed_keeps_its_files_in_the_index(warehouse, landing, monkeypatch):
    write_lines(landing.market_dir / "a.ndjson", [v20(ny(f"{DAY} 10:00"))])
    write_lines(landing.market_dir / "sub" / "b.ndjson", [v20(ny(f"{DAY} 10:01"))])
    run([market_candles], warehouse, landing)
    index_before = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")
    real_scandir = os.scandir

    def scandir(path="."):
        # An int is a directory fd (shutil.rmtree cleaning a temporary directory): never this folder.
        if not isinstance(path, int) and os.fspath(path).endswith(os.sep + "sub"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result, warnings = run([market_candles], warehouse, landing)
    assert result.success
    assert candles(warehouse)["source_file"].to_list() == ["market/a.ndjson"]
    assert quarantine(warehouse).select("source_file", "source_line", "trade_date", "reason").rows() == [
        ("market/sub", 0, None, "cannot list folder: Permission denied")
    ]
    # Not "deleted": when the folder can be listed again, b is not new (it keeps when it was first seen).
    index_after = warehouse.query("SELECT * FROM meta.landing_files ORDER BY path")
    assert index_after.select("path", "first_seen_at").rows() == index_before.select("path", "first_seen_at").rows()
    monkeypatch.setattr(os, "scandir", real_scandir)
    run([market_candles], warehouse, landing)
    assert candles(warehouse).height == 2 and quarantine(warehouse).height == 0
