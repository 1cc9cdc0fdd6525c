"""How copies and near-duplicates of news articles are recognised (pure polars, no I/O).

Two different things are called "duplicates" and handled differently:

1. **Landed copies** (same ``article_id``): the collector drops the same file into several
   dated folders, so bronze holds every copy. They collapse to one row; the *most complete*
   copy wins, by this order of preference:

   a. a non-empty body (after trimming whitespace),
   b. ``content_fetched`` true (then false, then missing),
   c. the longest body,
   d. the earliest ``collected_at`` (missing last),
   e. the smallest ``source_file``, then ``source_line`` (a total order, so the pick is
      deterministic).

   Every column of the row comes from the winning copy; ``n_copies`` counts the landed copies.

2. **Syndicated near-duplicates** (different ``article_id``, same story): rows are kept but
   flagged so signals count a story once. Two articles are the same story when they have the
   same *headline key* and the same *source family*:

   - headline key: the headline lower-cased, every run of characters that are not letters or
     digits (punctuation, symbols, whitespace) replaced by one space, trimmed. An empty key
     never matches anything.
   - source family: ``source`` (or, when it is missing, the host of ``url``), lower-cased and
     trimmed; a ``gdelt_`` collector prefix, a URL scheme, path and port removed; leading
     ``www.``/``m.``/``mobile.``/``amp.``/``finance.`` labels stripped; then reduced to the
     registrable domain: the last two labels, or the last three when the last two look like a
     country second-level domain (``co.uk``, ``com.au``: ``co|com|net|org|gov|ac|edu`` + a
     two-letter TLD). So ``gdelt_finance.yahoo.com``, ``gdelt_yahoo.com`` and
     ``https://www.yahoo.com/news/x`` are all ``yahoo.com``; ``uk.reuters.com`` is
     ``reuters.com``; ``gdelt_bbc.co.uk`` is ``bbc.co.uk``. A name that is not a domain
     (``Reuters``) is its own family (``reuters``).

   Order articles by ``(published_at, article_id)``. An article X is a syndicated duplicate
   when an *earlier* article (in that order) of the same story was published at or after
   ``X.published_at - 24h``; ``duplicate_of`` is the earliest such article. The rule only looks
   at the 24 hours before X, so it is a function of X and the articles of those 24 hours, not
   of which partitions were materialized together. A story re-syndicated for days therefore
   points at the earliest copy of the previous 24 hours, which may itself be flagged (a chain),
   and the first article after a quiet 24 hours starts the story afresh.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

SYNDICATION_WINDOW = dt.timedelta(hours=24)
_LEADING_SUBDOMAINS = r"^((www|m|mobile|amp|finance)\.)+"
_COUNTRY_SLD = r"^(co|com|net|org|gov|ac|edu)\.[a-z]{2}$"


def headline_key_expr(column: str = "headline") -> pl.Expr:
    key = (
        pl.col(column)
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )
    return pl.when(key.str.len_chars() > 0).then(key).otherwise(None)


def source_family_expr(source: str = "source", url: str = "url") -> pl.Expr:
    src = pl.col(source).str.strip_chars()
    host_of_url = pl.col(url).str.strip_chars().str.extract(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]+)", 1)
    raw = pl.when(src.is_not_null() & (src.str.len_chars() > 0)).then(src).otherwise(host_of_url)
    name = (
        raw.str.to_lowercase()
        .str.replace(r"^gdelt_", "")
        .str.replace(r"^[a-z][a-z0-9+.-]*://", "")  # a URL given as the source
        .str.replace(r"[/?#].*$", "")
        .str.replace(r":\d+$", "")
        .str.strip_chars(" .")
        .str.replace(_LEADING_SUBDOMAINS, "")
    )
    parts = name.str.split(".")
    last_two = parts.list.slice(-2).list.join(".")
    last_three = parts.list.slice(-3).list.join(".")
    family = pl.when(last_two.str.contains(_COUNTRY_SLD) & (parts.list.len() >= 3)).then(last_three).otherwise(last_two)
    return pl.when(family.str.len_chars() > 0).then(family).otherwise(None)


def source_family(source: str | None, url: str | None = None) -> str | None:
    """The family of one source (the same rule as :func:`source_family_expr`)."""
    frame = pl.DataFrame({"source": [source], "url": [url]}, schema={"source": pl.String, "url": pl.String})
    return frame.select(source_family_expr()).item()


def normalize_headline(headline: str | None) -> str | None:
    frame = pl.DataFrame({"headline": [headline]}, schema={"headline": pl.String})
    return frame.select(headline_key_expr()).item()


def collapse_copies(copies: pl.DataFrame) -> pl.DataFrame:
    """One row per ``article_id``: the most complete copy, with ``has_body`` and ``n_copies``."""
    return (
        copies.with_columns(
            has_body=pl.col("body").fill_null("").str.strip_chars().str.len_chars() > 0,
            __body_len=pl.col("body").fill_null("").str.len_chars(),
            n_copies=pl.len().over("article_id").cast(pl.Int32),
        )
        .sort(
            ["article_id", "has_body", "content_fetched", "__body_len", "collected_at", "source_file", "source_line"],
            descending=[False, True, True, True, False, False, False],
            nulls_last=True,
        )
        .unique(subset="article_id", keep="first", maintain_order=True)
        .drop("__body_len")
    )


def flag_syndicated(articles: pl.DataFrame, window: dt.timedelta = SYNDICATION_WINDOW) -> pl.DataFrame:
    """Add ``headline_key``, ``source_family``, ``is_syndicated_duplicate`` and ``duplicate_of``.

    ``articles`` has one row per ``article_id`` with ``headline``, ``source``, ``url`` and
    ``published_at``. Vectorised: for each article, an as-of join finds the first
    ``published_at`` of its story at or after ``published_at - window``; the smallest id at
    that instant is the earliest article of the window.
    """
    keyed = articles.with_columns(headline_key=headline_key_expr(), source_family=source_family_expr())
    story = ["source_family", "headline_key"]
    candidates = keyed.filter(pl.col("headline_key").is_not_null() & pl.col("source_family").is_not_null())
    firsts = (
        candidates.group_by([*story, "published_at"])
        .agg(anchor_id=pl.col("article_id").min())
        .rename({"published_at": "anchor_at"})
        .sort("anchor_at")
    )
    probes = (
        candidates.select("article_id", *story, "published_at", lookup_from=pl.col("published_at") - window)
        .sort("lookup_from")
    )
    matched = probes.join_asof(
        firsts,
        left_on="lookup_from",
        right_on="anchor_at",
        by=story,
        strategy="forward",
        check_sortedness=False,  # both sides are sorted globally on the key, hence within each story
    ).select(
        "article_id",
        pl.when(
            (pl.col("anchor_at") < pl.col("published_at"))
            | ((pl.col("anchor_at") == pl.col("published_at")) & (pl.col("anchor_id") < pl.col("article_id")))
        )
        .then(pl.col("anchor_id"))
        .otherwise(None)
        .alias("duplicate_of"),
    )
    return keyed.join(matched, on="article_id", how="left", maintain_order="left").with_columns(
        is_syndicated_duplicate=pl.col("duplicate_of").is_not_null()
    )
