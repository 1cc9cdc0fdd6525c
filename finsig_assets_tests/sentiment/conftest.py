"""A tiny random FinBERT-shaped model with its own WordPiece vocabulary, saved like a real one.

No download anywhere: the vocabulary is written here, the weights are random (seeded), and the
model is saved with ``save_pretrained`` and loaded back through the resource's real code path
(``model_files.resolve_model`` -> ``AutoTokenizer``/``AutoModelForSequenceClassification``).
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

WORDS = """
the a an of to in on and for with as at by from after before over under up down is are was were be
has have had will would could may not no it its this that their they we our company companies firm
shares stock stocks market markets index s&p sp 500 nasdaq dow investors traders analysts bank banks
fed rate rates inflation jobs report reported reports earnings revenue profit profits loss losses
quarter quarterly year annual guidance outlook forecast estimates beat beats missed miss strong weak
record high low higher lower rise rises rose fall falls fell gain gains gained drop drops dropped
surge surged slump slumped rally rallied plunge plunged growth decline declined cut cuts raise raised
percent billion million dollar dollars oil energy tech technology apple microsoft tesla amazon
chip chips demand sales price prices trade tariffs war economy economic recession crisis risk
says said new first second third ceo cfo chief executive officer deal merger acquisition
""".split()

LABEL_ORDER = ("positive", "negative", "neutral")


def write_vocab(path: Path) -> Path:
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces += chars + ["##" + c for c in string.ascii_lowercase + string.digits]
    pieces += [w for w in dict.fromkeys(WORDS) if w not in pieces]
    path.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return path


def build_tiny_model(directory: Path, id2label: dict[int, str] | None = None, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide BertForSequenceClassification and its tokenizer into ``directory``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = write_vocab(directory / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    id2label = id2label or dict(enumerate(LABEL_ORDER))
    config = BertConfig(
        vocab_size=len(vocab_file.read_text().splitlines()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=3,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        initializer_range=0.3,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def permute_labels(source: Path, target: Path, new_id2label: dict[int, str]) -> Path:
    """The same network with its output rows (and id2label) in another order."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True)
    old = {name.lower(): idx for idx, name in model.config.id2label.items()}
    rows = [old[new_id2label[j].lower()] for j in range(3)]
    with torch.no_grad():
        model.classifier.weight.copy_(model.classifier.weight[rows].clone())
        model.classifier.bias.copy_(model.classifier.bias[rows].clone())
    model.config.id2label = dict(new_id2label)
    model.config.label2id = {v: k for k, v in new_id2label.items()}
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-finbert") / "model")


@pytest.fixture(scope="session")
def permuted_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("tiny-finbert-permuted") / "model"
    return permute_labels(tiny_model_dir, target, {0: "Neutral", 1: "POSITIVE", 2: "negative"})


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache and HF_HUB_OFFLINE=1: nothing can be found or fetched."""
    cache = tmp_path / "hf-home"
    cache.mkdir()
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("FINSIG_FINBERT_MODEL", raising=False)
    return cache


SAMPLE_TEXTS = [
    "Stocks rose after the company reported record quarterly profit.",
    "Oil fell.",
    "The Fed cut rates; investors rallied and the S&P 500 gained 1.2 percent, its best day since March.",
    "Tesla shares plunged 12% after weak guidance and missed estimates on revenue, analysts said.",
    "Apple",
    "Microsoft and Amazon report earnings this week as chip demand and tech sales remain strong despite tariffs.",
    "Banks drop",
    "Inflation report: prices rose 0.3% in the first quarter, higher than the forecast of economists.",
    "Merger deal",
    "Nasdaq slumped as investors sold technology stocks amid recession risk and trade war fears.",
    "Dow up",
    "Energy stocks surged with oil prices.",
]
