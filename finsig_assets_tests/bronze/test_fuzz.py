"""No input line can crash a run: mutated bytes either parse or become a quarantine row."""

from __future__ import annotations

import json
import random

import duckdb

from finsig_assets.bronze.article_records import parse_article_bytes
from finsig_assets.bronze.candle_records import CandleSettings, parse_candle_chunk
from finsig_assets_tests.bronze.helpers import article, flat, v20

TOKENS = [b"\x00", b"\xff", b"\\ud800", b"\\u0000", b"NaN", b"-", b'"', b"{", b"]", b"1e999", b"\r", b" ", b"true", b"null", b"\xe2\x82"]


def mutate(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data) + 1)
        action = rng.random()
        if action < 0.4:
            data[i:i] = rng.choice(TOKENS)
        elif action < 0.7 and data:
            del data[i : i + rng.randint(1, 4)]
        elif data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
    return bytes(data).replace(b"\n", b" ")


def storable(frame) -> None:
    """Every string in the frame can be written to DuckDB."""
    conn = duckdb.connect()
    conn.register("f", frame)
    conn.execute("CREATE TABLE t AS SELECT * FROM f")
    conn.close()


def test_mutated_candles_never_crash():
    rng = random.Random(20240625)
    seeds = [v20("2024-06-25T14:31:00Z").encode(), flat("2024-06-25T14:32:00Z", collected_at="2024-06-25T14:33:00Z").encode()]
    lines = [mutate(rng, rng.choice(seeds)) + b"\n" for _ in range(3000)]
    chunk, days = parse_candle_chunk(lines, 1, 0, CandleSettings())
    blank = chunk.stats.blank_lines
    assert chunk.placed.height + chunk.unplaceable.height + blank == len(lines)
    assert chunk.placed.filter(chunk.placed["status"] == "rejected")["reason"].null_count() == 0
    storable(chunk.placed)
    storable(chunk.unplaceable)
    storable(days)


def test_mutated_articles_never_crash():
    rng = random.Random(7)
    seed = json.dumps(article(1)).encode()
    lines = [mutate(rng, seed) for _ in range(1500)]
    batch = parse_article_bytes(b"\n".join(lines) + b"\n", batch=True)
    counted = batch.placed.height + batch.unplaceable.height
    stats = batch.stats
    assert counted + stats.blank_lines + stats.duplicate_lines + stats.non_article_lines == len(lines)
    storable(batch.placed)
    storable(batch.unplaceable)
    for line in lines[:100]:
        single = parse_article_bytes(line, batch=False)
        assert single.placed.height + single.unplaceable.height + int(single.non_article) == 1
        storable(single.placed)
