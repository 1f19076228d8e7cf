#!/bin/bash
# The committed CPU sweep (issue 3). Resumable: rerunning skips stored cells.
cd /work/main && source .venv/bin/activate
export COLUMNS=200
date
nice -n 10 python -m advisor.cli measure .models/SmolLM2-135M-Instruct.Q4_1.gguf --quants F16,Q8_0,Q5_0,Q4_0,Q2_K --tasks arc_easy,lambada,lambada_ppl,arithmetic --limit 300 --context 512 --store measurements/gguf_cpu.jsonl
date
nice -n 10 python -m advisor.cli measure .models/gemma-3-270m-Q4_K_M.gguf --quants F16,Q2_K,Q4_0,Q8_0,Q4_K_M --tasks arc_easy,lambada,lambada_ppl,arithmetic --limit 300 --context 512 --store measurements/gguf_cpu.jsonl
date
echo SWEEP-DONE
