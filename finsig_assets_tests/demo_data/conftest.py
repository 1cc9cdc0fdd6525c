"""Demo landing zones shared by the tests in this folder (each written once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from finsig_assets.demo_data import DemoSummary, write_demo_landing
from finsig_assets_tests.demo_data.landing_reader import MarketRead, NewsRead, read_market, read_news

EFFECT = 3.0
EFFECT_KW = dict(first_session="2024-06-24", n_sessions=10, seed=11, articles_per_session=80)


@dataclass
class Demo:
    root: Path
    summary: DemoSummary
    market: MarketRead
    news: NewsRead


def _demo(root: Path, **kwargs) -> Demo:
    summary = write_demo_landing(root, **kwargs)
    return Demo(root, summary, read_market(root), read_news(root))


@pytest.fixture(scope="session")
def default_demo(tmp_path_factory) -> Demo:
    """The defaults: 20 sessions from 2024-06-24 (early close 07-03, holiday 07-04), seed 7."""
    return _demo(tmp_path_factory.mktemp("default") / "landing")


@pytest.fixture(scope="session")
def effect_off(tmp_path_factory) -> Demo:
    return _demo(tmp_path_factory.mktemp("effect_off") / "landing", news_effect=0.0, **EFFECT_KW)


@pytest.fixture(scope="session")
def effect_on(tmp_path_factory) -> Demo:
    return _demo(tmp_path_factory.mktemp("effect_on") / "landing", news_effect=EFFECT, **EFFECT_KW)
