"""Writes the bad-input corpus under ``corpus/`` and its ``manifest.json`` (run once; files are kept).

    .venv/bin/python -m finsig_assets_tests.bronze.make_corpus

Every corpus file holds good records around one bad one, all in the 2024-06-25 partition
(window 2024-06-24T21:00Z .. 2024-06-25T21:00Z), each file on its own minutes so identical-candle
collapsing across files never hides a record. The manifest lists, per file, the bad record's
line, its rejection kind, a phrase its reason must contain, whether it can be placed (has a
usable timestamp), and the good lines that must land.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from finsig_assets.demo_data.candle_lines import candle_record, time_text

CORPUS = Path(__file__).parent / "corpus"
ARTICLE_ID = "{:032x}"


# The corpus minutes: 2024-06-25 13:00Z + minute.
_FIRST_MINUTE = int(dt.datetime(2024, 6, 25, 13, tzinfo=dt.timezone.utc).timestamp()) // 60


def _t(minute: int) -> str:
    return time_text(_FIRST_MINUTE + minute, "flat")


def _flat(minute: int, **over) -> str:
    rec = candle_record(
        "flat", _FIRST_MINUTE + minute, 54501, 54509, 54498, 54504, 7, collected_at="2024-06-25T20:00:00Z"
    )
    rec.update(over)
    return json.dumps({k: v for k, v in rec.items() if v is not _DROP})


def _v20(minute: int, mid=None, **over) -> str:
    rec = candle_record("v20", _FIRST_MINUTE + minute, 58162, 58168, 58162, 58168, 12)
    if mid is not None:
        rec["mid"] = mid
    rec.update(over)
    return json.dumps({k: v for k, v in rec.items() if v is not _DROP})


_DROP = object()

# (file stem, bad line text (str or bytes), kind, reason phrase, placed)
MARKET_CASES = [
    ("invalid_json", '{"time": "2024-06-25T13:00:00Z", "open": 5450.1, "high": 5450.9,', "invalid_json", "invalid JSON", False),
    ("not_object", "[5450.1, 5450.9, 5449.8, 5450.4]", "not_object", "not a JSON object (got array", False),
    ("unknown_shape", '{"timestamp": "2024-06-25T13:00:00Z", "price": 5450.1}', "unknown_shape", "unknown candle shape", False),
    ("bid_ask_only", None, "unknown_shape", "without 'mid' prices", True),
    ("missing_close", None, "missing_field", "missing required field 'close'", True),
    ("missing_mid_h", None, "missing_field", "missing required field 'mid.h'", True),
    ("open_wrong_type", None, "wrong_type", "open must be a number or numeric string, got boolean", True),
    ("mid_not_object", None, "wrong_type", "mid must be an object", True),
    ("price_not_numeric", None, "not_numeric", "mid.o 'abc' is not a number", True),
    ("price_nan_literal", None, "non_finite", "high NaN is not finite", True),
    ("price_infinity_string", None, "non_finite", "close inf is not finite", True),
    ("price_zero", None, "non_positive", "low 0.0 is not positive", True),
    ("price_negative", None, "non_positive", "open -5450.1 is not positive", True),
    ("high_below_low", None, "high_below_low", "high 5816.1 < low 5816.5", True),
    ("open_outside", None, "open_outside_range", "open 5451.5 outside [low 5449.8, high 5450.9]", True),
    ("close_outside", None, "close_outside_range", "close 5449.0 outside [low 5449.8, high 5450.9]", True),
    ("volume_negative", None, "negative_volume", "volume -3 is negative", True),
    ("volume_fraction", None, "non_integer_volume", "volume 2.5 is not an integer", True),
    ("volume_string", None, "wrong_type", "volume must be an integer, got string '12'", True),
    ("volume_huge", None, "volume_out_of_range", "64-bit", True),
    ("time_unparsable", None, "unparsable_time", "time 'last tuesday' is not an ISO 8601 timestamp", False),
    ("time_off_minute", None, "off_minute_time", "is not on a minute boundary", True),
    ("time_naive", None, "naive_time", "has no time zone", False),
    ("time_number", None, "wrong_type", "time must be a string, got number", False),
    ("time_missing", None, "missing_field", "missing required field 'time'", False),
    ("time_outside_calendar", None, "outside_calendar", "outside the XNYS calendar", False),
    ("instrument_mismatch", None, "instrument_mismatch", "instrument 'EUR_USD' is not an accepted instrument", True),
    ("granularity_m5", None, "granularity_not_m1", "granularity 'M5' is not M1", True),
    ("complete_not_bool", None, "wrong_type", "complete must be true or false", True),
    ("collected_at_bad", None, "unparsable_collected_at", "collected_at 'soon' is not an ISO 8601 timestamp", True),
    ("not_utf8_line", None, "not_utf8", "not valid UTF-8: byte 0xff", False),
    ("nul_in_instrument", None, "instrument_mismatch", "\\x00", True),
]


def _market_bad(stem: str, minute: int) -> str | bytes:
    m = minute
    return {
        "bid_ask_only": lambda: json.dumps({"complete": True, "volume": 3, "time": _t(m), "bid": {"o": "1", "h": "1", "l": "1", "c": "1"}}),
        "missing_close": lambda: _flat(m, close=_DROP),
        "missing_mid_h": lambda: _v20(m, mid={"o": "5816.2", "l": "5816.2", "c": "5816.8"}),
        "open_wrong_type": lambda: _flat(m, open=True),
        "mid_not_object": lambda: _v20(m, mid=["5816.2"]),
        "price_not_numeric": lambda: _v20(m, mid={"o": "abc", "h": "5816.8", "l": "5816.2", "c": "5816.8"}),
        "price_nan_literal": lambda: _flat(m).replace('"high": 5450.9', '"high": NaN'),
        "price_infinity_string": lambda: _v20(m, mid={"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "Infinity"}),
        "price_zero": lambda: _flat(m, low=0),
        "price_negative": lambda: _flat(m, open=-5450.1),
        "high_below_low": lambda: _v20(m, mid={"o": "5816.2", "h": "5816.1", "l": "5816.5", "c": "5816.3"}),
        "open_outside": lambda: _flat(m, open=5451.5),
        "close_outside": lambda: _flat(m, close=5449.0),
        "volume_negative": lambda: _flat(m, volume=-3),
        "volume_fraction": lambda: _flat(m, volume=2.5),
        "volume_string": lambda: _v20(m, volume="12"),
        "volume_huge": lambda: _flat(m, volume=18446744073709551615),
        "time_unparsable": lambda: _flat(m, time="last tuesday"),
        "time_off_minute": lambda: _flat(m, time=_t(m).replace(":00Z", ":30Z")),
        "time_naive": lambda: _flat(m, time=_t(m).rstrip("Z")),
        "time_number": lambda: _flat(m, time=1719320400),
        "time_missing": lambda: _flat(m, time=_DROP),
        "time_outside_calendar": lambda: _flat(m, time="1999-06-25T13:00:00Z"),
        "instrument_mismatch": lambda: _flat(m, instrument="EUR_USD"),
        "granularity_m5": lambda: _flat(m, granularity="M5"),
        "complete_not_bool": lambda: _v20(m, complete="yes"),
        "collected_at_bad": lambda: _flat(m, collected_at="soon"),
        "not_utf8_line": lambda: _flat(m).encode().replace(b"SPX500_USD", b"SPX500_\xff"),
        "nul_in_instrument": lambda: _flat(m, instrument="SPX500\u0000USD"),
    }[stem]()


def _article(n: int, **over) -> dict:
    rec = {
        "article_id": ARTICLE_ID.format(0xA000 + n),
        "headline": f"S&P 500 closes higher as tech rallies ({n})",
        "body": "Stocks rose on Tuesday as investors bought technology shares.",
        "url": f"https://www.fool.com/investing/2024/06/25/article-{n}/",
        "source": "gdelt_fool.com",
        "published_at": "2024-06-25T14:30:00+00:00",
        "collected_at": "2024-06-25T16:02:11+00:00",
        "sp500_relevant": True,
        "collection_method": "gdelt",
        "language": "English",
        "content_fetched": True,
    }
    rec.update(over)
    return {k: v for k, v in rec.items() if v is not _DROP}


# (file name, bytes, kind, phrase, placed)  -- single-article .json files
def _news_json_cases() -> list[tuple[str, bytes, str, str, bool]]:
    dumps = lambda d: json.dumps(d).encode()  # noqa: E731
    return [
        ("invalid_json.json", b'{"article_id": "' + ARTICLE_ID.format(1).encode() + b'", "headline": "Cut off', "invalid_json", "invalid JSON", False),
        ("array.json", dumps([_article(2)]), "not_object", "not a JSON object (got array", False),
        ("missing_headline.json", dumps(_article(3, headline=_DROP)), "missing_field", "missing required field 'headline'", True),
        ("missing_published_at.json", dumps(_article(4, published_at=_DROP)), "missing_field", "missing required field 'published_at'", False),
        ("published_unparsable.json", dumps(_article(5, published_at="June 25th, 2024")), "unparsable_time", "published_at 'June 25th, 2024' is not an ISO 8601 timestamp", False),
        ("published_naive.json", dumps(_article(6, published_at="2024-06-25T14:30:00")), "naive_time", "published_at '2024-06-25T14:30:00' has no time zone", False),
        ("headline_empty.json", dumps(_article(7, headline="   ")), "empty_headline", "headline is empty", True),
        ("body_number.json", dumps(_article(8, body=42)), "wrong_type", "body must be a string, got number 42", True),
        ("body_nul.json", dumps(_article(9, body="binary\u0000junk")), "invalid_text", "body is not valid text: it contains a NUL character", True),
        ("body_surrogate.json", dumps(_article(10)).replace(b"investors", b"invest\\ud800ors"), "invalid_text", "body is not valid text: it contains an unpaired surrogate U+D800", True),
        ("body_control.json", dumps(_article(11, body="\u0001\u0002\u0003\u0004\u0005\u0006 ok \u0007\u0008\u000b\u000c")), "invalid_text", "control/replacement characters", True),
        ("bad_article_id.json", dumps(_article(12, article_id="not-an-md5")), "bad_article_id", "article_id 'not-an-md5' is not 32 hexadecimal characters", True),
        ("language_number.json", dumps(_article(13, language=7)), "bad_language", "language must be a string", True),
        ("not_utf8.json", json.dumps(_article(14, headline="Caf\u00e9 stocks"), ensure_ascii=False).encode().replace("Café".encode(), "Café".encode("latin-1")), "not_utf8", "file is not valid UTF-8: byte 0xe9", False),
        ("empty.json", b"", "empty_file", "empty file", False),
        ("relevant_string.json", dumps(_article(15, sp500_relevant="yes")), "wrong_type", "sp500_relevant must be true or false", True),
        ("article_id_number.json", dumps(_article(16, article_id=12345)), "wrong_type", "article_id must be a string", True),
        ("published_outside_calendar.json", dumps(_article(17, published_at="1990-01-02T10:00:00+00:00")), "outside_calendar", "outside the XNYS calendar", False),
    ]


def build() -> dict:
    if CORPUS.exists():
        for p in sorted(CORPUS.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    manifest: dict = {"partition": "2024-06-25", "cases": [], "good": {}}

    # Market: good, bad, good (+ a blank line) per file; each file on its own 3 minutes.
    for i, (stem, bad, kind, phrase, placed) in enumerate(MARKET_CASES):
        minute = 3 * i
        bad = bad if bad is not None else _market_bad(stem, minute + 1)
        bad = bad.encode() if isinstance(bad, str) else bad
        rel = f"market/corpus/{stem}.ndjson"
        path = CORPUS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        good1 = _v20(minute).encode() if i % 2 else _flat(minute).encode()
        good2 = _flat(minute + 2).encode()
        path.write_bytes(good1 + b"\n" + bad + b"\n\n" + good2 + b"\n")
        manifest["cases"].append({"dataset": "market", "file": rel, "line": 2, "kind": kind, "phrase": phrase, "placed": placed})
        manifest["good"][rel] = [1, 4]
    # An empty candle file.
    empty = CORPUS / "market/corpus/empty.ndjson"
    empty.write_bytes(b"")
    manifest["cases"].append(
        {"dataset": "market", "file": "market/corpus/empty.ndjson", "line": 1, "kind": "empty_file", "phrase": "empty file", "placed": False}
    )

    # News: single-article files, each beside a good copy in the same folder.
    for j, (name, data, kind, phrase, placed) in enumerate(_news_json_cases()):
        folder = f"news/corpus/{name.removesuffix('.json')}"
        (CORPUS / folder).mkdir(parents=True, exist_ok=True)
        (CORPUS / folder / name).write_bytes(data)
        good = _article(100 + j)
        good_name = f"{good['article_id']}.json"
        (CORPUS / folder / good_name).write_bytes(json.dumps(good).encode())
        manifest["cases"].append({"dataset": "news", "file": f"{folder}/{name}", "line": 1, "kind": kind, "phrase": phrase, "placed": placed})
        manifest["good"][f"{folder}/{good_name}"] = [1]

    # News batch: good, bad, good, exact duplicate of line 1, bad (naive time), good.
    batch_lines = [
        json.dumps(_article(200)),
        json.dumps(_article(201, headline="")),
        json.dumps(_article(202)),
        json.dumps(_article(200)),
        json.dumps(_article(203, published_at="2024-06-25 14:30")),
        json.dumps(_article(204, published_at="2024-06-25T10:30:00-04:00")),
    ]
    rel = "news/corpus/batch/2024-06-25.ndjson"
    (CORPUS / rel).parent.mkdir(parents=True, exist_ok=True)
    (CORPUS / rel).write_text("\n".join(batch_lines) + "\n")
    manifest["cases"].append({"dataset": "news", "file": rel, "line": 2, "kind": "empty_headline", "phrase": "headline is empty", "placed": True})
    manifest["cases"].append({"dataset": "news", "file": rel, "line": 5, "kind": "naive_time", "phrase": "has no time zone", "placed": False})
    manifest["good"][rel] = [1, 3, 6]
    # Not articles: skipped and counted, never quarantined.
    (CORPUS / "news/corpus/batch/seen_articles.json").write_text(json.dumps({"seen": ["a", "b"], "total_count": 2, "updated_at": "2024-06-25T16:00:00+00:00"}))
    (CORPUS / "news/corpus/batch/collector_state.json").write_text(json.dumps({"cursor": 17, "total_count": 3}))
    manifest["non_article_files"] = ["news/corpus/batch/seen_articles.json", "news/corpus/batch/collector_state.json"]

    (CORPUS / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


if __name__ == "__main__":
    m = build()
    print(f"{len(m['cases'])} bad records in {len({c['file'] for c in m['cases']})} files; {len(m['good'])} files with good records")
