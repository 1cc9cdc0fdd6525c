"""bronze/news_articles end to end: files and batches, copies, windows, ranges, idempotency."""

from __future__ import annotations

import datetime as dt
import json

from finsig_assets.bronze import news_articles
from finsig_assets_tests.bronze.helpers import article, materialize, metadata, write_lines
from finsig_assets_tests.check_results import table_checks

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
    assert meta["run_non_article_files"] == 1 and meta["run_duplicate_lines"] == 1 and meta["distinct_articles"] == 3
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
    assert meta["run_files_indexed"] == 0 and meta["run_lines_read"] == 5
    got = warehouse.query("SELECT source_line FROM bronze.news_articles WHERE trade_date = ? ORDER BY 1", [D("2024-06-25")])
    assert got["source_line"].to_list() == [6, 7, 8, 9, 10]


def test_conflicting_copies_keep_silvers_pick_and_quarantine_the_others(warehouse, landing):
    a = article(1)
    longer = {**a, "body": "Shares rose sharply after the report.", "collected_at": "2024-06-26T16:00:00+00:00"}
    put_json(landing, "2024-06-25/a1.json", a)  # short body: superseded
    put_json(landing, "2024-06-26/a1.json", longer)  # the longest body: kept
    put_json(landing, "2024-06-27/a1.json", a)  # same as the first: superseded too
    write_lines(landing.news_dir / "batches" / "b.ndjson", [json.dumps(longer)])  # identical to the kept copy: stays
    b = article(2)
    put_json(landing, "x/b2.json", b)
    put_json(landing, "y/b2.json", {**b, "headline": "Stocks move on day 2!", "collected_at": "2024-06-25T17:00:00+00:00"})
    result = materialize([news_articles], warehouse, landing, partition="2024-06-25")
    assert result.success
    got = rows(warehouse)
    assert got.select("article_id", "source_file").rows() == [
        (a["article_id"], "news/2024-06-26/a1.json"),
        (a["article_id"], "news/batches/b.ndjson"),
        (b["article_id"], "news/x/b2.json"),
    ]
    q = warehouse.query("SELECT source_file, source_line, trade_date, reason, raw FROM bronze.quarantine ORDER BY source_file")
    assert q.select("source_file", "source_line", "trade_date").rows() == [
        ("news/2024-06-25/a1.json", 1, D("2024-06-25")),
        ("news/2024-06-27/a1.json", 1, D("2024-06-25")),
        ("news/y/b2.json", 1, D("2024-06-25")),
    ]
    assert q["reason"].to_list() == [
        f"conflicting copy of article {a['article_id']}: superseded by news/2024-06-26/a1.json:1 "
        "(kept copy has the longer body; body of 12 vs kept 37 characters)",
        f"conflicting copy of article {a['article_id']}: superseded by news/2024-06-26/a1.json:1 "
        "(kept copy has the longer body; body of 12 vs kept 37 characters)",
        f"conflicting copy of article {b['article_id']}: superseded by news/x/b2.json:1 "
        "(kept copy was collected earlier; headline 'Stocks move on day 2!' vs kept 'Stocks move on day 2')",
    ]
    assert json.loads(q["raw"][0]) == a  # the copy as landed
    meta = metadata(result, "news_articles")
    assert meta["superseded_copies"] == 3 and meta["rejected_records"] == 0 and meta["run_identical_copies"] == 1
    (ev,) = table_checks(result)
    assert ev.passed and ev.metadata["rejected"].value == 0  # superseded, not rejected



def test_each_partition_of_a_range_carries_its_own_numbers(warehouse, landing):
    for i, day in enumerate(["24", "25", "25", "26", "26", "26"]):
        put_json(landing, f"d/{i}.json", article(i, published_at=f"2024-06-{day}T14:00:00+00:00"))
    import dagster as dg

    result = dg.materialize(
        [news_articles],
        tags={"dagster/asset_partition_range_start": "2024-06-24", "dagster/asset_partition_range_end": "2024-06-26"},
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )
    events = {e.partition: e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert {d: m["dagster/row_count"].value for d, m in events.items()} == {"2024-06-24": 1, "2024-06-25": 2, "2024-06-26": 3}
    assert {d: m["distinct_articles"].value for d, m in events.items()} == {"2024-06-24": 1, "2024-06-25": 2, "2024-06-26": 3}
    assert all(m["run_rows"].value == 6 for m in events.values())
