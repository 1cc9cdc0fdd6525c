"""``finsig model download``: put FinBERT's weights where the pipeline will find them offline.

    finsig model download                       # into the Hugging Face cache (HF_HOME / HF_HUB_CACHE)
    finsig model download --to ./finbert        # into a directory to copy to an offline machine;
                                                # then FINSIG_FINBERT_MODEL=/path/to/finbert there
    finsig model download --model ProsusAI/finbert --revision <commit>
    finsig model check                          # can this machine load the model? (no network)

Only ``config.json``, the tokenizer files and one weights file (safetensors if the repository
has it, else ``pytorch_model.bin``) are fetched. After downloading, the model is loaded through
the same code path the pipeline uses and scored on one sentence, so a broken download fails
here and not in the middle of a backfill. The ``finsig`` CLI dispatches ``finsig model ...`` to
:func:`main` with the words after ``model``; ``python -m finsig_assets.sentiment.model_download``
works too (the Docker build uses it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from finsig_assets.sentiment.model_files import DEFAULT_MODEL, MODEL_ENV, REVISION_ENV, default_revision, download
from finsig_assets.sentiment.scoring_types import SentimentUnavailable

PROBE = "Shares rose after the company reported record quarterly profit."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsig model",
        description="Manage FinBERT weights (download for offline use, or check they load).",
    )
    parser.add_argument("action", nargs="?", choices=["download", "check"], default="download")
    parser.add_argument(
        "--model",
        default=None,
        help=f"hub repository id (default: ${MODEL_ENV} if it is not a directory, else {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--revision", default=None, help=f"branch, tag or commit (default ${REVISION_ENV}, else main)"
    )
    parser.add_argument("--to", type=Path, default=None, help="write a self-contained directory here instead of the cache")
    parser.add_argument("--no-verify", action="store_true", help="skip loading and scoring one sentence afterwards")
    return parser


def _default_model_for(action: str) -> str:
    env = os.environ.get(MODEL_ENV)
    if not env:
        return DEFAULT_MODEL
    if action == "check":
        return env
    return DEFAULT_MODEL if Path(env).expanduser().exists() else env


def verify(name_or_path: str, revision: str | None) -> str:
    """Load through the pipeline's code path (never the network) and score one sentence."""
    from finsig_assets.sentiment.finbert_scorer import load_scorer

    scorer = load_scorer(name_or_path, revision=revision, device="cpu", dtype="float32", local_files_only=True)
    probs = scorer.score([PROBE])[0]
    return f"{scorer.sentiment_model} loads; {PROBE!r} -> " + ", ".join(f"{k} {v:.3f}" for k, v in probs.items())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    model = args.model or _default_model_for(args.action)
    args.revision = args.revision or default_revision()
    try:
        if args.action == "check":
            print(verify(model, args.revision))
            return 0
        resolved = download(model, args.revision, to=args.to)
        print(f"downloaded {resolved.model_id}@{resolved.revision} to {resolved.path}")
        target = str(resolved.path) if args.to else model
        if not args.no_verify:
            print(verify(target, resolved.revision if not args.to else None))
        if args.to:
            print(f"on the offline machine: export {MODEL_ENV}={resolved.path}  (after copying the directory)")
        else:
            print("the Hugging Face cache now holds it; set HF_HUB_OFFLINE=1 to make sure runs never reach the hub")
        return 0
    except SentimentUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # network, authentication, disk
        print(
            f"could not download {model}@{args.revision or 'main'}: {type(exc).__name__}: {exc}\n"
            "`finsig model download` needs access to huggingface.co (HF_ENDPOINT for a mirror, HF_TOKEN if"
            " the repository is gated). On a machine without it, download elsewhere with --to DIR, copy the"
            f" directory, and set {MODEL_ENV}=/path/to/DIR.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
