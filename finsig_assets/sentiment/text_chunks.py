"""Articles to sentence-sized chunks, and chunk probabilities back to one row per article.

FinBERT was fine-tuned on single sentences of at most 64 tokens (Financial PhraseBank), so a
whole article pushed through it (or cut at 512 tokens, as the reference system did) is out of
distribution. An article is scored as pieces:

* ``headline``: the headline alone;
* ``headline_lead``: the headline and the first ``LEAD_SENTENCES`` sentences of the body
  (the default: news leads carry the story, scraped bodies trail off into boilerplate);
* ``full``: the headline and every sentence of the body.

Sentences come from a rule-based splitter (line breaks, then ``. ! ?`` followed by a capital
or digit, not after a known abbreviation such as ``Mr.`` or ``U.S.``). A sentence longer than
the chunk limit (64 tokens for FinBERT, counting ``[CLS]`` and ``[SEP]``) is cut at word
boundaries into near-equal pieces that fit. Each chunk weighs its number of tokens, and an
article's probabilities are the token-weighted mean of its chunks' probabilities; ``n_chunks``
records how many chunks that was. Identical chunks (syndicated boilerplate, repeated
headlines) are scored once per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from finsig_assets.sentiment.scoring_types import (
    PROB_COLUMNS,
    Progress,
    check_text_mode,
)

if TYPE_CHECKING:  # polars is imported where frames are built: the scorer runs without it
    import polars as pl

LEAD_SENTENCES = 3

_BOUNDARY = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9$])")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)\s*$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sen rep gov gen inc corp co ltd llc plc st jr sr vs no fig est approx "
    "u.s u.k u.n e.u e.g i.e a.m p.m jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


class TokenSplitter(Protocol):
    """How a backend measures and cuts text (WordPiece tokens for FinBERT, words for the lexicon)."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text (no special tokens)."""

    def split(self, text: str, limit: int) -> list[str]:
        """``text`` cut at word boundaries into pieces of at most ``limit`` tokens."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: line breaks always end one; ``. ! ?`` does unless after an abbreviation."""
    sentences: list[str] = []
    for line in re.split(r"\s*\n\s*", text):
        start = 0
        for match in _BOUNDARY.finditer(line):
            before = line[start : match.start()]
            word = _LAST_WORD.search(before)
            if word and line[match.start()] == ".":
                token = word.group(1).lower().rstrip(".")
                if token in _ABBREVIATIONS or len(token) == 1:
                    continue  # "Mr. Powell", "U.S. stocks", "J. P. Morgan"
            end = match.end() - (len(match.group()) - len(match.group().rstrip()))
            sentences.append(line[start:end].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if any(ch.isalnum() for ch in s)]


def article_pieces(headline: str, body: str, text_mode: str) -> list[str]:
    """The headline and the body sentences that ``text_mode`` scores, before length limits."""
    pieces = [headline.strip()] if headline and headline.strip() else []
    if text_mode != "headline" and body and body.strip():
        sentences = split_sentences(body)
        if text_mode == "headline_lead":
            sentences = sentences[:LEAD_SENTENCES]
        pieces.extend(sentences)
    return pieces


@dataclass(frozen=True)
class ArticleChunks:
    texts: list[str]  # every chunk, grouped by article
    article_index: np.ndarray  # int64: the article each chunk belongs to
    weights: np.ndarray  # float64: tokens in each chunk
    n_articles: int


