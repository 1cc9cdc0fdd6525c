"""``write_demo_landing``: the whole demo landing zone, deterministic for a seed.

Order of work (each step draws from its own random stream, derived from ``seed`` and a fixed
stream number, so switching one option never changes what another step draws):

1. the CFD trading-minute grid over the sessions (no randomness; :mod:`.calendar_grid`);
2. the articles (news stream) — before any price, so their tones are the same whether or not
   a news effect is planted;
3. the planted drift from the articles (:mod:`.news_effect`; zero when ``news_effect == 0``);
4. the price path (price-noise stream) and the bars' wicks, volumes and gaps (bar-shape
   stream);
5. the market file layout and malformed lines (market-layout stream), then the news layout,
   copies and bad files (news-layout stream).

Same arguments give the same bytes on disk. The landing directory's ``market/`` and
``news/`` must be empty (or absent): the generator refuses to mix its files with others,
since the summary would no longer describe what is there.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from finsig_assets.demo_data.calendar_grid import build_grid
from finsig_assets.demo_data.candles import simulate_bars
from finsig_assets.demo_data.market_files import plan_market_files, write_market_files
from finsig_assets.demo_data.news import generate_articles
from finsig_assets.demo_data.news_effect import news_drift
from finsig_assets.demo_data.news_files import write_news_files
from finsig_assets.demo_data.summary import DemoSummary

STREAM_NEWS = 1
STREAM_NEWS_LAYOUT = 2
STREAM_PRICE_NOISE = 3
STREAM_BAR_SHAPE = 4
STREAM_MARKET_LAYOUT = 5


def _stream(seed: int, number: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), number]))


def _ensure_empty(root: Path) -> None:
    for sub in ("market", "news"):
        directory = root / sub
        if directory.is_dir() and any(p.is_file() for p in directory.rglob("*")):
            raise FileExistsError(
                f"{directory} already holds files; write the demo landing zone into an empty directory "
                "(or remove market/ and news/ first, e.g. `finsig demo-data --force`)"
            )


def write_demo_landing(
    root: Path,
    *,
    first_session: str = "2024-06-24",
    n_sessions: int = 20,
    seed: int = 7,
    malformed: bool = True,
    articles_per_session: int = 30,
    news_effect: float = 0.0,
    overlapping_files: bool = True,
) -> DemoSummary:
    """Write a demo landing zone under ``root`` (``root/market``, ``root/news``).

    ``n_sessions`` XNYS sessions from ``first_session`` (a session, ``YYYY-MM-DD``);
    ``articles_per_session`` articles on average per session (spread over all calendar
    days, weekends included; syndicated copies come on top, about 4%); ``news_effect`` the
    planted effect strength (0 = prices independent of news); ``malformed`` plants malformed
    market lines and bad news files; ``overlapping_files`` writes refetch files that repeat
    candles (two of them with conflicting prices).
    """
    if articles_per_session < 0:
        raise ValueError(f"articles_per_session must not be negative, got {articles_per_session}")
    if not math.isfinite(news_effect):
        raise ValueError(f"news_effect must be finite, got {news_effect}")
    root = Path(root)
    grid = build_grid(first_session, n_sessions)
    _ensure_empty(root)

    articles = generate_articles(grid, articles_per_session, _stream(seed, STREAM_NEWS))
    drift = news_drift(grid.minute, articles, news_effect)
    bars = simulate_bars(grid, drift, _stream(seed, STREAM_PRICE_NOISE), _stream(seed, STREAM_BAR_SHAPE))
    del drift

    (root / "market").mkdir(parents=True, exist_ok=True)
    plan = plan_market_files(
        bars, n_sessions, _stream(seed, STREAM_MARKET_LAYOUT), malformed=malformed, overlapping_files=overlapping_files
    )
    n_lines = write_market_files(root, bars, plan.files)
    news = write_news_files(
        root, articles, grid.sessions[0], n_sessions, _stream(seed, STREAM_NEWS_LAYOUT), malformed=malformed
    )
    return DemoSummary(
        n_candles=plan.n_candles,
        n_candle_lines=n_lines,
        n_market_files=len(plan.files),
        n_articles=news.n_articles,
        n_news_files=news.n_news_files,
        n_malformed_market_lines=plan.n_malformed,
        n_bad_news_files=news.n_bad_news_files,
        first_session=grid.sessions[0],
        last_session=grid.sessions[-1],
        sessions=list(grid.sessions),
    )
