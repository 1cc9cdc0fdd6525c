"""FinBERT throughput: the reference system's way against finsig's resource, on one text set.

A BERT-base-shaped classifier with FinBERT's config (12 layers, 768 hidden, 12 heads, 3
labels; random weights - throughput does not depend on them) and a locally built ~30k-token
WordPiece vocabulary are written to a temporary directory with ``save_pretrained``; both sides
load them from there. The texts (``--texts``, default 2,000) mix headlines of 10-40 tokens
(35 %) and body sentences of 6-62 tokens (65 %, log-normal around 24 tokens, as news sentences
run), so every text fits FinBERT's 64-token training length with [CLS] and [SEP].

(a) reference: fp32, input order, batches of 64, ``tokenizer(padding=True, truncation=True,
    max_length=512)``, ``torch.no_grad()``, the library's default attention;
(b) resource: ``FinBERTScorer`` exactly as ``FinBERTResource`` builds it (sorted token-budget
    batches, inference_mode, SDPA, dtype ``auto`` unless ``--dtype``);
(c) optionally (``--also-dtype int8``) the resource with another dtype.

The sides run in rounds over the same texts, rotating who goes first, so load from other
processes on a shared machine hits all alike. Printed: texts/s each, the ratio to (a), the
CPU-time ratio (process CPU seconds per text: on a machine shared with other busy processes,
wall-clock time is dominated by OpenMP threads waiting for a core, and this ratio is the steadier
one), the largest probability difference to (a) (a correctness check: ~1e-7 in fp32), peak RSS of
this process (all models loaded), and, on CUDA, the share of the GPU's bf16 peak that the
resource's matrix work reaches.

    .venv/bin/python bench/finbert_throughput.py                 # CPU, 2,000 texts
    .venv/bin/python bench/finbert_throughput.py --texts 400     # a quick look
    python3 bench/finbert_throughput.py --device cuda --texts 200000 --rounds 2 \
        --reference-texts 20000 --peak-tflops 989                 # see bench/finbert_gpu.sh
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import string
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from finsig_assets.sentiment.finbert_scorer import load_scorer  # noqa: E402  (no Dagster needed)

HEADLINE_SHARE = 0.35


def build_vocab(path: Path, n_words: int, rng: np.random.Generator) -> list[str]:
    """~30k WordPiece entries: specials, characters, ##-pieces and made-up whole words."""
    letters = np.array(list(string.ascii_lowercase))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + ".,;:!?%$'\"()-")
    pieces = ["##" + c for c in string.ascii_lowercase + string.digits]
    words: dict[str, None] = {}
    while len(words) < n_words:
        size = int(rng.integers(3, 10))
        words["".join(rng.choice(letters, size))] = None
    subwords = ["##" + w[:4] for w in list(words)[:2000]]
    vocab = specials + chars + pieces + list(dict.fromkeys(subwords)) + list(words)
    path.write_text("\n".join(vocab) + "\n")
    return list(words)


def make_texts(n: int, words: list[str], rng: np.random.Generator) -> list[str]:
    """Headlines of 10-40 tokens and body sentences of 6-62 tokens (one token per made-up word)."""
    texts = []
    for _ in range(n):
        if rng.random() < HEADLINE_SHARE:
            length = int(rng.integers(10, 41))
        else:
            length = int(np.clip(round(rng.lognormal(np.log(24), 0.45)), 6, 62))
        chosen = rng.choice(len(words), length - 1)
        texts.append(" ".join(words[i] for i in chosen).capitalize() + ".")
    return texts


def build_model(directory: Path, vocab_words: int, seed: int) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    rng = np.random.default_rng(seed)
    vocab_file = directory / "vocab.txt"
    build_vocab(vocab_file, vocab_words, rng)
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    labels = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order
    config = BertConfig(
        vocab_size=len(vocab_file.read_text().splitlines()),
        num_labels=3,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )  # BERT-base defaults: 12 layers, 768 hidden, 12 heads, 3072 intermediate, 512 positions
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@dataclass
class Side:
    name: str
    fn: Callable[[list[str]], np.ndarray]
    dtype: str
    wall: float = 0.0
    cpu: float = 0.0  # process CPU seconds: less sensitive to other processes on a shared box
    done: int = 0
    max_diff: float = 0.0
    last: np.ndarray | None = None
    last_idx: np.ndarray | None = None

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall else 0.0


