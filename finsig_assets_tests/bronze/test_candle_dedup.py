"""The duplicate rule, on frames: identical copies collapse, conflicting ones follow the order."""

from __future__ import annotations

import datetime as dt

import polars as pl

from finsig_assets.bronze.candle_dedup import dedup_candles

UTC = dt.timezone.utc
T = dt.datetime(2024, 6, 25, 14, 31, tzinfo=UTC)
SEEN = dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)  # when the landing index first saw the file


def frame(rows: list[dict]) -> pl.DataFrame:
    base = {
        "instrument": "SPX500_USD",
        "ts": T,
        "trade_date": dt.date(2024, 6, 25),
        "open": 1.0,
        "high": 2.0,
        "low": 0.5,
        "close": 1.5,
        "volume": 3,
        "collected_at": None,
        "source_file": "market/a.ndjson",
        "source_line": 1,
        "file_first_seen_at": SEEN,
        "byte_start": 0,
        "byte_end": 10,
    }
    return pl.DataFrame(
        [base | r for r in rows],
        schema={
            "instrument": pl.String,
            "ts": pl.Datetime("us", "UTC"),
            "trade_date": pl.Date,
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Int64,
            "collected_at": pl.Datetime("us", "UTC"),
            "source_file": pl.String,
            "source_line": pl.Int64,
            "file_first_seen_at": pl.Datetime("us", "UTC"),
            "byte_start": pl.Int64,
            "byte_end": pl.Int64,
        },
    )


def test_no_duplicates_is_a_no_op():
    f = frame([{}, {"ts": T + dt.timedelta(minutes=1), "source_line": 2}, {"instrument": "NAS100_USD"}])
    out = dedup_candles(f)
    assert out.kept.height == 3 and out.losers.height == 0
    assert (out.identical_duplicates, out.conflicting_duplicates) == (0, 0)


def test_identical_copies_keep_one_by_the_same_order():
    f = frame([{"source_file": "market/a.ndjson"}, {"source_file": "market/b.ndjson"}, {"source_file": "market/b.ndjson", "source_line": 7}])
    out = dedup_candles(f)
    assert out.kept.select("source_file", "source_line").rows() == [("market/b.ndjson", 7)]
    assert (out.identical_duplicates, out.conflicting_duplicates) == (2, 0)


def test_collected_at_beats_landing_order_beats_position():
    later = T + dt.timedelta(hours=1)
    f = frame(
        [
            {"close": 1.1, "collected_at": T, "file_first_seen_at": SEEN + dt.timedelta(days=9), "source_file": "market/z.ndjson"},
            {"close": 1.2, "collected_at": later, "file_first_seen_at": SEEN},
            {"close": 1.3, "collected_at": None, "file_first_seen_at": SEEN + dt.timedelta(days=30)},
        ]
    )
    out = dedup_candles(f)
    assert out.kept["close"].to_list() == [1.2]
    assert out.conflicting_duplicates == 2
    reasons = sorted(out.losers["reason"].to_list())
    assert all("superseded by market/a.ndjson:1 (later collected_at;" in r for r in reasons)
    assert any("close 1.1 vs kept 1.2" in r for r in reasons) and any("close 1.3 vs kept 1.2" in r for r in reasons)
    # Without a landing root the raw column holds the losing values as JSON.
    assert all('"instrument":"SPX500_USD"' in raw for raw in out.losers["raw"].to_list())


def test_mixed_identical_and_conflicting():
    f = frame([{"source_line": 1}, {"source_line": 2}, {"source_line": 3, "volume": 4}])
    out = dedup_candles(f)
    assert out.kept["source_line"].to_list() == [3]  # later line wins among files first seen together
    assert (out.identical_duplicates, out.conflicting_duplicates) == (0, 2)
    assert out.losers["source_line"].to_list() == [2, 1]
    assert all("volume 3 vs kept 4" in r for r in out.losers["reason"].to_list())


def test_the_copy_that_landed_later_wins_whatever_the_names():
    """A refetch corrects an earlier download: the file the index saw later wins, even when its
    name sorts first; the reason says so."""
    f = frame(
        [
            {"close": 1.1, "source_file": "market/z_original.ndjson", "file_first_seen_at": SEEN},
            {"close": 1.2, "source_file": "market/a_refetch.ndjson", "file_first_seen_at": SEEN + dt.timedelta(hours=2)},
        ]
    )
    out = dedup_candles(f)
    assert out.kept["source_file"].to_list() == ["market/a_refetch.ndjson"]
    (reason,) = out.losers["reason"].to_list()
    assert reason == (
        "conflicting duplicate of SPX500_USD 2024-06-25T14:31Z: superseded by market/a_refetch.ndjson:1 "
        "(landed later; close 1.1 vs kept 1.2)"
    )
