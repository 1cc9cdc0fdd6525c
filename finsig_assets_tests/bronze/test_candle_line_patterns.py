"""The canonical-line patterns against the per-line walk they stand in for.

The independent reference is ``walk_lines`` (orjson and Python's ``float``): on every line a
pattern matches, the values must be the ones the walk gives; lines a pattern must not vouch for
(anything JSON or the walk would read differently) must be left to the walk.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import polars as pl
import pytest

from finsig_assets.bronze.candle_line_patterns import MATCHED_SCHEMA, match_canonical
from finsig_assets.bronze.candle_records import CandleSettings, parse_candle_chunk, walk_lines
from finsig_assets.demo_data import write_demo_landing

SETTINGS = CandleSettings()
RAW = '{"complete": true, "volume": 12, "time": "2024-10-13T22:00:00.000000000Z", "mid": {"o": "5816.2", "h": "5816.8", "l": "5816.2", "c": "5816.8"}}'
FLAT = (
    '{"time": "2024-06-25T14:31:00Z", "instrument": "SPX500_USD", "granularity": "M1", "open": 5450.1, '
    '"high": 5450.9, "low": 5449.8, "close": 5450.4, "volume": 4, "collected_at": "2024-06-25T14:32:05Z"}'
)
VALUE_COLUMNS = [c for c in MATCHED_SCHEMA if c != "row"]


def _matched_and_walked(lines: list[bytes]) -> tuple[pl.DataFrame, pl.DataFrame]:
    matched = match_canonical(lines, SETTINGS.default_instrument, SETTINGS.instruments)
    walked = walk_lines(lines, list(range(len(lines))), SETTINGS, {0}).values
    return matched, walked


def _assert_same_values(matched: pl.DataFrame, walked: pl.DataFrame) -> None:
    reference = walked.filter(pl.col("row").is_in(matched["row"].to_list())).select(list(MATCHED_SCHEMA))
    assert reference.height == matched.height
    for column in VALUE_COLUMNS:
        left, right = matched[column].to_list(), reference[column].to_list()
        assert left == right, column


def test_both_shapes_match_as_the_walk_reads_them():
    lines = [(RAW + "\n").encode(), (FLAT + "\r\n").encode(), json.dumps(json.loads(RAW), separators=(",", ":")).encode()]
    matched, walked = _matched_and_walked(lines)
    assert matched["row"].to_list() == [0, 1, 2]
    _assert_same_values(matched, walked)
    assert matched.row(1, named=True)["collected_str"] == "2024-06-25T14:32:05Z"
    assert matched.row(0, named=True)["instrument"] == "SPX500_USD"


def test_every_demo_line_takes_the_pattern(tmp_path: Path):
    """The speed claim: what the demo generator writes (both shapes) never needs the walk."""
    write_demo_landing(tmp_path, first_session="2024-03-04", n_sessions=3, seed=5, articles_per_session=0, malformed=False)
    lines = [line for path in sorted(tmp_path.rglob("*.ndjson")) for line in path.read_bytes().splitlines(keepends=True)]
    matched, walked = _matched_and_walked(lines)
    assert len(lines) > 3000
    complete = walked.filter(~pl.col("incomplete"))
    assert matched.height == complete.height
    _assert_same_values(matched, walked)


@pytest.mark.parametrize(
    "line",
    [
        RAW.replace('"volume": 12', '"volume": 012'),  # leading zero: not JSON
        RAW.replace('"5816.2"', '"05816.2"', 1),  # a numeric string float() reads but the pattern does not vouch for
        RAW.replace('"5816.2"', '"5816.2 "', 1),
        RAW.replace('"5816.2"', '"1_000"', 1),
        RAW.replace('"5816.2"', '"inf"', 1),
        RAW.replace('"5816.2"', '"1e400"', 1),
        RAW.replace('"complete": true', '"complete": false'),
        RAW.replace("2024-10-13T22", "2024-10-13\\u0054" + "22"),  # an escape inside a string
        RAW.replace(", ", ",\u00a0", 1),  # not JSON whitespace
        RAW.replace(", ", ",\x0b", 1),
        RAW[:-1] + ', "volume": 13}',  # a duplicate key
        RAW.replace('"mid"', '"bid"'),
        "\ufeff" + RAW,
        FLAT.replace("SPX500_USD", "NAS100_USD"),  # another instrument: the walk names it
        FLAT.replace('"M1"', '"M5"'),
        FLAT.replace('"volume": 4', '"volume": 4.0'),
        FLAT.replace('"volume": 4', '"volume": 99999999999999999999'),
        FLAT.replace('"open": 5450.1', '"open": +5450.1'),
        FLAT.replace('"collected_at": "2024-06-25T14:32:05Z"', '"collected_at": null'),
        FLAT.replace('"time"', '"Time"'),
    ],
)
def test_lines_the_pattern_must_leave_to_the_walk(line):
    assert match_canonical([line.encode()], SETTINGS.default_instrument, SETTINGS.instruments).height == 0


def test_an_invalid_utf8_line_is_left_to_the_walk_and_the_rest_still_match():
    lines = [RAW.encode(), b'{"time": "\xff"}', FLAT.encode()]
    matched = match_canonical(lines, SETTINGS.default_instrument, SETTINGS.instruments)
    assert matched["row"].to_list() == [0, 2]
    chunk, _ = parse_candle_chunk(lines, 1, 0, SETTINGS)
    statuses = chunk.placed.sort("source_line")["status"].to_list() + chunk.unplaceable["kind"].to_list()
    assert statuses.count("ok") == 2 and len(statuses) == 3


def test_numbers_convert_as_python_float_does():
    """polars' string-to-float cast against Python's float (correctly rounded) on random decimals
    in every form the number pattern admits, both as JSON strings and as JSON numbers."""
    rng = random.Random(20261207)
    numbers = []
    for _ in range(3000):
        form = rng.randrange(4)
        if form == 0:
            text = f"{rng.uniform(0, 1e5):.{rng.randrange(0, 13)}f}"
        elif form == 1:
            text = repr(rng.uniform(0.001, 1e7))
        elif form == 2:
            text = f"{rng.randrange(1, 10**17)}.{rng.randrange(0, 10**19)}"
        else:
            text = f"{rng.randrange(1, 99)}e{rng.randrange(-40, 40)}"
        numbers.append(text)
    raw_lines = [RAW.replace('"o": "5816.2"', f'"o": "{n}"').encode() for n in numbers]
    flat_lines = [FLAT.replace('"open": 5450.1', f'"open": {n}').encode() for n in numbers]
    for lines in (raw_lines, flat_lines):
        matched, walked = _matched_and_walked(lines)
        assert matched.height == len(numbers)
        _assert_same_values(matched, walked)
        assert all(math.isfinite(v) for v in matched["open"])
        assert matched["open"].to_list() == [float(n) for n in numbers]