class Reference:
    """How the reference system scored: fp32, unsorted batches of 64, pad to longest, max 512."""

    def __init__(self, directory: Path, device: str, batch_size: int = 64):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
        self.model.to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.attn = getattr(self.model.config, "_attn_implementation", "default")

    def score(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[i : i + self.batch_size], padding=True, truncation=True, max_length=512, return_tensors="pt"
            ).to(self.device)
            with torch.no_grad():
                out.append(torch.softmax(self.model(**enc).logits, dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float64)


def encoder_flops(lengths: np.ndarray, batches: list[np.ndarray], layers=12, d=768, ff=3072) -> float:
    """Matrix FLOPs of the padded batches (QKV/out/FFN projections and attention)."""
    total = 0.0
    for rows in batches:
        n, s = len(rows), int(lengths[rows].max())
        total += layers * (2 * n * s * (4 * d * d + 2 * d * ff) + 4 * n * s * s * d)
    return total


def measured_bf16_tflops(n: int = 8192, repeats: int = 10) -> float:
    """What a large bf16 matrix product reaches on this GPU (the achievable ceiling)."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000 / repeats
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 / seconds / 1e12


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--reference-texts", type=int, default=0, help="score only this many with (a) (0 = all)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (the texts are split among them)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto...")
    parser.add_argument("--dtype", default="auto", help="resource dtype: auto, float32, bfloat16, float16")
    parser.add_argument("--also-dtype", default="", help="also time the resource with this dtype (e.g. int8)")
    parser.add_argument("--max-tokens", type=int, default=0, help="resource tokens per batch (0 = device default)")
    parser.add_argument("--max-items", type=int, default=0, help="resource texts per batch (0 = device default)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    parser.add_argument("--vocab-words", type=int, default=28000)
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="GPU bf16 dense peak, for the share printed")
    parser.add_argument("--measure-peak", action="store_true", help="on CUDA, also time an 8192^3 bf16 matmul")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model-dir", type=Path, default=None, help="build the model here, or reuse one built there")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model_dir = args.model_dir or Path(tempfile.mkdtemp(prefix="finbert-bench-"))
    if not (model_dir / "config.json").is_file():
        model_dir.mkdir(parents=True, exist_ok=True)
        build_model(model_dir, args.vocab_words, args.seed)
    vocab = [w for w in (model_dir / "vocab.txt").read_text().splitlines() if len(w) > 2 and w.isalpha()]
    texts = make_texts(args.texts, vocab, np.random.default_rng(args.seed + 1))

    scorer = load_scorer(
        str(model_dir),
        device=args.device,
        dtype=args.dtype,
        local_files_only=True,
        max_tokens_per_batch=args.max_tokens,
        max_items_per_batch=args.max_items,
    )
    device = scorer.device
    reference = Reference(model_dir, device)
    lengths = np.array([len(x) for x in scorer.encode(texts)])
    print(
        f"{len(texts):,} texts, tokens with [CLS]/[SEP]: mean {lengths.mean():.1f}, max {lengths.max()},"
        f" p50 {np.median(lengths):.0f}; torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
    )
    print(
        f"(a) reference: float32, batches of 64 in input order, pad to longest, max_length 512, no_grad,"
        f" {reference.attn} attention"
    )
    print(
        f"(b) resource:  {scorer.dtype} ({scorer.dtype_note}), sorted batches <= {scorer.max_tokens_per_batch} tokens"
        f" / {scorer.max_items_per_batch} texts, inference_mode, {scorer.attn_implementation} attention"
    )

    sides = [Side("reference", reference.score, "float32"), Side("resource", scorer.score_texts, scorer.dtype)]
    if args.also_dtype:
        extra = load_scorer(
            str(model_dir),
            device=args.device,
            dtype=args.also_dtype,
            local_files_only=True,
            max_tokens_per_batch=args.max_tokens,
            max_items_per_batch=args.max_items,
        )
        sides.append(Side(f"resource-{extra.dtype}", extra.score_texts, extra.dtype))
        print(f"(c) resource with dtype={extra.dtype} ({extra.dtype_note}), otherwise as (b)")

    # Warm-up (first calls allocate and pick kernels).
    warm = 256 if device.startswith("cuda") else 16
    for side in sides:
        side.fn(texts[:warm])
    sync(device)

    n_ref = args.reference_texts or len(texts)
    rounds = max(1, args.rounds)
    res_slices = np.array_split(np.arange(len(texts)), rounds)
    ref_slices = np.array_split(np.arange(n_ref), rounds)
    for r in range(rounds):
        # Rotate who goes first, so drifting load from other processes hits every side alike.
        for k in range(len(sides)):
            side = sides[(k + r) % len(sides)]
            idx = ref_slices[r] if side.name == "reference" else res_slices[r]
            batch = [texts[i] for i in idx]
            sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            probs = side.fn(batch)
            sync(device)
            side.wall += time.perf_counter() - t0
            side.cpu += time.process_time() - c0
            side.done += len(batch)
            side.last = probs
            side.last_idx = idx
        ref_side = sides[0]
        for side in sides[1:]:
            common, a, b = np.intersect1d(ref_side.last_idx, side.last_idx, return_indices=True)
            if len(common):
                side.max_diff = max(side.max_diff, float(np.abs(ref_side.last[a] - side.last[b]).max()))
        print(
            f"  round {r + 1}/{rounds}: "
            + ", ".join(f"{s.name} {s.done:,} texts in {s.wall:.1f}s" for s in sides),
            flush=True,
        )

    ref = sides[0]
    figures = {
        "texts": len(texts),
        "device": device,
        "threads": torch.get_num_threads(),
        "mean_tokens": round(float(lengths.mean()), 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "peak_rss_gb": round(peak_rss_gb(), 3),
    }
    for side in sides:
        key = side.name.replace("-", "_")
        figures[f"{key}_dtype"] = side.dtype
        figures[f"{key}_texts_per_s"] = round(side.rate, 2)
        figures[f"{key}_cpu_s_per_1k_texts"] = round(1000 * side.cpu / side.done, 2)
        if side is not ref:
            figures[f"{key}_ratio"] = round(side.rate / ref.rate, 2)
            figures[f"{key}_cpu_time_ratio"] = round((ref.cpu / ref.done) / (side.cpu / side.done), 2)
            figures[f"{key}_max_abs_prob_diff"] = side.max_diff
    for side in sides:
        line = f"{side.name + ':':<17} {side.rate:9,.1f} texts/s ({side.dtype})"
        if side is not ref:
            line += (
                f"  ratio {side.rate / ref.rate:.2f}x; CPU-time ratio"
                f" {(ref.cpu / ref.done) / (side.cpu / side.done):.2f}x; max |p - p_reference| {side.max_diff:.1e}"
            )
        print(line)
    print(
        f"peak RSS: {figures['peak_rss_gb']:.2f} GB (this process, all {len(sides)} models loaded);"
        f" load average {figures['load_average_1min_at_end']:.1f} on {os.cpu_count()} CPUs at the end"
    )
    t_res, res_done = sides[1].wall, sides[1].done
    if device.startswith("cuda"):
        from finsig_assets.sentiment.batching import plan_batches

        batches = plan_batches(lengths, scorer.max_tokens_per_batch, scorer.max_items_per_batch)
        flops = encoder_flops(lengths, batches) * (res_done / len(texts))
        achieved = flops / t_res / 1e12
        figures["resource_tflops"] = round(achieved, 1)
        print(f"resource matrix work: {achieved:.1f} TFLOP/s", end="")
        if args.peak_tflops:
            figures["share_of_bf16_peak"] = round(achieved / args.peak_tflops, 4)
            print(f" = {achieved / args.peak_tflops:.1%} of the {args.peak_tflops:.0f} TFLOP/s bf16 dense peak", end="")
        print()
        if args.measure_peak:
            ceiling = measured_bf16_tflops()
            figures["measured_bf16_matmul_tflops"] = round(ceiling, 1)
            figures["share_of_measured_matmul"] = round(achieved / ceiling, 4)
            print(f"8192^3 bf16 matmul here: {ceiling:.0f} TFLOP/s; the resource reaches {achieved / ceiling:.1%} of it")
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 1024**3:.2f} GiB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    raise SystemExit(main())
