"""Where FinBERT's weights come from, and what to do when they are not there.

``model_name_or_path`` (``FINSIG_FINBERT_MODEL``, default ``ProsusAI/finbert``) is either

* a local directory holding ``config.json``, the weights and the tokenizer files, e.g. one
  written by ``finsig model download --to DIR`` (which adds a ``finsig_model.json`` manifest
  naming the hub repository and commit, so rows and cache entries say ``ProsusAI/finbert@<sha>``
  whichever way the weights arrived); a directory without the manifest is identified by its
  path and a sha256 of its weight files, so swapped weights never hit stale cache entries; or
* a Hugging Face hub repository id, looked up in the local hub cache (``HF_HUB_CACHE`` or
  ``HF_HOME/hub``) and fetched from the hub when missing, unless ``HF_HUB_OFFLINE=1`` /
  ``TRANSFORMERS_OFFLINE=1`` or ``local_files_only`` forbid the network. ``local_files_only``
  is the resource's setting, and is always on for ``FINSIG_SENTIMENT_BACKEND=auto`` unless
  ``FINSIG_ALLOW_MODEL_DOWNLOAD=1`` (:func:`downloads_allowed`): ``auto`` looks only at what is
  already on the machine. The revision recorded is the commit hash the snapshot resolved to.

When neither works :class:`FinBERTUnavailable` carries :func:`unavailable_message`, which says
exactly how to provide the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from finsig_assets.sentiment.scoring_types import FinBERTUnavailable

DEFAULT_MODEL = "ProsusAI/finbert"
MODEL_ENV = "FINSIG_FINBERT_MODEL"
ALLOW_DOWNLOAD_ENV = "FINSIG_ALLOW_MODEL_DOWNLOAD"
REVISION_ENV = "FINSIG_FINBERT_REVISION"
MANIFEST = "finsig_model.json"
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
#: What a sequence-classification checkpoint needs, and nothing else (no TF/Flax/ONNX copies).
HUB_PATTERNS = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
]
_TRUE = {"1", "true", "yes", "on"}


def default_model() -> str:
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def default_revision() -> str | None:
    """``FINSIG_FINBERT_REVISION`` (a branch, tag or commit), or None for ``main``."""
    return os.environ.get(REVISION_ENV) or None


def downloads_allowed() -> bool:
    """``FINSIG_ALLOW_MODEL_DOWNLOAD`` is on: ``auto`` may fetch missing weights from the hub."""
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in _TRUE


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``, read now (huggingface_hub reads them at import)."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> Path:
    """The hub cache huggingface_hub would use, resolved from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


@dataclass(frozen=True)
class ResolvedModel:
    path: Path  # a local directory transformers can load with local_files_only=True
    model_id: str  # "ProsusAI/finbert", or the directory for an anonymous local model
    revision: str  # commit hash, or "sha256:<16 hex>" of the weights of an anonymous directory
    source: str  # "local_dir", "hf_cache" or "downloaded"


def looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\")) or os.path.isabs(name) or Path(name).expanduser().exists()


