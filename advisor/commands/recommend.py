"""`advisor recommend`: the configs that fit a memory budget, ranked by evidence."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from advisor.commands._output import (
    add_json_flag,
    add_store_flag,
    add_wide_flag,
    budget_heading,
    check_budget_text,
    gb,
    print_json,
    styled,
    text_table,
    use_store,
)
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
    p.add_argument(
        "--vram",
        metavar="SIZE",
        help="GPU memory budget, e.g. 24GB or 24GiB; 2x24GB for two GPUs (default: detected)",
    )
    p.add_argument(
        "--hardware",
        metavar="ID",
        help="a bundled hardware profile instead of --vram, e.g. rtx-4090-24gb or "
        "'2x rtx-3090-24gb' (see `advisor profiles hardware`); its bandwidth sets the speeds "
        "(default: none, the typical card of the budget's size)",
    )
    p.add_argument(
        "--ram",
        metavar="SIZE",
        help="system RAM: alone, the budget for CPU inference (e.g. 32GB); with --vram or a GPU "
        "--hardware, the RAM llama.cpp may offload layers or MoE experts to (e.g. 64GB) "
        "(default: none; with no budget option at all, the detected memory is the budget)",
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
        help="only these models, by name or id (repeatable), e.g. Qwen2.5-7B-Instruct "
        "(default: every model of --variant)",
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
    p.add_argument(
        "--min-speed",
        type=_speed,
        default=5.0,
        metavar="TOK/S",
        help="keep only configs that decode at least this many tokens/s at the full context "
        "(default 5, about reading speed; 0 keeps everything)",
    )
    p.add_argument(
        "--no-speed",
        action="store_true",
        help="skip speed estimates (and the --min-speed filter)",
    )
    add_store_flag(p)
    add_wide_flag(p)
    add_json_flag(p, "recommend")
    p.set_defaults(func=run)


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected tokens/s such as 10, got {text!r}") from None
    if not 0 <= value < 1e6:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1e6 tokens/s, got {text}")
    return value


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

    for flag, value in (("--vram", args.vram), ("--ram", args.ram)):
        check_budget_text(flag, value)
    for flag, names in (("--family", args.family), ("--model", args.model)):
        if names and any(not n.strip() for n in names):
            raise AdvisorError(f"{flag} is empty: give a name (see `advisor profiles`)")
    use_store(args.store)
    if args.hardware is not None and not args.hardware.strip():
        raise AdvisorError(
            "--hardware is empty: give a profile id (see `advisor profiles hardware`)"
        )
    if args.hardware is not None and args.vram is not None:
        raise AdvisorError("give --vram or --hardware, not both")
    with_gpu = args.vram is not None or args.hardware is not None
    budget = args.vram if args.vram is not None else (None if with_gpu else args.ram)
    ram = args.ram if with_gpu else None
    device = "cuda" if args.vram is not None else ("cpu" if args.ram is not None else None)
    if args.hardware is not None:
        device = None
    min_speed = None if args.no_speed or args.min_speed == 0 else args.min_speed
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
        ram=ram,
        speed=not args.no_speed,
        min_speed=min_speed,
        speed_top=max(40, args.top),
    )
    if args.json:
        print_json(rec.to_dict(top=args.top, per_model=not args.all_formats), "recommend")
        return 0 if rec.ranked else 1
    render(rec, args.top, per_model=not args.all_formats)
    return 0 if rec.ranked else 1


SPEED_MARKS = {"measured here": "●", "published": "◆", "predicted": "○"}


def _speed_cell(c: Any) -> str:
    est = c.speed
    if est is None:
        return "-"
    rate = est.decode
    return (
        f"{rate.mean:.0f}{SPEED_MARKS.get(est.evidence.kind, '')}"
        if rate.mean >= 10
        else (f"{rate.mean:.1f}{SPEED_MARKS.get(est.evidence.kind, '')}")
    )


def render(rec: Recommendation, top: int, per_model: bool = True) -> None:
    """A compact table, then per row: where the score comes from, what to download and
    the command that runs it."""
    print(
        f"{styled('Budget')} {budget_heading(rec.budget)}; "
        f"{rec.safety_margin:.0%} kept free -> {gb(rec.usable_bytes)} usable, each config "
        f"budgeted at the memory model's calibrated upper bound. Task {styled(rec.task)}, "
        f"context {rec.context_tokens} tokens, KV cache {rec.kv_cache_type}, backend "
        f"{rec.backend}, {rec.variant} models."
    )
    for note in rec.notes:
        print(styled(f"note: {note}", "dim"))
    if not rec.ranked:
        s = rec.smallest
        if s is None:
            raise AdvisorError("no candidate configs for this question")
        why = "; ".join(f"{n} {k}" for k, n in rec.limits.items() if n)
        raise AdvisorError(
            f"nothing fits in {gb(rec.usable_bytes)}: the smallest candidate, {s.label}, "
            f"needs {gb(s.memory_bytes)} at {rec.context_tokens} tokens "
            f"(weights {gb(s.footprint.weight_bytes)}, KV {gb(s.footprint.kv_bytes)})"
            + (f"; left out: {why}" if why else "")
        )
    headers = ["#", "model", "format", "bits/w", "GB = weights+KV+other", "where", "tok/s",
               "score", "evidence"]  # fmt: skip
    rows, footnotes = [], []
    shown = rec.best_per_model() if per_model else rec.ranked
    explanation = rec.explanation()
    if explanation:
        print(styled("Pick: ") + explanation)
    for i, c in enumerate(shown[:top], start=1):
        fp = c.footprint
        est = c.estimate
        other = fp.total_bytes - fp.weight_bytes - fp.kv_bytes
        memory = (
            f"{fp.total_bytes / 1e9:.1f} = {fp.weight_bytes / 1e9:.1f}+"
            f"{fp.kv_bytes / 1e9:.1f}+{other / 1e9:.1f}"
        )
        data = c.to_dict()
        if est is None:
            score, evidence = "-", "none"
            footnotes.append(f"[{i}] no evidence for {rec.task}")
        else:
            score = est.notation()
            footnotes.append(f"[{i}] {est.describe()}")
            if est.disagreement:
                footnotes.append(styled(f"    evidence disagrees: {est.disagreement}", "yellow"))
                score += " !"
            evidence = f"{est.kind} [{i}]"
        speed = c.speed
        if speed is not None:
            footnotes.append(
                f"    speed: decode {speed.decode} tok/s at {rec.context_tokens} tokens of "
                f"context, first token after {speed.time_to_first_token_s} s for a "
                f"{rec.context_tokens}-token prompt ({speed.evidence.kind}: "
                f"{speed.evidence.source})"
            )
        if data.get("make") and data["make"].get("command"):
            footnotes.append(f"    make: {data['make']['command']}")
        elif data.get("get"):
            art = data.get("artifact") or {}
            size = art.get("size_bytes") or art.get("size_approx_bytes")
            exact = (
                ""
                if not size
                else (f" ({size / 1e9:.2f} GB{'' if art.get('size_exact') else ', approx.'})")
            )
            footnotes.append(f"    get: {data['get']}{exact}")
        if data.get("run"):
            footnotes.append(f"    run: {data['run']}")
        rows.append([str(i), c.arch.name, c.format.name, f"{c.bits_per_weight:.2f}", memory,
                     data.get("where") or "-", _speed_cell(c), score, evidence])  # fmt: skip
    right = [True, False, False, True, True, False, True, True, False]
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
    left = "; ".join(f"{n} {k}" for k, n in rec.limits.items() if n)
    print(
        styled(
            f"Showing {scope}, {order}; a model's formats within half a point of its best "
            f"are equal, the fastest leads. {len(rec.ranked)} of {rec.considered} configs fit"
            + (f" (left out: {left})" if left else "")
            + f"; {with_evidence} have evidence for {rec.task}. GB = 10^9 bytes: weights + KV "
            f"cache + other (compute buffer, runtime overhead, recurrent state); fits are "
            f"judged on the memory model's calibrated upper bound. tok/s: decode at the full "
            f"context, ● measured here ◆ published ○ predicted. Scores: accuracy in % "
            f"(perplexity: lower is better); "
            f"measured 49.7 ± 2.9 se, predicted 73.4 [69.2–76.0] = mean [90% interval]; ! = "
            f"evidence disagrees. --json for everything.",
            "dim",
        )
    )
