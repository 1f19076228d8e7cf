"""`advisor recommend`: the configs that fit a memory budget, ranked by evidence."""

from __future__ import annotations

import argparse

from advisor.commands._output import add_json_flag, console, gb, params_label, print_json
from advisor.errors import AdvisorError
from advisor.memory import DEFAULT_CONTEXT_TOKENS


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
    budget.add_argument("--ram", metavar="SIZE", help="system memory budget (CPU inference), e.g. 16GB")
    p.add_argument("--task", default="mmlu", help="task or group (mmlu, arc_challenge, gsm8k, "
                   "hellaswag, wikitext2, ...; groups: reasoning, knowledge, math, code)")
    p.add_argument("--context", type=_positive_int, default=DEFAULT_CONTEXT_TOKENS,
                   help=f"tokens of context to budget for (default {DEFAULT_CONTEXT_TOKENS})")
    p.add_argument("--kv-cache", default="f16", choices=["f16", "q8_0", "q4_0"],
                   help="KV cache type (llama.cpp); transformers keeps f16")
    p.add_argument("--backend", default="any", choices=["gguf", "bnb", "any"],
                   help="formats to consider: llama.cpp GGUF, bitsandbytes, or any")
    p.add_argument("--top", type=_positive_int, default=10, help="rows to show (default 10)")
    p.add_argument("--family", action="append", help="only these families (repeatable), e.g. qwen2.5")
    p.add_argument("--margin", type=float, default=0.10,
                   help="fraction of the budget kept free (default 0.10)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.recommender import recommend

    budget = args.vram or args.ram
    device = "cpu" if args.ram else ("cuda" if args.vram else None)
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
        data = rec.to_dict()
        data["candidates"] = data["candidates"][: args.top]
        print_json(data)
        return 0 if rec.ranked else 1
    render(rec, args.top)
    return 0 if rec.ranked else 1


def render(rec, top: int) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    out = console()
    where = "GPU memory" if rec.device == "cuda" else "system RAM"
    out.print(
        f"[bold]Budget[/] {rec.budget_label} of {where}, {rec.safety_margin:.0%} kept free "
        f"→ {gb(rec.usable_bytes)} usable · task [bold]{rec.task}[/] · context "
        f"{rec.context_tokens} tokens · KV cache {rec.kv_cache_type} · backend {rec.backend}"
    )
    for note in rec.notes:
        out.print(f"[dim]note: {note}[/]")
    if not rec.ranked:
        s = rec.smallest
        if s is None:
            raise AdvisorError("no candidate configs: the profiles are empty")
        raise AdvisorError(
            f"nothing fits in {gb(rec.usable_bytes)}: the smallest candidate, {s.label}, "
            f"needs {gb(s.footprint.total_bytes)} at {rec.context_tokens} tokens "
            f"(weights {gb(s.footprint.weight_bytes)}, KV {gb(s.footprint.kv_bytes)})"
        )
    table = Table(show_lines=False, header_style="bold", pad_edge=False)
    for col, justify in [("#", "right"), ("model", "left"), ("params", "right"),
                         ("format", "left"), ("bits/w", "right"), ("weights", "right"),
                         ("KV", "right"), ("other", "right"), ("total", "right"),
                         ("free", "right"), ("score", "right"), ("evidence", "left")]:
        table.add_column(col, justify=justify, no_wrap=col not in {"evidence"})
    for i, c in enumerate(rec.ranked[:top], start=1):
        fp = c.footprint
        best = c.best
        bpw = fp.weight_bytes * 8 / c.arch.params_total
        if best is None:
            score, evidence = "[dim]—[/]", "[dim]no evidence for this config on this task[/]"
        else:
            fmt = "{:.1f}" if best.higher_is_better else "{:.2f}"
            score = fmt.format(best.value)
            if best.uncertainty is not None:
                score += f" ±{best.uncertainty:.1f}"
            evidence = f"[bold]{best.kind}[/]: {best.source}"
            if c.disagreement:
                evidence += f" [yellow](disagrees: {c.disagreement})[/]"
        table.add_row(
            str(i), c.arch.name, params_label(c.arch.params_total), c.format.name, f"{bpw:.2f}",
            gb(fp.weight_bytes), gb(fp.kv_bytes), gb(fp.compute_bytes + fp.overhead_bytes),
            gb(fp.total_bytes), gb(c.headroom_bytes), score, evidence,
        )  # fmt: skip
    out.print(table)
    with_evidence = sum(1 for c in rec.ranked if c.best is not None)
    out.print(
        f"[dim]{len(rec.ranked)} of {rec.considered} configs fit; {with_evidence} have evidence "
        f"for {rec.task}. Sizes in GB = 10^9 bytes. 'other' = compute buffer + runtime overhead. "
        f"Scores: accuracy in % (perplexity: lower is better).[/]"
    )
