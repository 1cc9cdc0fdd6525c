"""The bad-input corpus: every kind of broken record is quarantined with a clear reason, at the
right file and line, and every good record in the same file still lands."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from finsig_assets.bronze import market_candles, news_articles

CORPUS = Path(__file__).parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
PARTITION = dt.date.fromisoformat(MANIFEST["partition"])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from finsig_assets.landing_zone import LandingZone
    from finsig_assets.warehouse import DuckDBWarehouse

    tmp = tmp_path_factory.mktemp("corpus")
    root = tmp / "landing"
    shutil.copytree(CORPUS / "market", root / "market")
    shutil.copytree(CORPUS / "news", root / "news")
    warehouse = DuckDBWarehouse(database=str(tmp / "warehouse.duckdb"), lock_timeout_seconds=60)
    landing = LandingZone(root=str(root))
    result = dg.materialize(
        [market_candles, news_articles],
        partition_key=MANIFEST["partition"],
        resources={"warehouse": warehouse, "landing": landing},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    quarantine = warehouse.query("SELECT * FROM bronze.quarantine ORDER BY dataset, source_file, source_line")
    candles = warehouse.query("SELECT * FROM bronze.market_candles")
    articles = warehouse.query("SELECT * FROM bronze.news_articles")
    metadata = {
        ev.asset_key.path[-1]: ev.materialization.metadata for ev in result.get_asset_materialization_events()
    }
    return quarantine, candles, articles, metadata


def test_corpus_covers_at_least_twenty_kinds():
    kinds = {c["kind"] for c in MANIFEST["cases"]}
    assert len(kinds) >= 20, kinds
    assert {c["dataset"] for c in MANIFEST["cases"]} == {"market", "news"}


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda c: f"{c['dataset']}:{Path(c['file']).stem}:{c['kind']}")
def test_bad_record_is_quarantined_with_reason_file_and_line(loaded, case):
    quarantine, *_ = loaded
    rows = quarantine.filter(
        (quarantine["dataset"] == case["dataset"])
        & (quarantine["source_file"] == case["file"])
        & (quarantine["source_line"] == case["line"])
    )
    assert rows.height == 1, f"expected one quarantine row for {case}, got {rows.to_dicts()}"
    row = rows.row(0, named=True)
    assert case["phrase"] in row["reason"], row["reason"]
    assert row["trade_date"] == (PARTITION if case["placed"] else None)
    assert row["raw"] is not None and len(row["raw"]) <= 520
    assert row["quarantined_at"] is not None


def test_nothing_else_is_quarantined(loaded):
    quarantine, *_ = loaded
    expected = {(c["dataset"], c["file"], c["line"]) for c in MANIFEST["cases"]}
    got = {(r["dataset"], r["source_file"], r["source_line"]) for r in quarantine.iter_rows(named=True)}
    assert got == expected


def test_every_good_record_in_a_bad_file_still_lands(loaded):
    _, candles, articles, _ = loaded
    for rel, lines in MANIFEST["good"].items():
        table = candles if rel.startswith("market/") else articles
        landed = sorted(table.filter(table["source_file"] == rel)["source_line"].to_list())
        assert landed == lines, (rel, landed)
    assert set(candles["trade_date"].to_list()) == {PARTITION}
    assert set(articles["trade_date"].to_list()) == {PARTITION}


def test_non_article_files_are_counted_not_quarantined(loaded):
    quarantine, _, articles, metadata = loaded
    for rel in MANIFEST["non_article_files"]:
        assert rel not in quarantine["source_file"].to_list()
        assert rel not in articles["source_file"].to_list()
    assert metadata["news_articles"]["run_non_article_files"].value == len(MANIFEST["non_article_files"])


def test_exact_duplicate_line_in_batch_is_one_row(loaded):
    _, _, articles, metadata = loaded
    batch = articles.filter(articles["source_file"] == "news/corpus/batch/2024-06-25.ndjson")
    assert batch["source_line"].to_list().count(1) == 1 and 4 not in batch["source_line"].to_list()
    assert metadata["news_articles"]["run_duplicate_lines"].value == 1


def test_metadata_counts_rejections_by_reason(loaded):
    quarantine, _, _, metadata = loaded
    for name, dataset in (("market_candles", "market"), ("news_articles", "news")):
        meta = metadata[name]
        placed_cases = [c for c in MANIFEST["cases"] if c["dataset"] == dataset and c["placed"]]
        unplaced_cases = [c for c in MANIFEST["cases"] if c["dataset"] == dataset and not c["placed"]]
        by_reason = meta["run_rejected_by_reason"].value
        assert sum(by_reason.values()) == len(placed_cases) == meta["rejected_records"].value
        for case in placed_cases:
            assert by_reason.get(case["kind"], 0) >= 1
        assert meta["run_unplaceable_records"].value == len(unplaced_cases)
        assert sum(meta["run_unplaceable_by_reason"].value.values()) == len(unplaced_cases)
