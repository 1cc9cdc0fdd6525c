"""Validating one article, and parsing article files and batches."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from finsig_assets.bronze.article_records import NotAnArticle, parse_article_bytes, validate_article
from finsig_assets.bronze.records import text_problem
from finsig_assets_tests.bronze.helpers import article


def test_valid_article():
    rec, ns, rej = validate_article(article(1, body=None, url=None))
    assert rej is None and ns is not None
    assert rec["body"] == "" and rec["url"] is None
    assert rec["published_at"] == dt.datetime(2024, 6, 25, 14, 30, tzinfo=dt.timezone.utc)


def test_not_an_article():
    with pytest.raises(NotAnArticle):
        validate_article({"seen": [], "total_count": 0, "updated_at": "2024-06-25T00:00:00Z"})


@pytest.mark.parametrize(
    "over, kind, phrase",
    [
        ({"article_id": None, "headline": None}, "missing_field", "missing required fields 'article_id', 'headline'"),
        ({"article_id": "ABC"}, "bad_article_id", "is not 32 hexadecimal characters"),
        ({"headline": ""}, "empty_headline", "headline is empty"),
        ({"headline": 5}, "wrong_type", "headline must be a string"),
        ({"headline": "a\x00b"}, "invalid_text", "headline is not valid text: it contains a NUL"),
        ({"body": ["x"]}, "wrong_type", "body must be a string, got array"),
        ({"body": "\ufffd" * 20}, "invalid_text", "100% control/replacement characters"),
        ({"language": ["en"]}, "bad_language", "language must be a string"),
        ({"content_fetched": 1}, "wrong_type", "content_fetched must be true or false, got number 1"),
        ({"url": 3}, "wrong_type", "url must be a string"),
        ({"collected_at": "later"}, "unparsable_collected_at", "collected_at 'later' is not an ISO 8601 timestamp"),
    ],
)
def test_rejections_keep_the_published_instant(over, kind, phrase):
    rec, ns, rej = validate_article(article(1, **over))
    assert rec is None and rej.kind == kind and phrase in rej.reason
    assert ns is not None  # placed: quarantined with its trade date


def test_text_problem():
    assert text_problem("Normal text\twith\nnewlines") is None
    assert text_problem("") is None
    assert "NUL" in text_problem("x\x00")
    assert "surrogate" in text_problem("x\ud800")
    assert text_problem("\x01short") is None or "control" in text_problem("\x01short")


def test_batch_counts_and_slices():
    lines = [json.dumps(article(i)) for i in range(3)]
    data = ("\n".join([lines[0], "", lines[1], lines[0], json.dumps({"seen": []}), lines[2]]) + "\n").encode()
    parsed = parse_article_bytes(data, batch=True)
    assert parsed.placed["source_line"].to_list() == [1, 3, 6]
    assert (parsed.stats.lines, parsed.stats.blank_lines, parsed.stats.duplicate_lines, parsed.stats.non_article_lines) == (6, 1, 1, 1)
    # A slice (as the index hands out) keeps file line numbers and offsets. Real slices always
    # start at or before the first copy of a duplicated line: both copies share a trade date.
    data = ("\n".join(lines) + "\n").encode()
    whole = parse_article_bytes(data, batch=True)
    start = whole.placed["byte_start"][1]
    tail = parse_article_bytes(data[start:], batch=True, first_line=2, first_offset=start)
    assert tail.placed["source_line"].to_list() == [2, 3]
    assert tail.placed["byte_start"].to_list() == whole.placed["byte_start"].to_list()[1:]


def test_single_file_edge_cases():
    assert parse_article_bytes(b"\xef\xbb\xbf" + json.dumps(article(1)).encode(), batch=False).placed.height == 1
    assert parse_article_bytes(b"  \n", batch=False).unplaceable["kind"].to_list() == ["empty_file"]
    assert parse_article_bytes(b'{"total_count": 3}', batch=False).non_article
    pretty = json.dumps(article(2), indent=2).encode()
    assert parse_article_bytes(pretty, batch=False).placed["source_line"].to_list() == [1]
