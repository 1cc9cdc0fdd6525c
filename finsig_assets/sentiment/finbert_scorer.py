"""The FinBERT scoring engine: a loaded model and tokenizer, batching, OOM back-off, labels by name.

:class:`FinBERTScorer` is plain Python (no Dagster) so that tests and the benchmark drive the
same code the resource runs. :func:`load_scorer` loads a model once per process and caches it
by (weights directory, device, dtype request): a Dagster run's resources, a second
materialization in the same process and the benchmark all share one copy.

Performance choices, each against what the reference system did:

* texts are tokenized once, without padding, and sorted longest first; batches are bounded by
  a token budget (padded tokens) and an item cap, and padded only to their longest text
  (:mod:`finsig_assets.sentiment.batching`); a batch with no padding passes no mask at all;
* ``torch.inference_mode()``, ``model.eval()``, SDPA attention where the model supports it;
* dtype ``auto``: bf16 on CUDA devices that support it, else fp16 on CUDA; on CPU bf16 only
  when the CPU has native bf16 *and* a timed forward pass says it is faster than fp32 (on CPUs
  without AMX it usually is not); fp32 elsewhere (MPS included, to stay exact);
* on CUDA the next batch is launched before the previous one's probabilities are copied back.

Labels come from ``model.config.id2label`` (case-insensitive names), never from a position.
A CUDA out-of-memory error halves the failed batch's padded size and retries; once a single
text does not fit, or on any other error, scoring stops with :class:`SentimentScoringError`
and nothing is filled in.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from finsig_assets.sentiment.batching import next_batch_end, pad_batch, sort_longest_first
from finsig_assets.sentiment.model_files import ResolvedModel, resolve_model
from finsig_assets.sentiment.scoring_types import (
    LABELS,
    FinBERTUnavailable,
    Progress,
    SentimentScoringError,
    check_text_mode,
    sentiment_model_name,
)
from finsig_assets.sentiment.text_chunks import score_articles_with, word_windows

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: Opt-in, CPU only: dynamic int8 quantization of the Linear layers (weights int8, activations
#: quantized per batch). About twice as fast as fp32 on CPUs with VNNI, but an approximation of
#: FinBERT (probabilities move by ~1e-2), so rows record the revision with a ``+int8`` suffix and
#: never share cache entries with the full-precision model. Never chosen by ``auto``.
INT8 = "int8"
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
#: Default batch limits per device kind: (padded tokens per batch, texts per batch).
BATCH_DEFAULTS = {"cpu": (4096, 128), "mps": (16384, 256), "cuda": (131072, 4096)}
CPU_DTYPE_PROBE_ROUNDS = 3
SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def label_columns(id2label: dict[Any, str]) -> list[int]:
    """Output columns of the model for ``LABELS`` (positive, negative, neutral), found by name."""
    by_name: dict[str, int] = {}
    for idx, name in id2label.items():
        key = str(name).strip().lower()
        if key in by_name:
            raise FinBERTUnavailable(f"id2label names {key!r} twice: {id2label}")
        by_name[key] = int(idx)
    if set(by_name) != set(LABELS):
        raise FinBERTUnavailable(
            f"the model's id2label {dict(id2label)} is not the three sentiment classes {', '.join(LABELS)};"
            " FinBERT-style models name them in config.json"
        )
    return [by_name[label] for label in LABELS]


def resolve_device(requested: str) -> str:
    requested = (requested or "auto").strip().lower()
    if requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise FinBERTUnavailable(f"device {requested!r} requested but torch sees no CUDA device")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def normalize_dtype(requested: str) -> str:
    name = (requested or "auto").strip().lower()
    name = _DTYPE_ALIASES.get(name, name)
    if name != "auto" and name not in DTYPES and name != INT8:
        raise ValueError(f"dtype must be auto, {', '.join(DTYPES)} or {INT8} (cpu only); got {requested!r}")
    return name


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # older builds, non-x86
        return False


def _time_forward(model: torch.nn.Module, input_ids: torch.Tensor) -> float:
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(input_ids=input_ids)
        return time.perf_counter() - t0


@dataclass
class DtypeChoice:
    model: torch.nn.Module
    dtype: str
    note: str


def choose_dtype(model: torch.nn.Module, device: str, requested: str) -> DtypeChoice:
    """Apply the requested dtype, or pick one for ``auto`` (see the module docstring)."""
    name = normalize_dtype(requested)
    if name == INT8:
        if device != "cpu":
            raise ValueError(f"dtype int8 (dynamic quantization) runs on cpu only, not {device}")
        import warnings

        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(model.float(), {torch.nn.Linear}, dtype=torch.qint8)
        return DtypeChoice(quantized, INT8, "requested: dynamic int8 Linear layers (approximate)")
    if name != "auto":
        return DtypeChoice(model.to(DTYPES[name]), name, "requested")
    if device.startswith("cuda"):
        name = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return DtypeChoice(model.to(DTYPES[name]), name, f"auto: {name} on {torch.cuda.get_device_name(device)}")
    if device != "cpu" or not cpu_has_native_bf16():
        return DtypeChoice(model.float(), "float32", f"auto: float32 on {device}")
    # Native bf16 on this CPU: keep it only if it is measurably faster for a FinBERT-sized batch.
    # Without AMX (avx512_bf16 alone) it usually is not. Timings alternate between the two and
    # compare the fastest of each (interference from other processes only ever adds time);
    # bf16 must win by 15 %.
    vocab = int(getattr(model.config, "vocab_size", 1000))
    generator = torch.Generator().manual_seed(0)
    probe = torch.randint(min(5, vocab - 1), vocab, (32, 32), generator=generator)
    fp32 = model.float()
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    _time_forward(fp32, probe), _time_forward(bf16, probe)  # warm-up
    t32, t16 = [], []
    for _ in range(CPU_DTYPE_PROBE_ROUNDS):
        t32.append(_time_forward(fp32, probe))
        t16.append(_time_forward(bf16, probe))
    speedup = min(t32) / min(t16)
    if speedup >= 1.15:
        return DtypeChoice(bf16, "bfloat16", f"auto: cpu bf16 measured {speedup:.2f}x fp32 speed")
    del bf16
    return DtypeChoice(fp32, "float32", f"auto: cpu bf16 measured {speedup:.2f}x fp32 speed, kept fp32")


@dataclass
class FinBERTScorer:
    """A loaded FinBERT (or any 3-class positive/negative/neutral classifier) and how to batch it."""

    model: Any  # torch module (or a test wrapper) returning ``.logits``
    tokenizer: Any
    model_id: str
    revision: str
    device: str
    dtype: str
    max_length: int = 512
    max_tokens_per_batch: int = 4096
    max_items_per_batch: int = 128
    chunk_tokens: int = 64
    dtype_note: str = ""
    attn_implementation: str = ""
    backend: str = "finbert"
    oom_events: list[dict[str, int]] = field(default_factory=list)
    batches_run: int = 0

    def __post_init__(self) -> None:
        self.columns = label_columns(self.model.config.id2label)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0)

    @property
    def sentiment_model(self) -> str:
        return sentiment_model_name(self.model_id, self.revision)

    def replace(self, **changes: Any) -> FinBERTScorer:
        """A copy with other settings (or a wrapped model) sharing the loaded weights."""
        changes.setdefault("oom_events", [])
        changes.setdefault("batches_run", 0)
        return replace(self, **changes)

    # --- tokens -----------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated to ``max_length``, unpadded."""
        return self.tokenizer(
            list(texts),
            add_special_tokens=True,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

    def count(self, texts: Sequence[str]) -> list[int]:
        """Content tokens per text (no special tokens, no truncation): the chunker's measure."""
        if not texts:
            return []
        ids = self.tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
        )["input_ids"]
        return [len(x) for x in ids]

    def split(self, text: str, limit: int) -> list[str]:
        """``text`` cut at word boundaries into pieces of at most ``limit`` WordPiece tokens."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets, word_ids = enc["offset_mapping"], enc.word_ids()
        spans: list[list[int]] = []  # per word: [first token, last token + 1]
        for tok, word in enumerate(word_ids):
            if spans and word is not None and word == word_ids[spans[-1][0]]:
                spans[-1][1] = tok + 1
            else:
                spans.append([tok, tok + 1])
        counts = [end - start for start, end in spans]
        pieces: list[str] = []
        for w0, w1 in word_windows(spans, counts, limit):
            t0, t1 = spans[w0][0], spans[w1 - 1][1]
            # A single word longer than the limit (a URL, a ticker soup) is cut between tokens.
            for s in range(t0, t1, limit):
                e = min(s + limit, t1)
                piece = text[offsets[s][0] : offsets[e - 1][1]].strip()
                if piece:
                    pieces.append(piece)
        return pieces

    # --- scoring ----------------------------------------------------------------------
    def score_texts(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Probabilities ``(len(texts), 3)`` in ``LABELS`` order, rows in input order."""
        n = len(texts)
        out = np.empty((n, len(LABELS)), dtype=np.float64)
        if n == 0:
            return out
        ids = self.encode(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = sort_longest_first(lengths)
        sorted_lengths = lengths[order]
        budget = int(self.max_tokens_per_batch)
        start, done = 0, 0
        pending: tuple[np.ndarray, torch.Tensor] | None = None
        while start < n:
            end = next_batch_end(sorted_lengths, start, budget, self.max_items_per_batch)
            rows = order[start:end]
            try:
                probs = self._forward([ids[i] for i in rows])
            except torch.cuda.OutOfMemoryError as exc:
                budget = self._back_off(exc, end - start, int(sorted_lengths[start]), budget)
                continue
            except Exception as exc:
                raise SentimentScoringError(
                    f"FinBERT failed on a batch of {end - start} texts of up to {int(sorted_lengths[start])} tokens"
                    f" on {self.device} ({self.dtype}): {type(exc).__name__}: {exc}"
                ) from exc
            self.batches_run += 1
            if pending is not None:
                done += self._collect(pending, out)
                if progress:
                    progress(done, n)
            pending = (rows, probs)
            start = end
        done += self._collect(pending, out)
        if progress:
            progress(done, n)
        return out

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """``[{"positive": p, "negative": p, "neutral": p}, ...]`` in input order."""
        probs = self.score_texts(texts)
        return [dict(zip(LABELS, map(float, row))) for row in probs]

    def score_articles(
        self,
        headlines: Sequence[str],
        bodies: Sequence[str],
        text_mode: str,
        progress: Progress | None = None,
    ) -> "pl.DataFrame":
        """Per article: token-weighted chunk probabilities ``p_positive/p_negative/p_neutral`` and ``n_chunks``."""
        check_text_mode(text_mode)
        limit = max(1, self.chunk_tokens - SPECIAL_TOKENS)
        return score_articles_with(self.score_texts, self, headlines, bodies, text_mode, limit, progress)

    def _forward(self, batch_ids: list[list[int]]) -> torch.Tensor:
        input_ids, mask = pad_batch(batch_ids, self.pad_id)
        ids_t = torch.from_numpy(input_ids)
        mask_t = None if mask.all() else torch.from_numpy(mask)
        if self.device != "cpu":
            pin = self.device.startswith("cuda")
            ids_t = (ids_t.pin_memory() if pin else ids_t).to(self.device, non_blocking=pin)
            if mask_t is not None:
                mask_t = (mask_t.pin_memory() if pin else mask_t).to(self.device, non_blocking=pin)
        with torch.inference_mode():
            return self.model(input_ids=ids_t, attention_mask=mask_t).logits.float()

    def _collect(self, pending: tuple[np.ndarray, torch.Tensor] | None, out: np.ndarray) -> int:
        """Copy a batch's logits back (this is where CUDA syncs) and softmax them in float64."""
        if pending is None:
            return 0
        rows, logits = pending
        z = logits.to("cpu").numpy().astype(np.float64)[:, self.columns]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        out[rows] = z / z.sum(axis=1, keepdims=True)
        return len(rows)

    def _back_off(self, exc: BaseException, n_items: int, longest: int, budget: int) -> int:
        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
        if n_items <= 1:
            raise SentimentScoringError(
                f"CUDA ran out of memory scoring a single text of {longest} tokens on {self.device} ({self.dtype}),"
                f" after halving the batch budget down to {budget} tokens. Free GPU memory (another process may"
                " hold it), lower max_length, or set the sentiment resource's device to cpu. No scores were"
                f" written. ({_first_line(exc)})"
            ) from exc
        new_budget = max(1, (n_items * longest) // 2)
        self.oom_events.append({"failed_items": n_items, "failed_tokens": n_items * longest, "new_budget": new_budget})
        log.warning(
            "CUDA out of memory on a batch of %d texts x %d tokens; retrying with a budget of %d tokens",
            n_items, longest, new_budget,
        )
        return new_budget


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --- loading, once per process --------------------------------------------------------
_LOADED: dict[tuple[str, str, str], FinBERTScorer] = {}
_LOAD_LOCK = threading.Lock()


def load_model(resolved: ResolvedModel, device: str, dtype: str) -> tuple[Any, Any, str, DtypeChoice]:
    """Tokenizer and model from a local directory (never the network), on ``device``, eval mode."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), local_files_only=True)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(resolved.path), local_files_only=True, dtype=torch.float32, attn_implementation="sdpa"
            )
        except (ValueError, ImportError):  # an architecture without SDPA support
            model = AutoModelForSequenceClassification.from_pretrained(
                str(resolved.path), local_files_only=True, dtype=torch.float32
            )
    except (OSError, ValueError, EnvironmentError) as exc:
        raise FinBERTUnavailable(
            f"could not load the model in {resolved.path} ({resolved.model_id}@{resolved.revision}):"
            f" {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise FinBERTUnavailable(f"the tokenizer in {resolved.path} is not a fast (Rust) tokenizer")
    label_columns(model.config.id2label)  # fail at load time, not mid-run
    model.eval()
    model.to(device)
    choice = choose_dtype(model, device, dtype)
    choice.model.eval()
    attn = str(getattr(choice.model.config, "_attn_implementation", "") or "")
    return tokenizer, choice.model, attn, choice


def load_scorer(
    model_name_or_path: str,
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    local_files_only: bool = False,
    max_length: int = 512,
    max_tokens_per_batch: int = 0,
    max_items_per_batch: int = 0,
    chunk_tokens: int = 64,
) -> FinBERTScorer:
    """Resolve the weights, load them once per process, and return a scorer with these settings."""
    resolved = resolve_model(model_name_or_path, revision, local_files_only)
    device_name = resolve_device(device)
    key = (str(resolved.path), device_name, normalize_dtype(dtype))
    with _LOAD_LOCK:
        base = _LOADED.get(key)
        if base is None:
            t0 = time.perf_counter()
            tokenizer, model, attn, choice = load_model(resolved, device_name, dtype)
            base = FinBERTScorer(
                model=model,
                tokenizer=tokenizer,
                model_id=resolved.model_id,
                revision=resolved.revision + ("+int8" if choice.dtype == INT8 else ""),
                device=device_name,
                dtype=choice.dtype,
                dtype_note=choice.note,
                attn_implementation=attn,
            )
            _LOADED[key] = base
            log.info(
                "loaded %s from %s on %s (%s, %s attention) in %.1fs",
                base.sentiment_model, resolved.path, device_name, choice.note, attn or "default",
                time.perf_counter() - t0,
            )
    kind = "cuda" if device_name.startswith("cuda") else device_name if device_name in BATCH_DEFAULTS else "cpu"
    default_tokens, default_items = BATCH_DEFAULTS[kind]
    return base.replace(
        max_length=int(max_length),
        max_tokens_per_batch=int(max_tokens_per_batch or default_tokens),
        max_items_per_batch=int(max_items_per_batch or default_items),
        chunk_tokens=int(chunk_tokens),
    )
