#!/usr/bin/env bash
# FinBERT throughput on a GPU machine: the reference system's way against finsig's resource,
# at large batch sizes (goal on an H200: >= 20,000 texts/s for the resource).
#
#   bash bench/finbert_gpu.sh            # figures to stdout and to $OUT (or bench/out)/finbert_gpu.{log,json}
#   TEXTS=400000 bash bench/finbert_gpu.sh
#
# Needs python3 with a CUDA build of torch, transformers >= 5, tokenizers and numpy (not Dagster,
# polars or DuckDB: the benchmark imports only finsig_assets.sentiment.finbert_scorer). What is
# missing is pip-installed at the project's pins when an index is reachable; on a machine with no
# network and no torch it stops and says so. Runs in about two minutes on an H200, most of it
# building the random BERT-base model and tokenizing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
OUT_DIR="${OUT:-bench/out}"
TEXTS="${TEXTS:-200000}"
REFERENCE_TEXTS="${REFERENCE_TEXTS:-20000}"
MAX_TOKENS="${MAX_TOKENS:-131072}"
MAX_ITEMS="${MAX_ITEMS:-4096}"
PEAK_TFLOPS="${PEAK_TFLOPS:-989}"   # H200 SXM dense bf16 peak from the data sheet
mkdir -p "$OUT_DIR"

check_env() {
  "$PY" - <<'PYEOF'
import numpy, tokenizers, torch, transformers
assert torch.cuda.is_available(), "torch sees no CUDA device"
assert int(transformers.__version__.split(".")[0]) >= 5, f"transformers {transformers.__version__} < 5"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__},"
      f" tokenizers {tokenizers.__version__}, GPU {torch.cuda.get_device_name(0)}")
PYEOF
}

if ! check_env; then
  echo "installing what is missing (torch==2.13.0 transformers==5.24.0 tokenizers==0.23.3 numpy)..." >&2
  "$PY" -m pip install --quiet "torch==2.13.0" "transformers==5.24.0" "tokenizers==0.23.3" numpy \
    || { echo "cannot install: this machine needs torch (CUDA), transformers>=5, tokenizers, numpy" >&2; exit 1; }
  check_env
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv || true

export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
set -o pipefail
"$PY" bench/finbert_throughput.py \
  --device cuda --dtype auto \
  --texts "$TEXTS" --reference-texts "$REFERENCE_TEXTS" --rounds 2 \
  --max-tokens "$MAX_TOKENS" --max-items "$MAX_ITEMS" \
  --peak-tflops "$PEAK_TFLOPS" --measure-peak \
  --model-dir "${MODEL_DIR:-/tmp/finbert-bench-model}" \
  --json "$OUT_DIR/finbert_gpu.json" 2>&1 | grep -v "Loading weights\|Writing model shards" | tee "$OUT_DIR/finbert_gpu.log"
