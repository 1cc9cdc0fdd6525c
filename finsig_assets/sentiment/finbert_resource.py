"""``FinBERTResource``: FinBERT loaded once per process, as a Dagster ``ConfigurableResource``.

Configuration (all optional; defaults make a fresh checkout work):

=====================  ==============================================================
model_name_or_path     hub id or local directory; default ``FINSIG_FINBERT_MODEL`` or
                       ``ProsusAI/finbert`` (see :mod:`finsig_assets.sentiment.model_files`)
revision               hub branch, tag or commit; default ``FINSIG_FINBERT_REVISION`` or
                       ``main``; rows record the commit it resolved to
device                 ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:1``, ``mps``
dtype                  ``auto`` (see :mod:`finsig_assets.sentiment.finbert_scorer`),
                       ``float32``, ``bfloat16``, ``float16``, or ``int8`` (opt-in, CPU only:
                       dynamic quantization, ~2x faster, approximate; revision gets ``+int8``)
max_length             truncation for :meth:`score` (chunks are far shorter); default 512
max_tokens_per_batch   padded tokens per batch; 0 = per device (cpu 4096, cuda 131072)
max_items_per_batch    texts per batch; 0 = per device (cpu 128, cuda 4096)
text_mode              ``headline``, ``headline_lead`` (default) or ``full``
chunk_tokens           longest chunk including [CLS]/[SEP]; FinBERT was trained on <= 64
local_files_only       never try the network, even when the hub is reachable
=====================  ==============================================================

``setup_for_execution`` resolves the weights and loads tokenizer and model into a private
attribute; a run fails there, with the message of :func:`model_files.unavailable_message`,
when the weights are missing. Outside Dagster, call :meth:`load_scorer` (or just
:meth:`score`, which loads on first use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import dagster as dg
import polars as pl
from pydantic import Field, PrivateAttr

from finsig_assets.sentiment.model_files import default_model, default_revision
from finsig_assets.sentiment.scoring_types import DEFAULT_TEXT_MODE, Progress, check_text_mode

if TYPE_CHECKING:  # torch and transformers load with the model, not with the definitions
    from finsig_assets.sentiment.finbert_scorer import FinBERTScorer


class FinBERTResource(dg.ConfigurableResource):
    """FinBERT (ProsusAI/finbert by default) for sentence-level financial sentiment."""

    model_name_or_path: str = Field(
        default_factory=default_model,
        description="Hugging Face repo id or local directory (env FINSIG_FINBERT_MODEL).",
    )
    revision: Optional[str] = Field(
        default_factory=default_revision,
        description="Hub branch, tag or commit (env FINSIG_FINBERT_REVISION; default main).",
    )
    device: str = Field(default="auto", description="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
    dtype: str = Field(default="auto", description="auto, float32, bfloat16, float16, or int8 (cpu only, approximate).")
    max_length: int = Field(default=512, description="Truncation length in tokens for score().")
    max_tokens_per_batch: int = Field(default=0, description="Padded tokens per batch; 0 picks by device.")
    max_items_per_batch: int = Field(default=0, description="Texts per batch; 0 picks by device.")
    text_mode: str = Field(default=DEFAULT_TEXT_MODE, description="headline, headline_lead or full.")
    chunk_tokens: int = Field(default=64, description="Longest chunk in tokens, [CLS] and [SEP] included.")
    local_files_only: bool = Field(default=False, description="Never download, even when the hub is reachable.")

    _scorer: Optional[Any] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_text_mode(self.text_mode)
        scorer = self.load_scorer()
        if context.log is not None:
            context.log.info(
                f"FinBERT {scorer.sentiment_model} on {scorer.device} ({scorer.dtype}; {scorer.dtype_note}),"
                f" batches of <= {scorer.max_tokens_per_batch} tokens / {scorer.max_items_per_batch} texts"
            )

    def load_scorer(self, local_files_only: Optional[bool] = None) -> "FinBERTScorer":
        """The loaded scorer (loading it on first call; the weights are shared per process).

        ``local_files_only`` overrides the field for this load (``auto`` never downloads).
        """
        if self._scorer is None:
            from finsig_assets.sentiment.finbert_scorer import load_scorer

            self._scorer = load_scorer(
                self.model_name_or_path,
                revision=self.revision,
                device=self.device,
                dtype=self.dtype,
                local_files_only=self.local_files_only if local_files_only is None else local_files_only,
                max_length=self.max_length,
                max_tokens_per_batch=self.max_tokens_per_batch,
                max_items_per_batch=self.max_items_per_batch,
                chunk_tokens=self.chunk_tokens,
            )
        return self._scorer

    @property
    def sentiment_model(self) -> str:
        return self.load_scorer().sentiment_model

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Class probabilities keyed by label name, one dict per text, in input order."""
        return self.load_scorer().score(texts)

    def score_frame(self, texts: Sequence[str]) -> pl.DataFrame:
        """``p_positive, p_negative, p_neutral`` per text, in input order."""
        probs = self.load_scorer().score_texts(texts)
        return pl.DataFrame(
            {"p_positive": probs[:, 0], "p_negative": probs[:, 1], "p_neutral": probs[:, 2]}
        )

    def score_articles(
        self,
        headlines: Sequence[str],
        bodies: Sequence[str],
        text_mode: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> pl.DataFrame:
        """Per article: token-weighted chunk probabilities and ``n_chunks`` (see ``text_chunks``)."""
        return self.load_scorer().score_articles(headlines, bodies, text_mode or self.text_mode, progress)

    def describe(self) -> dict[str, Any]:
        scorer = self.load_scorer()
        return {
            "backend": "finbert",
            "sentiment_model": scorer.sentiment_model,
            "device": scorer.device,
            "dtype": scorer.dtype,
            "dtype_choice": scorer.dtype_note,
            "attention": scorer.attn_implementation or "default",
        }
