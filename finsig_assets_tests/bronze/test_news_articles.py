"""bronze/news_articles end to end: files and batches, copies, windows, ranges, idempotency."""

from __future__ import annotations

import datetime as dt
import json

from finsig_assets.bronze import news_articles
from finsig_assets_tests.bronze.helpers import article, materialize, metadata, write_lines

D = dt.date.fromisoformat


def put_json(landing, rel: str, record) -> None:
    path = landing.news_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def rows(warehouse):
    return warehouse.query("SELECT * FROM bronze.news_articles ORDER BY source_file, source_line")


def test_files_batches_and_copies(warehouse, landing):
    a1 = article(1)
    put_json(landing, "2024-06-25/a1.json", a1)
    put_json(landing, "2024-06-26/a1.json", a1)  # the same article in another folder: kept
    put_json(landing, "2024-06-25/seen_articles.json", {"seen": [a1["article_id"]], "total_count": 1, "updated_at": "x"})
    write_lines(
        landing.news_dir / "batches" / "b.ndjson",
        [json.dumps(article(2)), json.dumps(article(3, body=None, content_fetched=False)), json.dumps(article(2))],
    )
    result = materialize([news_articles], warehouse, landing, partition="2024-06-25")
    assert result.success
    got = rows(warehouse)
    assert got.select("source_file", "source_line").rows() == [
        ("news/2024-06-25/a1.json", 1),
        ("news/2024-06-26/a1.json", 1),
        ("news/batches/b.ndjson", 1),
        ("news/batches/b.ndjson", 2),
    ]
    assert got["body"].to_list()[3] == "" and got["content_fetched"].to_list()[3] is False
    assert got["published_at"][0] == dt.datetime(2024, 6, 25, 14, 30, tzinfo=dt.timezone.utc)
    assert got["collected_at"][0] == dt.datetime(2024, 6, 25, 16, 0, tzinfo=dt.timezone.utc)
    assert got["language"][0] == "English" and got["sp500_relevant"][0] is True and got["source"][0] == "gdelt_example.com"
    meta = metadata(result, "news_articles")
    assert meta["non_article_files"] == 1 and meta["duplicate_lines"] == 1 and meta["distinct_articles"] == 3
    assert meta["rows_written"] == 4
    assert warehouse.query("SELECT count(*) AS n FROM bronze.quarantine")["n"][0] == 0


def test_published_at_decides_the_session(warehouse, landing):
    cases = {
        "a.json": ("2024-06-25T16:59:59-04:00", "2024-06-25"),
        "b.json": ("2024-06-25T17:00:00-04:00", "2024-06-26"),
        "c.json": ("2024-06-29T09:00:00+00:00", "2024-07-01"),  # Saturday
        "d.json": ("2024-07-04T15:00:00+00:00", "2024-07-05"),  # Independence Day
        "e.json": ("2024-06-24T21:00:00Z", "2024-06-25"),  # exactly 17:00 NY: next session
    }
    for i, (name, (published, _)) in enumerate(cases.items()):
        put_json(landing, f"d/{name}", article(i, published_at=published))
    materialize([news_articles], warehouse, landing, first="2024-06-24", last="2024-07-05")
    got = dict(rows(warehouse).select("source_file", "trade_date").iter_rows())
    assert got == {f"news/d/{name}": D(day) for name, (_, day) in cases.items()}


def test_ids_are_lowercased_and_range_rerun_is_idempotent(warehouse, landing):
    put_json(landing, "x/up.json", article(1, article_id="ABCDEF0123456789ABCDEF0123456789"))
    put_json(landing, "x/next.json", article(2, published_at="2024-06-26T14:00:00+00:00"))
    materialize([news_articles], warehouse, landing, first="2024-06-25", last="2024-06-26")
    first = rows(warehouse)
    assert first["article_id"].to_list()[1] == "abcdef0123456789abcdef0123456789"
    materialize([news_articles], warehouse, landing, first="2024-06-25", last="2024-06-26")
    second = rows(warehouse)
    assert first.drop("ingested_at").equals(second.drop("ingested_at"))


def test_batch_slice_reading_keeps_line_numbers(warehouse, landing):
    lines = [json.dumps(article(i, published_at=f"2024-06-{d}T14:{i:02d}:00+00:00")) for d in (24, 25, 26) for i in range(5)]
    write_lines(landing.news_dir / "big.ndjson", lines)
    materialize([news_articles], warehouse, landing, first="2024-06-24", last="2024-06-26")
    meta = metadata(materialize([news_articles], warehouse, landing, partition="2024-06-25"), "news_articles")
    assert meta["files_indexed"] == 0 and meta["lines_read"] == 5
    got = warehouse.query("SELECT source_line FROM bronze.news_articles WHERE trade_date = ? ORDER BY 1", [D("2024-06-25")])
    assert got["source_line"].to_list() == [6, 7, 8, 9, 10]
