"""``SentimentResource`` (resource key ``sentiment``): FinBERT, the lexicon, or FinBERT-else-lexicon.

``backend`` comes from ``FINSIG_SENTIMENT_BACKEND`` (default ``auto``):

* ``finbert`` - FinBERT or nothing: missing weights fail the run with the actionable message
  (the production default in the Docker image);
* ``lexicon`` - the Loughran-McDonald dictionary (:mod:`finsig_assets.sentiment.lexicon_backend`),
  FinBERT is not even loaded;
* ``auto`` - FinBERT when its weights are already on the machine (a local directory or the
  Hugging Face cache), else the lexicon, with a WARNING in the run log that says why and how to
  provide the weights; the asset's metadata records the fallback and every row records which
  model scored it (``sentiment_model``). ``auto`` never downloads: it loads with
  ``local_files_only`` and makes no network call, unless ``FINSIG_ALLOW_MODEL_DOWNLOAD=1``
  (``allow_download``) lets it fetch missing weights. A machine without the weights and without
  the hub therefore gets the lexicon at once instead of a connection error first.

It is a :class:`FinBERTResource` with one more field, so FinBERT's settings are configured in
the same place; only its setup differs (it must not fail in ``auto`` mode).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional, cast

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

from finsig_assets.sentiment.finbert_resource import FinBERTResource
from finsig_assets.sentiment.lexicon_backend import load_lexicon
from finsig_assets.sentiment.model_files import ALLOW_DOWNLOAD_ENV, downloads_allowed
from finsig_assets.sentiment.scoring_types import (
    FinBERTUnavailable,
    Progress,
    SentimentBackend,
    check_text_mode,
)

if TYPE_CHECKING:
    from finsig_assets.sentiment.finbert_scorer import FinBERTScorer

BACKEND_ENV = "FINSIG_SENTIMENT_BACKEND"
BACKENDS = ("finbert", "lexicon", "auto")
log = logging.getLogger(__name__)


def default_backend() -> str:
    return (os.environ.get(BACKEND_ENV) or "auto").strip().lower()


def check_backend(name: str) -> str:
    name = (name or "").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name


class SentimentResource(FinBERTResource):
    """The sentiment backend the ``silver/news_sentiment`` asset scores with."""

    backend: str = Field(
        default_factory=default_backend,
        description="finbert, lexicon or auto (env FINSIG_SENTIMENT_BACKEND; default auto).",
    )
    allow_download: bool = Field(
        default_factory=downloads_allowed,
        description=(
            "Let auto download missing FinBERT weights from the Hugging Face hub "
            f"(env {ALLOW_DOWNLOAD_ENV}=1); off: auto uses local weights only, with no network call."
        ),
    )

    _active: Optional[Any] = PrivateAttr(default=None)
    _fallback_reason: Optional[str] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.select_backend(context.log)

    def select_backend(self, run_log: Any = None) -> SentimentBackend:
        """Load the configured backend (once); ``auto`` falls back to the lexicon with a warning."""
        if self._active is not None:
            return self._active
        backend = check_backend(self.backend)
        check_text_mode(self.text_mode)
        out = run_log or log
        if backend == "lexicon":
            self._active = load_lexicon()
        else:
            # finbert: the cache, else a download (unless offline); auto: what is on disk only.
            local_only = None if backend == "finbert" else (self.local_files_only or not self.allow_download)
            try:
                self._active = self.load_scorer(local_files_only=local_only)
            except FinBERTUnavailable as exc:
                if backend == "finbert":
                    raise
                self._fallback_reason = str(exc)
                self._active = load_lexicon()
                where = "from local weights" if local_only else "or downloaded"
                out.warning(
                    f"{BACKEND_ENV}=auto: FinBERT could not be loaded {where}, so sentiment is scored with the"
                    f" {self._active.sentiment_model} lexicon instead; rows record sentiment_model accordingly."
                    f" To score with FinBERT, put its weights on this machine (below), or set"
                    f" {ALLOW_DOWNLOAD_ENV}=1 to let auto download them from the Hugging Face hub.\n{exc}"
                )
        scorer = self._active
        out.info(f"sentiment backend {scorer.backend}: {scorer.sentiment_model} on {scorer.device} ({scorer.dtype})")
        return scorer

    @property
    def active(self) -> SentimentBackend:
        return self.select_backend()

    @property
    def fallback_reason(self) -> Optional[str]:
        """Why ``auto`` fell back to the lexicon (None when it did not)."""
        self.select_backend()
        return self._fallback_reason

    @property
    def sentiment_model(self) -> str:
        return self.active.sentiment_model

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.active.score(texts)

    def score_articles(
        self,
        headlines: Sequence[str],
        bodies: Sequence[str],
        text_mode: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> pl.DataFrame:
        return self.active.score_articles(headlines, bodies, text_mode or self.text_mode, progress)

    def describe(self) -> dict[str, Any]:
        scorer = self.active
        info: dict[str, Any] = {
            "backend": scorer.backend,
            "backend_requested": check_backend(self.backend),
            "sentiment_model": scorer.sentiment_model,
            "device": scorer.device,
            "dtype": scorer.dtype,
        }
        if scorer.backend == "finbert":
            # The scorer load_scorer returned (its module, which imports torch, is imported only then).
            finbert = cast("FinBERTScorer", scorer)
            info["dtype_choice"] = finbert.dtype_note
            info["attention"] = finbert.attn_implementation or "default"
        if self._fallback_reason:
            info["backend_fallback"] = "FinBERT unavailable, used the lexicon: " + self._fallback_reason.splitlines()[0]
        return info
