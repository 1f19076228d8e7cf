"""`advisor recommend`: the configs that fit a memory budget, ranked by evidence."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from advisor.commands._output import add_json_flag, gb, print_json, styled, text_table
from advisor.errors import AdvisorError
from advisor.memory import DEFAULT_CONTEXT_TOKENS

if TYPE_CHECKING:
    from advisor.recommender import Recommendation


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "recommend",
        help="rank the model × format configs that fit a memory budget",
        description="Rank the model × format configs that fit a memory budget, by the best "
        "evidence for a task: measured here > published > predicted.",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--vram", metavar="SIZE", help="GPU memory budget, e.g. 24GB or 24GiB")
    budget.add_argument(
        "--hardware",
        metavar="ID",
        help="a bundled hardware profile, e.g. rtx-4090-24gb (see `advisor profiles hardware`)",
    )
    budget.add_argument(
        "--ram", metavar="SIZE", help="system memory budget (CPU inference), e.g. 16GB"
    )
    p.add_argument(
        "--task",
        default="mmlu",
        help="task or group (mmlu, arc_challenge, gsm8k, "
        "hellaswag, wikitext2, ...; groups: reasoning, knowledge, math, code)",
    )
    p.add_argument(
        "--context",
        type=_positive_int,
        default=DEFAULT_CONTEXT_TOKENS,
        help=f"tokens of context to budget for (default {DEFAULT_CONTEXT_TOKENS})",
    )
    p.add_argument(
        "--kv-cache",
        default="f16",
        choices=["f16", "q8_0", "q4_0"],
        help="KV cache type (llama.cpp); transformers keeps f16",
    )
    p.add_argument(
        "--backend",
        default="any",
        choices=["gguf", "bnb", "any"],
        help="formats to consider: llama.cpp GGUF, bitsandbytes, or any",
    )
    p.add_argument(
        "--all-formats",
        action="store_true",
        help="list every model × format that fits (default: each model in its best format)",
    )
    p.add_argument("--top", type=_positive_int, default=10, help="rows to show (default 10)")
    p.add_argument(
        "--family", action="append", help="only these families (repeatable), e.g. qwen2.5"
    )
    p.add_argument(
        "--margin", type=float, default=0.10, help="fraction of the budget kept free (default 0.10)"
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.recommender import recommend

    budget = args.vram or args.ram
    device = "cpu" if args.ram else ("cuda" if args.vram else None)
    if args.hardware:
        from advisor.profiles import hardware_profiles

        profiles = hardware_profiles()
        if args.hardware not in profiles:
            raise AdvisorError(
                f"unknown hardware {args.hardware!r}: one of {', '.join(sorted(profiles))}"
            )
        hw = profiles[args.hardware]
        budget, device = hw.memory_bytes, ("cpu" if hw.kind != "gpu" else "cuda")
    rec = recommend(
        budget=budget,
        task=args.task,
        context=args.context,
        kv_cache=args.kv_cache,
        backend=args.backend,
        device=device,
        safety_margin=args.margin,
        families=args.family,
    )
    if args.json:
        print_json(rec.to_dict(top=args.top, per_model=not args.all_formats), "recommend")
        return 0 if rec.ranked else 1
    render(rec, args.top, per_model=not args.all_formats)
    return 0 if rec.ranked else 1


def render(rec: Recommendation, top: int, per_model: bool = True) -> None:
    """A compact table (fits 80 columns) with the evidence as numbered notes below it."""
    where = "GPU memory" if rec.device == "cuda" else "system RAM"
    print(
        f"{styled('Budget')} {rec.budget_label} of {where}; {rec.safety_margin:.0%} kept free "
        f"-> {gb(rec.usable_bytes)} usable. Task {styled(rec.task)}, context "
        f"{rec.context_tokens} tokens, KV cache {rec.kv_cache_type}, backend {rec.backend}."
    )
    for note in rec.notes:
        print(styled(f"note: {note}", "dim"))
    if not rec.ranked:
        s = rec.smallest
        if s is None:
            raise AdvisorError("no candidate configs: the profiles are empty")
        raise AdvisorError(
            f"nothing fits in {gb(rec.usable_bytes)}: the smallest candidate, {s.label}, "
            f"needs {gb(s.footprint.total_bytes)} at {rec.context_tokens} tokens "
            f"(weights {gb(s.footprint.weight_bytes)}, KV {gb(s.footprint.kv_bytes)})"
        )
    headers = ["#", "model", "format", "bits/w", "GB: total = weights+KV+other", "free", "score",
               "evidence"]  # fmt: skip
    rows, footnotes = [], []
    shown = rec.best_per_model() if per_model else rec.ranked
    explanation = rec.explanation()
    if explanation:
        print(styled("Pick: ") + explanation)
    for i, c in enumerate(shown[:top], start=1):
        fp = c.footprint
        best = c.best
        bpw = fp.weight_bytes * 8 / c.arch.params_total
        memory = (
            f"{fp.total_bytes / 1e9:.1f} = {fp.weight_bytes / 1e9:.1f}+"
            f"{fp.kv_bytes / 1e9:.1f}+{(fp.compute_bytes + fp.overhead_bytes) / 1e9:.1f}"
        )
        if best is None:
            score, evidence = "-", "none"
        else:
            score = f"{best.value:.1f}" if best.higher_is_better else f"{best.value:.2f}"
            if best.uncertainty is not None:
                score += f"±{best.uncertainty:.1f}"
            footnotes.append(f"[{i}] {best.describe()}")
            if c.disagreement:
                footnotes.append(styled(f"    evidence disagrees: {c.disagreement}", "yellow"))
            evidence = f"{best.kind} [{i}]"
        rows.append([str(i), c.arch.name, c.format.name, f"{bpw:.2f}", memory,
                     f"{c.headroom_bytes / 1e9:.1f}", score, evidence])  # fmt: skip
    right = [True, False, False, True, True, True, True, False]
    print(text_table(headers, rows, right, shrink=1))
    print()
    for line in footnotes:
        print(line)
    with_evidence = sum(1 for c in rec.ranked if c.best is not None)
    scope = "each model in its best format (--all-formats for all)" if per_model else "all formats"
    print(
        styled(
            f"Showing {scope}. "
            f"{len(rec.ranked)} of {rec.considered} configs fit; {with_evidence} have evidence "
            f"for {rec.task}. GB = 10^9 bytes; other = compute buffer + runtime overhead; "
            f"free = budget - total. Scores: accuracy in % (perplexity: lower is better). "
            f"--json for everything.",
            "dim",
        )
    )
