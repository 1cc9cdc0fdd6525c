"""Copies of one article in bronze: identical copies stay, conflicting copies keep one.

The collector lands the same article (same ``article_id``) in several folders and batches.

* Copies with the same ``headline`` and ``body`` as the kept copy stay as rows: silver collapses
  them into one and counts them (``n_copies``). They are counted here as ``identical_copies``.
* Copies that differ in ``headline`` or ``body`` conflict. ONE is kept: the copy silver would
  pick (``finsig_assets/silver/news_dedup.py``, ``collapse_copies``), by this order —
    1. a non-empty body (after trimming whitespace),
    2. ``content_fetched`` true (then false, then missing),
    3. the longest body,
    4. the earliest ``collected_at`` (missing last),
    5. the smallest ``source_file``, then ``source_line``
  — so silver's pick is the same with or without the conflicting copies. Every other
  conflicting copy leaves ``bronze.news_articles`` for ``bronze.quarantine``, with a reason
  naming the kept copy and what differs, e.g. ``conflicting copy of article 0123…: superseded by
  news/2024-06-26/x.json:1 (kept copy has a body; body of 0 vs kept 1,234 characters)``. Like
  superseded candles they are counted (``superseded_copies``), not rejected.

Copies are compared within one trade date: copies of an article share ``published_at``, hence
the trade date, and a partition's rows then do not depend on which partitions ran together.
Input: the valid articles of the run's range, with lineage and byte offsets (to quote the loser
as landed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finsig_assets.bronze.quarantine import reread_raw

GROUP = ("trade_date", "article_id")
SHOWN_HEADLINE_CHARS = 60


@dataclass
class ArticleDedup:
    kept: pl.DataFrame  # the input minus the superseded copies
    losers: pl.DataFrame  # source_file, source_line, trade_date, reason, raw
    identical_copies: int
    superseded_copies: int


def rank_copies(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort so that, within each (trade_date, article_id), the copy silver keeps comes first."""
    return (
        frame.with_columns(
            __has_body=pl.col("body").fill_null("").str.strip_chars().str.len_chars() > 0,
            __body_len=pl.col("body").fill_null("").str.len_chars(),
        )
        .sort(
            [*GROUP, "__has_body", "content_fetched", "__body_len", "collected_at", "source_file", "source_line"],
            descending=[False, False, True, True, True, False, False, False],
            nulls_last=True,
        )
    )


def dedup_articles(frame: pl.DataFrame, landing_root: Path | None = None) -> ArticleDedup:
    """Drop conflicting copies of an article (see the module docstring) from ``frame``."""
    empty = pl.DataFrame(
        schema={"source_file": pl.String, "source_line": pl.Int64, "trade_date": pl.Date, "reason": pl.String, "raw": pl.String}
    )
    if not frame.height:
        return ArticleDedup(frame, empty, 0, 0)
    ranked = rank_copies(frame).with_columns(__first=pl.int_range(pl.len()).over(list(GROUP)) == 0)
    if ranked["__first"].all():
        return ArticleDedup(frame, empty, 0, 0)

    compared = ("headline", "body", "content_fetched", "collected_at", "source_file", "source_line", "__has_body", "__body_len")
    winners = ranked.filter(pl.col("__first")).select(*GROUP, *[pl.col(c).alias(f"kept_{c}") for c in compared])
    extra = ranked.filter(~pl.col("__first")).join(winners, on=list(GROUP), how="left")
    same = (pl.col("headline") == pl.col("kept_headline")) & (pl.col("body").fill_null("") == pl.col("kept_body").fill_null(""))
    identical = int(extra.select(same.sum()).item())
    conflicting = extra.filter(~same)

    why = (
        pl.when(pl.col("kept___has_body") & ~pl.col("__has_body"))
        .then(pl.lit("kept copy has a body"))
        .when(pl.col("kept_content_fetched").fill_null(False) & ~pl.col("content_fetched").fill_null(False))
        .then(pl.lit("kept copy has content_fetched"))
        .when(pl.col("kept_content_fetched").is_not_null() & pl.col("content_fetched").is_null())
        .then(pl.lit("kept copy has content_fetched"))
        .when(pl.col("kept___body_len") > pl.col("__body_len"))
        .then(pl.lit("kept copy has the longer body"))
        .when(
            pl.col("kept_collected_at").is_not_null()
            & (pl.col("collected_at").is_null() | (pl.col("kept_collected_at") < pl.col("collected_at")))
        )
        .then(pl.lit("kept copy was collected earlier"))
        .otherwise(pl.lit("earlier file/line"))
    )
    headline = pl.when(pl.col("headline") != pl.col("kept_headline")).then(
        pl.format(
            "headline '{}' vs kept '{}'",
            _shown(pl.col("headline")),
            _shown(pl.col("kept_headline")),
        )
    )
    body = (
        pl.when(pl.col("__body_len") != pl.col("kept___body_len"))
        .then(pl.format("body of {} vs kept {} characters", pl.col("__body_len"), pl.col("kept___body_len")))
        .when(pl.col("body").fill_null("") != pl.col("kept_body").fill_null(""))
        .then(pl.format("body text differs ({} characters each)", pl.col("__body_len")))
    )
    losers = conflicting.with_columns(
        pl.format(
            "conflicting copy of article {}: superseded by {}:{} ({}; {})",
            pl.col("article_id"),
            pl.col("kept_source_file"),
            pl.col("kept_source_line"),
            why,
            pl.concat_str([headline, body], separator=", ", ignore_nulls=True),
        ).alias("reason")
    )
    losers = losers.with_columns(pl.Series("raw", reread_raw(losers, landing_root, _values_json), dtype=pl.String)).select(
        "source_file", "source_line", "trade_date", "reason", "raw"
    )
    dropped = conflicting.select("source_file", "source_line")
    kept = frame.join(dropped, on=["source_file", "source_line"], how="anti", maintain_order="left")
    return ArticleDedup(kept, losers, identical, conflicting.height)


def _shown(expr: pl.Expr) -> pl.Expr:
    cut = expr.str.slice(0, SHOWN_HEADLINE_CHARS)
    return pl.when(expr.str.len_chars() > SHOWN_HEADLINE_CHARS).then(cut + pl.lit("…")).otherwise(expr).str.replace_all("'", "\\'", literal=True)


def _values_json(losers: pl.DataFrame) -> list[str]:
    cols = [c for c in ("article_id", "headline", "body", "published_at", "collected_at", "source_file") if c in losers.columns]
    return (
        losers.select(cols)
        .with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%SZ"), pl.col("body").str.slice(0, 200))
        .select(pl.struct(cols).struct.json_encode())
        .to_series()
        .to_list()
    )