def chunk_articles(
    headlines: Sequence[str],
    bodies: Sequence[str],
    text_mode: str,
    splitter: TokenSplitter,
    limit: int,
) -> ArticleChunks:
    """Every article's chunks, each at most ``limit`` content tokens; empty pieces are dropped."""
    check_text_mode(text_mode)
    if len(headlines) != len(bodies):
        raise ValueError(f"{len(headlines)} headlines but {len(bodies)} bodies")
    pieces: list[str] = []
    owners: list[int] = []
    for i, (headline, body) in enumerate(zip(headlines, bodies)):
        found = article_pieces(headline or "", body or "", text_mode)
        pieces.extend(found)
        owners.extend([i] * len(found))
    counts = splitter.count(pieces) if pieces else []
    texts: list[str] = []
    index: list[int] = []
    weights: list[int] = []
    for piece, owner, n in zip(pieces, owners, counts):
        if n <= 0:
            continue
        if n <= limit:
            texts.append(piece)
            index.append(owner)
            weights.append(n)
            continue
        parts = splitter.split(piece, limit)
        for part, m in zip(parts, splitter.count(parts)):
            if m > 0:
                texts.append(part)
                index.append(owner)
                weights.append(m)
    return ArticleChunks(
        texts=texts,
        article_index=np.asarray(index, dtype=np.int64),
        weights=np.asarray(weights, dtype=np.float64),
        n_articles=len(headlines),
    )


def aggregate_chunks(chunks: ArticleChunks, chunk_probs: np.ndarray) -> "pl.DataFrame":
    """Token-weighted mean of chunk probabilities per article; articles with no chunk get nulls."""
    import polars as pl

    n = chunks.n_articles
    probs = np.asarray(chunk_probs, dtype=np.float64).reshape(-1, len(PROB_COLUMNS))
    if probs.shape[0] != len(chunks.texts):
        raise ValueError(f"{probs.shape[0]} chunk scores for {len(chunks.texts)} chunks")
    n_chunks = np.bincount(chunks.article_index, minlength=n)[:n] if len(chunks.texts) else np.zeros(n, np.int64)
    total_w = np.bincount(chunks.article_index, weights=chunks.weights, minlength=n)[:n] if len(chunks.texts) else np.zeros(n)
    columns: dict[str, object] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, name in enumerate(PROB_COLUMNS):
            summed = (
                np.bincount(chunks.article_index, weights=chunks.weights * probs[:, k], minlength=n)[:n]
                if len(chunks.texts)
                else np.zeros(n)
            )
            columns[name] = np.where(n_chunks > 0, summed / np.where(total_w > 0, total_w, 1.0), np.nan)
    columns["n_chunks"] = n_chunks.astype(np.int32)
    schema = {name: pl.Float64 for name in PROB_COLUMNS} | {"n_chunks": pl.Int32}
    frame = pl.DataFrame(columns, schema=schema)
    return frame.with_columns(pl.col(c).fill_nan(None) for c in PROB_COLUMNS)


def score_articles_with(
    score_texts: Callable[[list[str], Progress | None], np.ndarray],
    splitter: TokenSplitter,
    headlines: Sequence[str],
    bodies: Sequence[str],
    text_mode: str,
    limit: int,
    progress: Progress | None = None,
) -> "pl.DataFrame":
    """Chunk, score each distinct chunk once with ``score_texts``, aggregate per article."""
    chunks = chunk_articles(headlines, bodies, text_mode, splitter, limit)
    distinct = list(dict.fromkeys(chunks.texts))
    position = {text: i for i, text in enumerate(distinct)}
    distinct_probs = score_texts(distinct, progress) if distinct else np.zeros((0, len(PROB_COLUMNS)))
    take = np.fromiter((position[t] for t in chunks.texts), dtype=np.int64, count=len(chunks.texts))
    return aggregate_chunks(chunks, np.asarray(distinct_probs)[take] if len(take) else distinct_probs)


def word_windows(words: Sequence[object], counts: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """Cut a run of words (strings, or their spans: only their number matters here; with their token counts) into near-equal windows of <= ``limit`` tokens.

    Near-equal, not greedy: a 70-token sentence becomes 35 + 35, not 64 + 6. A single word longer
    than ``limit`` gets a window of its own (the caller cuts it further or lets truncation act).
    """
    total = int(sum(counts))
    if total <= limit:
        return [(0, len(words))]
    n_parts = -(-total // limit)
    target = total / n_parts
    windows, start, acc = [], 0, 0
    for i, c in enumerate(counts):
        if i > start and (acc + c > limit or acc >= target):
            windows.append((start, i))
            start, acc = i, 0
        acc += c
    windows.append((start, len(words)))
    return windows
