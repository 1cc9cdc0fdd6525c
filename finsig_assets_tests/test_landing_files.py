"""landing_files: the one definition of a landing file (bronze's index and the sensor use it)."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from finsig_assets import landing_files
from finsig_assets.landing_files import (
    DANGLING_SYMLINK,
    NOT_A_REGULAR_FILE,
    OUTSIDE_ROOT,
    SYMLINK_LOOP,
    SYMLINKED_DIRECTORY,
    UNREADABLE,
    VANISHED,
    LandingReadError,
    content_sha256,
    inspect_file,
    is_non_article,
    open_landed,
    scan,
    sessions_touched,
)
from finsig_assets_tests.bronze.helpers import article, flat, ny, v20, write_lines
from finsig_assets_tests.bronze.synthetic import v20_line, session_minutes

D = dt.date.fromisoformat
CORPUS = Path(__file__).parent / "bronze" / "corpus"


@pytest.fixture
def root(tmp_path) -> Path:
    landing = tmp_path / "landing"
    (landing / "market").mkdir(parents=True)
    (landing / "news").mkdir(parents=True)
    return landing


def kinds(result) -> dict[str, str]:
    return {s.path: s.kind for s in result.skipped}


def reason(result, path: str) -> str:
    (entry,) = [s for s in result.skipped if s.path == path]
    return entry.reason


# --- scan: names -----------------------------------------------------------------------------


def test_suffixes_hidden_and_temporary_names(root):
    for name in ("a.ndjson", ".hidden.ndjson", "b.ndjson~", "c.ndjson.tmp", "d.ndjson.part", "e.ndjson.swp",
                 "f.ndjson.crdownload", "notes.txt", "g.json"):
        write_lines(root / "market" / name, ["{}"])
    write_lines(root / "market" / ".partial" / "h.ndjson", ["{}"])
    write_lines(root / "market" / "2024" / "06" / "i.ndjson", ["{}"])
    for name in ("x/a.json", "x/b.ndjson", "x/seen_articles.json", "x/.c.json", "x/d.json.part"):
        write_lines(root / "news" / name, ["{}"])

    market = scan(root, "market")
    assert sorted(market.files) == ["market/2024/06/i.ndjson", "market/a.ndjson"]
    assert market.skipped == [] and market.unsettled == []
    news = scan(root, "news")
    assert sorted(news.files) == ["news/x/a.json", "news/x/b.ndjson", "news/x/seen_articles.json"]
    assert is_non_article("news/x/seen_articles.json") and not is_non_article("news/x/a.json")

    f = market.files["market/a.ndjson"]
    st = (root / "market" / "a.ndjson").stat()
    assert (f.size, f.mtime_ns, f.abs_path) == (st.st_size, st.st_mtime_ns, root / "market" / "a.ndjson")
    assert f.fingerprint == (st.st_size, st.st_mtime_ns)


def test_missing_dataset_folder_and_unknown_dataset(tmp_path):
    assert scan(tmp_path / "nowhere", "market").files == {}
    with pytest.raises(ValueError, match="unknown dataset"):
        scan(tmp_path, "prices")


# --- scan: symlinks and special files ----------------------------------------------------------


def test_symlinked_file_inside_the_root_is_read_at_its_target(root):
    target = write_lines(root / "market" / "archive" / "real.ndjson", [v20(ny("2024-06-25 10:00"))])
    os.symlink("archive/real.ndjson", root / "market" / "alias.ndjson")
    os.symlink("../market/archive/real.ndjson", root / "news" / "odd.ndjson")  # into another dataset: still inside
    market = scan(root, "market")
    assert sorted(market.files) == ["market/alias.ndjson", "market/archive/real.ndjson"]
    assert market.files["market/alias.ndjson"].abs == str(target.resolve())
    assert scan(root, "news").files["news/odd.ndjson"].abs == str(target.resolve())


def test_symlink_out_of_the_root_is_skipped_never_opened(root, tmp_path, monkeypatch):
    outside = write_lines(tmp_path / "elsewhere" / "passwd", [f"user{i}:x:{i}:{i}::/home:/bin/sh" for i in range(31)])
    os.symlink(outside, root / "market" / "passwd.ndjson")
    os.symlink(outside, root / "market" / "ignored.txt")  # not a landing name: not even reported
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    result = scan(root, "market")
    assert result.files == {} and kinds(result) == {"market/passwd.ndjson": OUTSIDE_ROOT}
    assert reason(result, "market/passwd.ndjson") == (
        f"symlink to {outside.resolve()} resolves outside the landing root; not read"
    )
    assert not any(str(outside) in p for p in opened)


def test_symlink_loops_dangling_links_and_symlinked_folders(root):
    market = root / "market"
    os.symlink("loop.ndjson", market / "loop.ndjson")
    os.symlink("ping.ndjson", market / "pong.ndjson")
    os.symlink("pong.ndjson", market / "ping.ndjson")
    os.symlink("gone.ndjson", market / "dangling.ndjson")
    os.symlink("..", market / "up")  # a folder loop: never followed
    os.symlink("loop", market / "noise")  # not a landing name: ignored
    write_lines(market / "good.ndjson", ["{}"])
    result = scan(root, "market")
    assert sorted(result.files) == ["market/good.ndjson"]
    assert kinds(result) == {
        "market/dangling.ndjson": DANGLING_SYMLINK,
        "market/loop.ndjson": SYMLINK_LOOP,
        "market/ping.ndjson": SYMLINK_LOOP,
        "market/pong.ndjson": SYMLINK_LOOP,
        "market/up": SYMLINKED_DIRECTORY,
    }
    assert reason(result, "market/loop.ndjson") == "symlink loop: loop.ndjson -> loop.ndjson (Too many levels of symbolic links); not read"
    assert reason(result, "market/dangling.ndjson") == "dangling symlink: dangling.ndjson -> gone.ndjson (no such file); not read"
    assert "folders are not followed through symlinks" in reason(result, "market/up")
    assert result.skipped_by_kind() == {DANGLING_SYMLINK: 1, SYMLINK_LOOP: 3, SYMLINKED_DIRECTORY: 1}


def test_a_symlinked_dataset_folder_is_followed(tmp_path):
    data = tmp_path / "data" / "market"
    write_lines(data / "a.ndjson", ["{}"])
    write_lines(data / "sub" / "b.ndjson", ["{}"])
    os.symlink("sub/b.ndjson", data / "alias.ndjson")  # inside the resolved dataset folder
    root = tmp_path / "landing"
    root.mkdir()
    os.symlink(data, root / "market")
    result = scan(root, "market")
    assert sorted(result.files) == ["market/a.ndjson", "market/alias.ndjson", "market/sub/b.ndjson"]
    assert result.skipped == []


def test_fifo_is_not_a_file_and_is_never_opened(root):
    os.mkfifo(root / "market" / "pipe.ndjson")
    os.symlink("pipe.ndjson", root / "market" / "to_pipe.ndjson")
    result = scan(root, "market")
    assert kinds(result) == {"market/pipe.ndjson": NOT_A_REGULAR_FILE, "market/to_pipe.ndjson": NOT_A_REGULAR_FILE}
    assert "a FIFO" in reason(result, "market/pipe.ndjson")
    with pytest.raises(LandingReadError) as err:  # does not block waiting for a writer
        open_landed(root / "market" / "pipe.ndjson", "market/pipe.ndjson")
    assert err.value.kind == NOT_A_REGULAR_FILE


# --- scan: unreadable and vanishing entries -----------------------------------------------------


def test_unreadable_file_and_folder(root, monkeypatch):
    secret = write_lines(root / "market" / "secret.ndjson", ["{}"])
    write_lines(root / "market" / "locked" / "x.ndjson", ["{}"])
    write_lines(root / "market" / "ok.ndjson", ["{}"])
    real_access, real_scandir = os.access, os.scandir
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(secret) else real_access(p, mode, **k))

    def scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = scan(root, "market")
    assert sorted(result.files) == ["market/ok.ndjson"]
    assert kinds(result) == {"market/locked": UNREADABLE, "market/secret.ndjson": UNREADABLE}
    assert reason(result, "market/secret.ndjson") == "cannot read: Permission denied"
    assert reason(result, "market/locked") == "cannot list folder: Permission denied"
    assert [s.is_dir for s in sorted(result.skipped, key=lambda s: s.path)] == [True, False]


def test_file_vanishing_between_listing_and_stat(root, monkeypatch):
    write_lines(root / "market" / "a.ndjson", ["{}"])
    gone = write_lines(root / "market" / "b.ndjson", ["{}"])
    real_stat = os.stat

    def stat(path, *a, **k):
        if str(path) == str(gone):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "stat", stat)
    result = scan(root, "market")
    assert sorted(result.files) == ["market/a.ndjson"] and kinds(result) == {"market/b.ndjson": VANISHED}
    assert "vanished between listing and stat" in reason(result, "market/b.ndjson")


def test_unexpected_os_errors_are_skips_not_exceptions(root, monkeypatch):
    bad = write_lines(root / "market" / "io.ndjson", ["{}"])
    real_stat = os.stat

    def stat(path, *a, **k):
        if str(path) == str(bad):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "stat", stat)
    result = scan(root, "market")
    assert kinds(result) == {"market/io.ndjson": UNREADABLE}
    assert reason(result, "market/io.ndjson") == "cannot read: Input/output error"


# --- scan: settling ---------------------------------------------------------------------------


def test_recently_changed_files_are_unsettled(root):
    old = write_lines(root / "market" / "old.ndjson", ["{}"])
    fresh = write_lines(root / "market" / "fresh.ndjson", ["{}"])
    future = write_lines(root / "market" / "future.ndjson", ["{}"])
    now = time.time_ns()
    os.utime(old, ns=(now - 60 * 10**9, now - 60 * 10**9))
    os.utime(fresh, ns=(now - 2 * 10**9, now - 2 * 10**9))
    os.utime(future, ns=(now + 3600 * 10**9, now + 3600 * 10**9))  # clock skew beyond the settle time
    result = scan(root, "market", settle_seconds=10, now_ns=now)
    assert sorted(result.files) == ["market/future.ndjson", "market/old.ndjson"]
    assert [f.path for f in result.unsettled] == ["market/fresh.ndjson"]
    assert sorted(scan(root, "market", settle_seconds=0, now_ns=now).files) == [
        "market/fresh.ndjson", "market/future.ndjson", "market/old.ndjson"
    ]
    assert sorted(scan(root, "market", settle_seconds=1, now_ns=now).files) == sorted(
        scan(root, "market", settle_seconds=0, now_ns=now).files
    )


def test_settle_seconds_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FINSIG_LANDING_SETTLE_SECONDS", "2.5")
    assert landing_files.settle_seconds() == 2.5
    monkeypatch.delenv("FINSIG_LANDING_SETTLE_SECONDS")
    monkeypatch.setenv("FINSIG_HOME", "/nonexistent-finsig-home")
    assert landing_files.settle_seconds() == 3.0


# --- reading ----------------------------------------------------------------------------------


def test_content_sha256_and_read_errors(root):
    path = write_lines(root / "market" / "a.ndjson", ["{}", "[]"])
    landed = scan(root, "market").files["market/a.ndjson"]
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert content_sha256(landed) == content_sha256(path) == expected
    assert inspect_file(landed, "market").sha256 == expected
    path.unlink()
    with pytest.raises(LandingReadError) as err:
        content_sha256(landed)
    assert (err.value.path, err.value.kind) == ("market/a.ndjson", VANISHED)
    assert err.value.skipped().reason.startswith("vanished before it could be read")


def test_open_landed_does_not_follow_a_final_symlink(root):
    write_lines(root / "market" / "a.ndjson", ["{}"])
    os.symlink("a.ndjson", root / "market" / "b.ndjson")
    with pytest.raises(LandingReadError) as err:
        open_landed(root / "market" / "b.ndjson", "market/b.ndjson")
    assert err.value.kind == UNREADABLE and "became a symbolic link" in err.value.reason


def test_permission_denied_at_open_is_a_typed_error(root, monkeypatch):
    path = write_lines(root / "market" / "a.ndjson", ["{}"])
    real_open = os.open

    def deny(p, *a, **k):
        if str(p) == str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(LandingReadError) as err:
        sessions_touched(scan(root, "market").files["market/a.ndjson"], "market")
    assert (err.value.kind, err.value.reason) == (UNREADABLE, "cannot read: Permission denied")


# --- sessions_touched -------------------------------------------------------------------------


def test_market_sessions_follow_bronze_placement(root):
    path = write_lines(
        root / "market" / "m.ndjson",
        [
            v20(ny("2024-06-24 16:59")),  # 06-24
            v20(ny("2024-06-24 17:00")),  # evening: 06-25
            v20(ny("2024-06-29 12:00"), h=1.0, low=2.0),  # Saturday, rejected (high < low) but placed: 07-01
            v20(ny("2024-07-03 10:00"), complete=False),  # in progress, placed: 07-03
            flat("2024-07-05 10:00:00"),  # naive: unplaceable
            flat("2024-07-08 10:00:00+00:00"),  # an offset: 07-08
            flat("1999-06-01T10:00:00Z"),  # outside the calendar
            "{not json",
            "[1, 2]",
            "",
            json.dumps({"time": 12}),
            '{"time": "2024-07-09T14:00:00Z", "open": NaN}',  # only the stdlib reads it; placed (rejected)
        ],
    )
    assert sessions_touched(path, "market") == {D("2024-06-24"), D("2024-06-25"), D("2024-07-01"), D("2024-07-03"), D("2024-07-08"), D("2024-07-09")}


def test_bom_on_the_first_line_only(root):
    path = root / "market" / "bom.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + v20(ny("2024-06-25 10:00")).encode() + b"\r\n\xef\xbb\xbf" + v20(ny("2024-06-26 10:00")).encode() + b"\n")
    assert sessions_touched(path, "market") == {D("2024-06-25")}


def test_news_sessions(root):
    news = root / "news"
    write_lines(news / "a.json", [json.dumps(article(1, published_at="2024-06-29T09:00:00+00:00"))])  # Saturday
    write_lines(news / "naive.json", [json.dumps(article(2, published_at="2024-06-25T14:00:00"))])
    write_lines(news / "seen_articles.json", [json.dumps({"seen": [], "total_count": 0, "published_at": "2024-06-25T14:00:00Z"})])
    write_lines(news / "state.json", [json.dumps({"cursor": 3})])
    write_lines(news / "empty.json", [""])
    write_lines(
        news / "b.ndjson",
        [json.dumps(article(3, published_at="2024-06-25T14:00:00Z")), json.dumps(article(4, headline="", published_at="2024-06-26T14:00:00Z")), "oops", ""],
    )
    files = scan(root, "news").files
    got = {rel: sessions_touched(f, "news") for rel, f in files.items()}
    assert got == {
        "news/a.json": {D("2024-07-01")},
        "news/naive.json": set(),
        "news/seen_articles.json": set(),
        "news/state.json": set(),
        "news/empty.json": set(),
        "news/b.ndjson": {D("2024-06-25"), D("2024-06-26")},
    }


def test_sessions_touched_agrees_with_the_bronze_index(tmp_path):
    """For every file, the sessions the sensor would re-run are those bronze indexes."""
    from finsig_assets.bronze import market_candles, news_articles
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.warehouse import DuckDBWarehouse

    root = tmp_path / "landing"
    shutil.copytree(CORPUS / "market", root / "market")
    shutil.copytree(CORPUS / "news", root / "news")
    write_lines(
        root / "market" / "extra" / "days.ndjson",
        [v20(ny(f"2024-{md} {hm}")) for md in ("06-28", "06-29", "07-03", "07-04", "07-05") for hm in ("09:00", "16:59", "17:00")]
        + [flat("2024-07-02T10:00:00"), v20(ny("2024-07-01 10:00"), complete=False)],
    )
    write_lines(root / "news" / "extra" / "b.ndjson", [json.dumps(article(i, published_at=f"2024-07-0{i}T21:30:00Z")) for i in range(1, 6)])
    warehouse = DuckDBWarehouse(database=str(tmp_path / "w.duckdb"), lock_timeout_seconds=60)
    result = dg.materialize(
        [market_candles, news_articles],
        resources={"warehouse": warehouse, "landing": LandingZone(root=str(root))},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": "2024-06-24", "dagster/asset_partition_range_end": "2024-07-08"},
    )
    assert result.success
    indexed = warehouse.query("SELECT dataset, path, list(DISTINCT trade_date) AS days FROM meta.landing_file_days GROUP BY ALL")
    by_path = {(d, p): set(days) for d, p, days in indexed.iter_rows()}
    n = 0
    for dataset in ("market", "news"):
        for rel, f in scan(root, dataset).files.items():
            assert sessions_touched(f, dataset) == by_path.get((dataset, rel), set()), rel
            n += 1
    assert n > 40
    hashes = dict(warehouse.query("SELECT path, content_sha256 FROM meta.landing_files").iter_rows())
    for dataset in ("market", "news"):
        for rel, f in scan(root, dataset).files.items():
            assert hashes[rel] == content_sha256(f), rel


def test_a_large_market_file_is_inspected_quickly(root):
    day = D("2024-06-25")
    lines = [v20_line(ts, 5000.0, 5001.0, 4999.0, 5000.5, 3) for ts in session_minutes(day)] * 120  # ~166k lines
    path = root / "market" / "big.ndjson"
    path.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    contents = inspect_file(path, "market")
    elapsed = time.perf_counter() - started
    assert contents.sessions == {day} and contents.n_lines == len(lines)
    assert elapsed < 3.0, f"{elapsed:.2f}s for {len(lines):,} lines"  # ~0.2s; 1.7M lines take ~2s
