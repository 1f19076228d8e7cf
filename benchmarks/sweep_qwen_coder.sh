#!/bin/bash
# The committed Qwen2.5-Coder 0.5B / 1.5B ladder (issue 16): the only same-family size
# pair on the package index (benchmarks/assemble_models.sh puts the two Q4_K_M files in
# .models/). Resumable: rerunning skips every stored cell. Runs at low priority.
#
#   nohup benchmarks/sweep_qwen_coder.sh > sweep.log 2>&1 &
#
# Order = priority, cheap before dear, so an interrupted sweep still answers the main
# question on the equal-size rungs (0.5B F16 vs 1.5B Q4_K_M / Q3_K_M / Q2_K) first:
#   A. kld against the top rung (F16 first: it is the reference; its ppl_ratio is the
#      perplexity proxy), with the pp512/tg128 speed probe;
#   B. arc_easy and arithmetic (250 each);
#   C. humaneval (all 164), then mmlu (513 = 9 per subject);
#   D. lambada (250) and lambada_ppl;
#   E. IQ4_XS and 0.5B Q8_0, then the rest of both ladders, cheap tasks first.
# Per-item scores (for paired tests) go to measurements/items/qwen_coder_cpu.jsonl.
#
# CODE=<folder> runs the sweep with the advisor package of another checkout (a frozen
# copy), so edits to this one during a sweep of hours cannot change it half-way.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$REPO/.venv/bin/activate"
cd "${CODE:-$REPO}"  # `python -m` imports advisor from the working directory
export COLUMNS=200
export ADVISOR_CACHE="${ADVISOR_CACHE:-$REPO/.models/advisor-cache}"
export ADVISOR_ITEM_SCORES="$REPO/measurements/items/qwen_coder_cpu.jsonl"
STORE="$REPO/measurements/qwen_coder_cpu.jsonl"
SMALL="$REPO/.models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
LARGE="$REPO/.models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
ALL=F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K
# One thread: on a shared 2-core machine llama.cpp's two OpenMP threads stall whenever one
# is descheduled (measured 2-12x slower under load); set THREADS=2 on an idle machine.
THREADS="${THREADS:-1}"

measure() {  # model quants tasks limit [extra flags]
  local model=$1 quants=$2 tasks=$3 limit=$4
  shift 4
  echo "== $(date -Is) $(basename "$model") $quants $tasks limit=$limit"
  nice -n 10 python -m advisor.cli measure "$model" --quants "$quants" --tasks "$tasks" \
    --limit "$limit" --context 1024 --threads "$THREADS" --store "$STORE" "$@" || echo "!! exit $?"
}

# A-D: the equal-size rungs
measure "$SMALL" F16 kld,lambada_ppl 300
measure "$LARGE" F16,Q4_K_M,Q3_K_M,Q2_K kld 300
measure "$SMALL" F16 arc_easy,arithmetic 250 --no-speed
measure "$LARGE" Q4_K_M,Q3_K_M,Q2_K arc_easy,arithmetic 250 --no-speed
measure "$SMALL" F16 humaneval,mmlu 513 --no-speed
measure "$LARGE" Q4_K_M,Q3_K_M,Q2_K humaneval 513 --no-speed
measure "$LARGE" Q4_K_M,Q3_K_M,Q2_K mmlu 513 --no-speed
measure "$SMALL" F16 lambada 250 --no-speed
measure "$LARGE" Q4_K_M,Q3_K_M,Q2_K lambada 250 --no-speed
measure "$LARGE" Q4_K_M,Q3_K_M,Q2_K lambada_ppl 300 --no-speed
# E: the rest of the ladders
measure "$SMALL" Q8_0,Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K kld 300
measure "$LARGE" IQ4_XS,Q8_0,Q6_K,Q5_K_M kld 300
measure "$SMALL" Q8_0,Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K arc_easy,arithmetic 250 --no-speed
measure "$LARGE" IQ4_XS,F16,Q8_0,Q6_K,Q5_K_M arc_easy,arithmetic 250 --no-speed
measure "$SMALL" Q8_0,Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K humaneval,mmlu 513 --no-speed
measure "$LARGE" IQ4_XS,F16,Q8_0,Q6_K,Q5_K_M humaneval,mmlu 513 --no-speed
measure "$SMALL" Q8_0,Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K lambada 250 --no-speed
measure "$LARGE" IQ4_XS,F16,Q8_0,Q6_K,Q5_K_M lambada 250 --no-speed
echo "SWEEP-DONE $(date -Is)"
