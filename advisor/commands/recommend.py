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
    from advisor.memory import KV_CACHE_BYTES
    from advisor.recommender import FORMAT_SETS, RISKS, VARIANTS

    p = sub.add_parser(
        "recommend",
        help="rank the model × format configs that fit a memory budget",
        description="Rank the model × format configs that fit a memory budget by what the "
        "evidence for a task supports (measured here, published, or predicted with a 90%% "
        "interval), pessimistic end first. Example: advisor recommend --vram 24GB --task gsm8k",
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
        help="task or group (mmlu, arc_challenge, gsm8k, hellaswag, wikitext2, ifeval, "
        "mmlu_pro, ...; groups: reasoning, knowledge, math, code) (default mmlu)",
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
        choices=[k for k in KV_CACHE_BYTES if k in {"f16", "q8_0", "q4_0"}],
        help="KV cache type (llama.cpp); transformers keeps f16 (default f16)",
    )
    p.add_argument(
        "--backend",
        default="any",
        choices=list(FORMAT_SETS),
        help="formats to consider: llama.cpp GGUF, bitsandbytes, or any (default any)",
    )
    p.add_argument(
        "--variant",
        default="instruct",
        choices=list(VARIANTS),
        help="instruct/chat models (what people deploy), base models, or any (default instruct)",
    )
    p.add_argument(
        "--risk",
        default="averse",
        choices=list(RISKS),
        help="rank by the lower end of each score's 90%% interval (averse) or by its mean "
        "(neutral) (default averse)",
    )
    p.add_argument(
        "--all-formats",
        action="store_true",
        help="list every model × format that fits (default: each model in its best format)",
    )
    p.add_argument("--top", type=_positive_int, default=10, help="rows to show (default 10)")
    p.add_argument(
        "--family",
        action="append",
        help="only these families (repeatable), e.g. qwen2.5 (default: all)",
    )
    p.add_argument(
        "--model",
        action="append",
        help="only these models, by name or id (repeatable), e.g. Qwen2.5-7B-Instruct",
    )
    p.add_argument(
        "--format",
        action="append",
        dest="formats",
        metavar="FORMAT",
        help="only these formats (repeatable), e.g. Q4_K_M (default: the backend's set)",
    )
    p.add_argument(
        "--margin",
        type=_fraction,
        default=None,
        help="fraction of the budget kept free on top of the memory model's calibrated upper "
        "bound (default: 0 for GPU and Apple unified memory, 0.10 of system RAM for the OS)",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.1, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from advisor.recommender import recommend

    budget = args.vram if args.vram is not None else args.ram
    if budget is not None and not budget.strip():
        raise AdvisorError("the memory budget is empty: give a size such as 24GB or 16GiB")
    if args.hardware is not None and not args.hardware.strip():
        raise AdvisorError(
            "--hardware is empty: give a profile id (see `advisor profiles hardware`)"
        )
    device = "cpu" if args.ram is not None else ("cuda" if args.vram is not None else None)
    rec = recommend(
        budget=budget,
        task=args.task,
        context=args.context,
        kv_cache=args.kv_cache,
        backend=args.backend,
        device=device,
        safety_margin=args.margin,
        families=args.family,
        models=args.model,
        formats=args.formats,
        variant=args.variant if not args.model else "any",
        risk=args.risk,
        hardware=args.hardware,
    )
    if args.json:
        print_json(rec.to_dict(top=args.top, per_model=not args.all_formats), "recommend")
        return 0 if rec.ranked else 1
    render(rec, args.top, per_model=not args.all_formats)
    return 0 if rec.ranked else 1


def render(rec: Recommendation, top: int, per_model: bool = True) -> None:
    """A compact table with the evidence as numbered notes below it."""
    print(
        f"{styled('Budget')} {rec.budget_label} of {rec.budget.memory_kind}; "
        f"{rec.safety_margin:.0%} kept free -> {gb(rec.usable_bytes)} usable, each config "
        f"budgeted at the memory model's calibrated upper bound. Task "
        f"{styled(rec.task)}, context {rec.context_tokens} tokens, KV cache "
        f"{rec.kv_cache_type}, backend {rec.backend}, {rec.variant} models."
    )
    for note in rec.notes:
        print(styled(f"note: {note}", "dim"))
    if not rec.ranked:
        s = rec.smallest
        if s is None:
            raise AdvisorError("no candidate configs for this question")
        raise AdvisorError(
            f"nothing fits in {gb(rec.usable_bytes)}: the smallest candidate, {s.label}, "
            f"needs {gb(s.memory_bytes)} at {rec.context_tokens} tokens "
            f"(weights {gb(s.footprint.weight_bytes)}, KV {gb(s.footprint.kv_bytes)})"
        )
    headers = ["#", "model", "format", "bits/w", "GB: total = weights+KV+other", "free",
               "score", "evidence"]  # fmt: skip
    rows, footnotes = [], []
    shown = rec.best_per_model() if per_model else rec.ranked
    explanation = rec.explanation()
    if explanation:
        print(styled("Pick: ") + explanation)
    for i, c in enumerate(shown[:top], start=1):
        fp = c.footprint
        est = c.estimate
        memory = (
            f"{fp.total_bytes / 1e9:.1f} = {fp.weight_bytes / 1e9:.1f}+"
            f"{fp.kv_bytes / 1e9:.1f}+{(fp.compute_bytes + fp.overhead_bytes) / 1e9:.1f}"
        )
        if est is None:
            score, evidence = "-", "none"
        else:
            score = est.notation()
            footnotes.append(f"[{i}] {est.describe()}")
            if est.disagreement:
                footnotes.append(styled(f"    evidence disagrees: {est.disagreement}", "yellow"))
                score += " !"
            evidence = f"{est.kind} [{i}]"
        rows.append([str(i), c.arch.name, c.format.name, f"{c.bits_per_weight:.2f}", memory,
                     f"{c.headroom_bytes / 1e9:.1f}", score, evidence])  # fmt: skip
    right = [True, False, False, True, True, True, True, False]
    print(text_table(headers, rows, right, shrink=1))
    print()
    for line in footnotes:
        print(line)
    with_evidence = sum(1 for c in rec.ranked if c.estimate is not None)
    scope = "each model in its best format (--all-formats for all)" if per_model else "all formats"
    order = (
        "ranked by the lower end of the 90% interval (--risk neutral: by the mean)"
        if rec.risk == "averse"
        else "ranked by the mean (--risk averse: by the interval's lower end)"
    )
    print(
        styled(
            f"Showing {scope}, {order}. {len(rec.ranked)} of {rec.considered} configs fit; "
            f"{with_evidence} have evidence for {rec.task}. GB = 10^9 bytes; other = compute "
            f"buffer + runtime overhead; free = budget - total. Scores: accuracy in % "
            f"(perplexity: lower is better); measured 49.7 ± 2.9 se, predicted 73.4 "
            f"[69.2–76.0] = mean [90% interval]; ! = evidence disagrees. --json for everything.",
            "dim",
        )
    )
