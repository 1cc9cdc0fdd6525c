"""What ``write_demo_landing`` wrote (every count is checked against the files in the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoSummary:
    n_candles: int  # distinct complete, well-formed candles (distinct minutes) in market/
    n_candle_lines: int  # every line in market/: duplicates, in-progress and malformed included
    n_market_files: int  # NDJSON files in market/ (originals and refetches)
    n_articles: int  # distinct valid article ids (dated folders and the batch file)
    n_news_files: int  # every file in news/: articles, copies, seen_articles.json, batch, bad files
    n_malformed_market_lines: int
    n_bad_news_files: int
    first_session: str
    last_session: str
    sessions: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A short human-readable summary."""
        return [
            f"sessions        {self.first_session} .. {self.last_session} ({len(self.sessions)})",
            f"market files    {self.n_market_files} ({self.n_candle_lines} lines, {self.n_candles} distinct complete candles, "
            f"{self.n_malformed_market_lines} malformed lines)",
            f"news files      {self.n_news_files} ({self.n_articles} distinct articles, {self.n_bad_news_files} bad files)",
        ]
