"""A realistic demo landing zone: SPX500_USD M1 candles and financial news (``finsig demo-data``).

``write_demo_landing(root, ...)`` writes ``root/market/...`` and ``root/news/...`` in the
reference system's input formats, with the mess real inputs have (two candle shapes,
overlapping and conflicting files, in-progress candles, gaps, malformed lines, duplicate and
syndicated articles, non-English articles, bad files) and, optionally, a planted news effect
on prices (see :mod:`finsig_assets.demo_data.news_effect`).
"""

from finsig_assets.demo_data.landing_writer import write_demo_landing
from finsig_assets.demo_data.summary import DemoSummary

__all__ = ["DemoSummary", "write_demo_landing"]
