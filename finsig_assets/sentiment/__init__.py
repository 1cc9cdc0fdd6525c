"""News sentiment: the FinBERT resource, the lexicon fallback, the score cache, ``silver/news_sentiment``.

Resource key ``sentiment``: :class:`SentimentResource` (a :class:`FinBERTResource` that also
chooses the backend from ``FINSIG_SENTIMENT_BACKEND``). Asset: ``sentiment_assets`` lists
``silver/news_sentiment`` (pool ``gpu``) for the definitions; the asset itself is
``finsig_assets.sentiment.news_sentiment.news_sentiment`` (the package attribute of that name is
the submodule).

Names are imported lazily: ``finsig_assets.sentiment.finbert_scorer`` (torch, transformers,
numpy) can be imported without Dagster or polars, which is how ``bench/finbert_throughput.py``
runs on a bare GPU machine, and loading the definitions does not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "BACKEND_ENV": "backend_selection",
    "SentimentResource": "backend_selection",
    "FinBERTResource": "finbert_resource",
    "FinBERTScorer": "finbert_scorer",
    "load_scorer": "finbert_scorer",
    "LexiconScorer": "lexicon_backend",
    "load_lexicon": "lexicon_backend",
    "MODEL_ENV": "model_files",
    "unavailable_message": "model_files",
    "LABELS": "scoring_types",
    "TEXT_MODES": "scoring_types",
    "FinBERTUnavailable": "scoring_types",
    "SentimentScoringError": "scoring_types",
    "SentimentUnavailable": "scoring_types",
}

__all__ = sorted([*_EXPORTS, "sentiment_assets"])


def __getattr__(name: str):
    if name == "sentiment_assets":
        return [import_module(f"{__name__}.news_sentiment").news_sentiment]
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
