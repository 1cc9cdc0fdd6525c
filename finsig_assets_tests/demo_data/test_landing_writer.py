"""write_demo_landing: determinism, summary counts against the disk, refusing a used directory."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import polars as pl
import pytest

from finsig_assets.demo_data import DemoSummary, write_demo_landing

SMALL = dict(first_session="2024-07-01", n_sessions=4, articles_per_session=20)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = write_demo_landing(tmp_path / "a", seed=3, **SMALL)
    b = write_demo_landing(tmp_path / "b", seed=3, **SMALL)
    write_demo_landing(tmp_path / "c", seed=4, **SMALL)
    assert a == b
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    tree_c = _tree(tmp_path / "c")
    tree_a = _tree(tmp_path / "a")
    assert tree_c != tree_a
    shared_market = [k for k in tree_a if k.startswith("market/") and k in tree_c]
    assert any(tree_a[k] != tree_c[k] for k in shared_market)
    news_a = {k for k in tree_a if k.startswith("news/") and k.endswith(".json")}
    news_c = {k for k in tree_c if k.startswith("news/") and k.endswith(".json")}
    assert news_a != news_c


def test_summary_counts_match_the_disk(default_demo):
    s, market, news = default_demo.summary, default_demo.market, default_demo.news
    assert isinstance(s, DemoSummary) and dataclasses.is_dataclass(s)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_candles = 0  # type: ignore[misc]
    assert s.n_market_files == market.n_files == len(list((default_demo.root / "market").rglob("*.ndjson")))
    assert s.n_candle_lines == market.n_lines
    assert s.n_malformed_market_lines == len(market.rejected)
    assert s.n_candle_lines == market.candles.height + len(market.rejected)
    assert s.n_candles == market.candles.filter(pl.col("complete"))["ts"].n_unique()
    assert s.n_news_files == news.n_files
    assert s.n_bad_news_files == len(news.bad)
    assert s.n_articles == news.articles["article_id"].n_unique()
    assert (s.first_session, s.last_session) == ("2024-06-24", "2024-07-22")
    assert len(s.sessions) == 20 and s.sessions[0] == s.first_session and "2024-07-04" not in s.sessions
    text = "\n".join(s.lines())
    assert "2024-06-24 .. 2024-07-22 (20)" in text and f"{s.n_candles} distinct complete candles" in text


def test_refuses_a_landing_dir_that_already_holds_files(tmp_path):
    write_demo_landing(tmp_path, **SMALL)
    with pytest.raises(FileExistsError, match="already holds files"):
        write_demo_landing(tmp_path, **SMALL)


def test_empty_market_and_news_folders_are_fine(landing):
    summary = write_demo_landing(Path(landing.root), **SMALL)
    assert summary.n_candles > 0 and any(landing.market_dir.rglob("*.ndjson")) and any(landing.news_dir.rglob("*.json"))


def test_no_articles(tmp_path):
    summary = write_demo_landing(tmp_path, first_session="2024-07-01", n_sessions=2, articles_per_session=0)
    assert summary.n_articles == 0 and summary.n_candles > 0
    assert summary.n_bad_news_files == 2 and summary.n_news_files == 2