def missing_files(directory: Path) -> list[str]:
    missing = []
    if not (directory / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not any((directory / f).is_file() for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((directory / f).is_file() for f in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    return missing


def weights_fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in WEIGHT_FILES:
        path = directory / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                while block := handle.read(1 << 22):
                    digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def write_manifest(directory: Path, model_id: str, revision: str) -> None:
    (directory / MANIFEST).write_text(json.dumps({"model": model_id, "revision": revision}, indent=2) + "\n")


def resolve_local_dir(directory: Path, requested: str, revision: str | None) -> ResolvedModel:
    if not directory.is_dir():
        raise FinBERTUnavailable(unavailable_message(requested, revision, f"{directory} is not a directory"))
    missing = missing_files(directory)
    if missing:
        raise FinBERTUnavailable(
            unavailable_message(requested, revision, f"{directory} lacks {', '.join(missing)}")
        )
    manifest = directory / MANIFEST
    if manifest.is_file():
        meta = json.loads(manifest.read_text())
        return ResolvedModel(directory, str(meta["model"]), str(meta["revision"]), "local_dir")
    return ResolvedModel(directory, str(directory), weights_fingerprint(directory), "local_dir")


def cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The complete cached snapshot of ``repo_id@revision``, or None (never touches the network)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=hub_cache_dir(),
                local_files_only=True,
                allow_patterns=HUB_PATTERNS + list(WEIGHT_FILES),
            )
        )
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None
    return None if missing_files(path) else path


def download(repo_id: str, revision: str | None = None, to: Path | None = None) -> ResolvedModel:
    """Fetch config, tokenizer and one weights file (safetensors when the repo has it).

    Into the hub cache, or into ``to`` (a directory to copy to an offline machine, with a
    ``finsig_model.json`` manifest recording the repository and commit).
    """
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(repo_id, revision=revision)
    names = {s.rfilename for s in (info.siblings or [])}
    weights = next((w for w in WEIGHT_FILES if w in names), None)
    if weights is None:
        raise FinBERTUnavailable(f"{repo_id}@{info.sha} has none of {', '.join(WEIGHT_FILES)}")
    patterns = HUB_PATTERNS + [weights]
    if to is not None:
        to = Path(to).expanduser().resolve()
        to.mkdir(parents=True, exist_ok=True)
        snapshot_download(repo_id, revision=info.sha, local_dir=to, allow_patterns=patterns)
        write_manifest(to, repo_id, str(info.sha))
        return ResolvedModel(to, repo_id, str(info.sha), "downloaded")
    # By the requested revision (not the sha) so the cache records the branch/tag -> commit ref
    # and a later offline lookup of "main" finds this snapshot.
    path = Path(snapshot_download(repo_id, revision=revision, cache_dir=hub_cache_dir(), allow_patterns=patterns))
    return ResolvedModel(path, repo_id, path.name, "downloaded")


def resolve_model(name_or_path: str, revision: str | None = None, local_files_only: bool = False) -> ResolvedModel:
    """A loadable local directory for ``name_or_path``; :class:`FinBERTUnavailable` when there is none."""
    if looks_like_path(name_or_path):
        return resolve_local_dir(Path(name_or_path).expanduser().resolve(), name_or_path, revision)
    snapshot = cached_snapshot(name_or_path, revision)
    if snapshot is not None:
        return ResolvedModel(snapshot, name_or_path, snapshot.name, "hf_cache")
    if local_files_only or hub_offline():
        why = (
            "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE forbid downloads"
            if hub_offline()
            else f"downloads are off (local_files_only; FINSIG_SENTIMENT_BACKEND=auto downloads only with {ALLOW_DOWNLOAD_ENV}=1)"
        )
        raise FinBERTUnavailable(
            unavailable_message(name_or_path, revision, f"not in the Hugging Face cache at {hub_cache_dir()}, and {why}")
        )
    try:
        return download(name_or_path, revision)
    except FinBERTUnavailable:
        raise
    except Exception as exc:  # network, auth, missing repo: all end in the same advice
        reason = f"not in the Hugging Face cache at {hub_cache_dir()}, and the download failed: {type(exc).__name__}: {_first_line(exc)}"
        raise FinBERTUnavailable(unavailable_message(name_or_path, revision, reason)) from exc


def unavailable_message(name_or_path: str, revision: str | None, reason: str) -> str:
    """The actionable error: the three ways to provide the weights, and the offline fallbacks."""
    rev = revision or "main"
    hub_id = DEFAULT_MODEL if looks_like_path(name_or_path) else name_or_path
    return (
        f"FinBERT weights for {name_or_path!r} (revision {rev}) are not available: {reason}.\n"
        "Provide them in one of these ways:\n"
        f"  1. On a machine with internet access run `finsig model download --model {hub_id} --to ./finbert`,"
        " copy ./finbert to this machine and set FINSIG_FINBERT_MODEL=/path/to/finbert"
        " (or, where the hub is reachable, `finsig model download` fills the Hugging Face cache in place).\n"
        "  2. Set FINSIG_FINBERT_MODEL=/path/to/dir for a directory that already holds config.json,"
        " model.safetensors or pytorch_model.bin, and vocab.txt or tokenizer.json.\n"
        "  3. Use the Docker image built with the pre-download build argument:"
        " `docker build --build-arg FINBERT_PREDOWNLOAD=1 -f docker/Dockerfile .`.\n"
        "To run without FinBERT, set FINSIG_SENTIMENT_BACKEND=lexicon (Loughran-McDonald dictionary)"
        " or FINSIG_SENTIMENT_BACKEND=auto (FinBERT when loadable, else the lexicon, with a warning)."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""
