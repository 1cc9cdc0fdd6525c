"""Parsing one candle line: both shapes, every rejection kind, and the fast and slow paths agreeing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from finsig_assets.bronze.candle_records import CandleSettings, parse_candle_chunk, parse_candle_line

UTC = dt.timezone.utc
RAW = b'{"complete": true, "volume": 12, "time": "2024-10-13T22:00:00.000000000Z", "mid": {"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "5816.8"}}'
FLAT = (
    b'{"time": "2024-06-25T14:31:00Z", "instrument": "SPX500_USD", "granularity": "M1", "open": 5450.1, '
    b'"high": 5450.9, "low": 5449.8, "close": 5450.4, "volume": 4, "collected_at": "2024-06-25T14:32:05Z"}'
)


def test_raw_v20_shape():
    r = parse_candle_line(RAW)
    assert r.status == "ok" and r.kind is None
    assert r.trade_date == dt.date(2024, 10, 14)  # Sunday evening bar -> Monday's session
    assert r.values == {
        "instrument": "SPX500_USD",
        "ts": dt.datetime(2024, 10, 13, 22, 0, tzinfo=UTC),
        "open": 5816.2,
        "high": 5816.8,
        "low": 5816.2,
        "close": 5816.8,
        "volume": 12,
        "collected_at": None,
    }


def test_flattened_shape():
    r = parse_candle_line(FLAT)
    assert r.status == "ok" and r.trade_date == dt.date(2024, 6, 25)
    assert r.values["collected_at"] == dt.datetime(2024, 6, 25, 14, 32, 5, tzinfo=UTC)
    assert (r.values["open"], r.values["close"], r.values["volume"]) == (5450.1, 5450.4, 4)


@pytest.mark.parametrize(
    "variant",
    [
        # Same candle, spelled so each takes a different path through the parser.
        {"complete": True, "volume": 12, "time": "2024-10-13T22:00:00Z", "mid": {"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "5816.8"}},
        {"time": "2024-10-13T22:00:00Z", "volume": 12, "mid": {"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "5816.8"}, "instrument": "SPX500_USD"},
        {"time": "2024-10-13T22:00:00Z", "volume": 12.0, "mid": {"o": 5816.2, "h": "5816.8", "l": 5816.2, "c": "5816.8"}},
        {"time": "2024-10-13T22:00:00+00:00", "open": "5816.2", "high": 5816.8, "low": 5816.2, "close": 5816.8, "volume": 12},
        {"time": "2024-10-13 18:00:00-04:00", "open": 5816.2, "high": 5816.8, "low": 5816.2, "close": 5816.8, "volume": 12, "granularity": "M1"},
    ],
)
def test_every_path_gives_the_same_values(variant):
    expected = parse_candle_line(RAW).values
    r = parse_candle_line(json.dumps(variant))
    assert r.status == "ok", r.reason
    assert r.values == expected


@pytest.mark.parametrize(
    "line, status, kind, reason",
    [
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 1', "unplaceable", "invalid_json", "invalid JSON"),
        ("42", "unplaceable", "not_object", "not a JSON object (got number 42)"),
        ('{"time": "2024-06-25T14:31:00Z"}', "rejected", "unknown_shape", "unknown candle shape"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 2, "high": 2, "low": 1}', "rejected", "missing_field", "missing required fields 'close', 'volume'"),
        ('{"time": "2024-06-25T14:31:00Z", "open": [2], "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "wrong_type", "open must be a number or numeric string, got array [2]"),
        ('{"time": "2024-06-25T14:31:00Z", "open": null, "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "wrong_type", "got null"),
        ('{"time": "2024-06-25T14:31:00Z", "open": "1,5", "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "not_numeric", "open '1,5' is not a number"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1e999, "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "non_finite", "open inf is not finite"),
        ('{"time": "2024-06-25T14:31:00Z", "open": -Infinity, "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "non_finite", "open -inf is not finite"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": -1, "close": 1, "volume": 1}', "rejected", "non_positive", "low -1.0 is not positive"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1.5, "high": 1, "low": 2, "close": 1.5, "volume": 1}', "rejected", "high_below_low", "high 1.0 < low 2.0"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 3, "high": 2, "low": 1, "close": 1.5, "volume": 1}', "rejected", "open_outside_range", "open 3.0 outside [low 1.0, high 2.0]"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 0.5, "volume": 1}', "rejected", "close_outside_range", "close 0.5 outside [low 1.0, high 2.0]"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": -1}', "rejected", "negative_volume", "volume -1 is negative"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1.5}', "rejected", "non_integer_volume", "volume 1.5 is not an integer"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": true}', "rejected", "wrong_type", "volume must be an integer, got boolean true"),
        ('{"time": "2024-06-25T14:31:07Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "rejected", "off_minute_time", "is not on a minute boundary"),
        ('{"time": "2024-06-25T14:31:00", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "naive_time", "has no time zone"),
        ('{"time": "2024-13-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "unparsable_time", "is not an ISO 8601 timestamp"),
        ('{"time": "2024-06-25T14:31:60Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "unparsable_time", "is not an ISO 8601 timestamp"),
        ('{"time": 1719325860, "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "wrong_type", "time must be a string"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1, "instrument": "EUR_USD"}', "rejected", "instrument_mismatch", "instrument 'EUR_USD' is not an accepted instrument"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1, "granularity": "H1"}', "rejected", "granularity_not_m1", "granularity 'H1' is not M1"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1, "collected_at": 5}', "rejected", "wrong_type", "collected_at must be a string"),
        ('{"time": "2024-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1, "collected_at": "2024-06-25T14:32:00"}', "rejected", "unparsable_collected_at", "collected_at '2024-06-25T14:32:00' has no time zone"),
        ('{"time": "2024-06-25T14:31:00Z", "mid": {"o": "1", "h": "2", "l": "1", "c": "1"}, "volume": 1, "note": "\\udc00"}', "rejected", "invalid_text", "note holds an unpaired surrogate"),
        ('{"time": "2024-06-25T14:31:00Z\\udc00", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "invalid_text", "time holds an unpaired surrogate"),
        ('{"complete": false, "time": "\\ud800"}', "unplaceable", "invalid_text", "time holds an unpaired surrogate"),
        ('{"time": "2199-06-25T14:31:00Z", "open": 1, "high": 2, "low": 1, "close": 1, "volume": 1}', "unplaceable", "outside_calendar", "outside the XNYS calendar"),
    ],
)
def test_rejections(line, status, kind, reason):
    r = parse_candle_line(line)
    assert (r.status, r.kind) == (status, kind), r.reason
    assert reason in r.reason


def test_incomplete_and_blank():
    r = parse_candle_line(RAW.replace(b"true", b"false"))
    assert r.status == "incomplete" and r.reason is None and r.trade_date == dt.date(2024, 10, 14)
    # Broken prices do not matter for a candle in progress.
    assert parse_candle_line(b'{"complete": false, "time": "2024-10-13T22:00:00Z", "mid": {"o": "x"}}').status == "incomplete"
    assert parse_candle_line(b"  \r\n").status == "blank"


def test_unplaceable_reason_mentions_other_problems_too():
    r = parse_candle_line('{"time": "soon", "open": "x", "high": 2, "low": 1, "close": 1, "volume": 1}')
    assert r.status == "unplaceable" and r.kind == "unparsable_time"
    assert r.reason == "time 'soon' is not an ISO 8601 timestamp; also: open 'x' is not a number"


def test_chunk_line_numbers_offsets_and_days():
    lines = [RAW + b"\n", b"\n", b"not json\n", FLAT + b"\r\n"]
    chunk, days = parse_candle_chunk(lines, first_line=10, first_offset=100, settings=CandleSettings())
    assert chunk.placed["source_line"].to_list() == [10, 13]
    assert chunk.placed["byte_start"].to_list() == [100, 100 + len(lines[0]) + 1 + len(lines[2])]
    assert chunk.placed["byte_end"].to_list() == [100 + len(lines[0]), 100 + sum(map(len, lines))]
    assert chunk.unplaceable["source_line"].to_list() == [12] and chunk.unplaceable["raw"].to_list() == ["not json"]
    assert chunk.stats.lines == 4 and chunk.stats.blank_lines == 1
    assert sorted(days["trade_date"].to_list()) == [dt.date(2024, 6, 25), dt.date(2024, 10, 14)]
    kept, _ = parse_candle_chunk(lines, 10, 100, CandleSettings(), keep=(dt.date(2024, 6, 25), dt.date(2024, 6, 25)))
    assert kept.placed["source_line"].to_list() == [13]


def test_bulk_and_single_line_agree_on_the_corpus():
    """Each corpus line parsed alone gives the same verdict as inside its file's chunk."""
    corpus = Path(__file__).parent / "corpus" / "market" / "corpus"
    for path in sorted(corpus.glob("*.ndjson")):
        lines = path.read_bytes().splitlines(keepends=True)
        if not lines:
            continue
        chunk, _ = parse_candle_chunk(lines, 1, 0, CandleSettings())
        bulk = {row["source_line"]: (row["status"], row["reason"]) for row in chunk.placed.iter_rows(named=True)}
        bulk |= {row["source_line"]: ("unplaceable", row["reason"]) for row in chunk.unplaceable.iter_rows(named=True)}
        for number, line in enumerate(lines, 1):
            single = parse_candle_line(line)
            if single.status == "blank":
                assert number not in bulk
                continue
            assert bulk[number] == (single.status, single.reason), (path.name, number)
