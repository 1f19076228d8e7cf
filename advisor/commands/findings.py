"""`advisor findings`: the seed findings, checked on the bundled and measured data."""

from __future__ import annotations

import argparse
from typing import Any

from advisor.commands._output import (
    add_json_flag,
    add_store_flag,
    add_wide_flag,
    console,
    print_json,
    use_store,
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "findings",
        help="check the seed findings (bigger@4-bit vs smaller@8/16-bit, ...) on the data",
        description="At equal weight memory, does a larger model at 4 bits beat a smaller one "
        "at 8/16 bits? Where does that fail (2-3 bits; math and cloze vs knowledge tasks)? How "
        "well does perplexity rank quantized variants by accuracy? Each claim with its numbers. "
        "Example: advisor findings --task arc_challenge --pairs",
    )
    p.add_argument(
        "--task", default="mmlu", help="task for the curve-based comparison (default mmlu)"
    )
    p.add_argument("--pairs", action="store_true", help="also list every equal-memory pair")
    add_store_flag(p)
    add_wide_flag(p)
    add_json_flag(p, "findings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.curves.findings import gather
    from advisor.errors import AdvisorError
    from advisor.evidence.tasks import resolve_task

    if not args.task.strip():
        raise AdvisorError("--task is empty: give a task name, e.g. --task mmlu")
    use_store(args.store)
    data = gather(resolve_task(args.task))
    if args.json:
        print_json(data, command="findings")
        return 0
    render(data, args.pairs)
    return 0


def _wins(rows: list[dict[str, Any]], keys: list[str], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold", pad_edge=False)
    for k in keys:
        table.add_column(k)
    for col in ("pairs", "larger wins", "median margin", "worst", "best"):
        table.add_column(col, justify="right")
    for r in rows:
        if r["pairs"] <= 2:  # no share, median or extremes of one or two numbers
            margins = sorted({r["worst_margin"], r["best_margin"]})
            table.add_row(
                *(str(r[k]) for k in keys), "one pair" if r["pairs"] == 1 else "two pairs",
                f"{r['larger_wins']} of {r['pairs']}",
                ", ".join(f"{m:+.1f}" for m in margins), "", "",
            )  # fmt: skip
            continue
        table.add_row(
            *(str(r[k]) for k in keys), str(r["pairs"]),
            f"{r['larger_wins']} ({r['win_rate']:.0%})", f"{r['median_margin']:+.1f}",
            f"{r['worst_margin']:+.1f}", f"{r['best_margin']:+.1f}",
        )  # fmt: skip
    return table


def render(data: dict[str, Any], show_pairs: bool) -> None:
    from rich.table import Table

    out = console()
    eq = data["equal_memory"]
    out.print(
        "[bold]1. At equal weight memory, larger@low-bits vs smaller@8/16-bit[/] "
        f"(published/measured grids; the larger config uses ≤ {eq['memory_slack']:.0%} of the "
        "smaller one's weight bytes; margin = larger − smaller, accuracy points)"
    )
    out.print(_wins(eq["by_band"], ["band"], "by bit band"))
    out.print(
        _wins(
            eq["by_kind_and_band"],
            ["kind", "band"],
            "by task kind (mc = multiple choice, cloze = next word, gen = math/code/CoT)",
        )
    )
    out.print(_wins(eq["by_family_task_band"], ["family", "task", "band"], "by family and task"))
    pred = data["predicted_equal_memory"]
    out.print(
        f"\n[bold]2. The same on the fitted curves[/] ({pred['task']}, catalogue families, "
        "larger@Q4_K_M/Q3_K_M/Q2_K vs smaller@Q8_0/F16)"
    )
    out.print(_wins(pred["by_band"], ["band"], "by bit band"))
    out.print(_wins(pred["by_family_band"], ["family", "band"], "by family"))
    out.print("\n[bold]3. Skill kept under RTN g128[/] (share of the above-floor 16-bit score)")
    table = Table(header_style="bold", pad_edge=False)
    for col in ("task", "bits", "models", "median kept", "worst kept"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for r in data["retained_skill_rtn"]:
        table.add_row(
            r["task"],
            f"{r['bits']:g}",
            str(r["models"]),
            f"{r['median_retained']:.0%}",
            f"{r['min_retained']:.0%}",
        )
    out.print(table)
    ppl = data["perplexity_vs_accuracy"]
    out.print(
        "\n[bold]4. Does perplexity rank quantized variants by accuracy?[/] Spearman ρ between "
        "perplexity and accuracy across one model's formats (−1 = perfect)"
    )
    table = Table(header_style="bold", pad_edge=False)
    for col in ("model", "evidence", "task", "formats", "ρ"):
        table.add_column(col, justify="left" if col in {"model", "task", "evidence"} else "right")
    for r in ppl["rows"]:
        table.add_row(
            r["model"], r["origin"], r["task"], str(r["formats"]), f"{r['spearman']:+.2f}"
        )
    out.print(table)
    if ppl["median_spearman"] is not None:
        out.print(f"median ρ = {ppl['median_spearman']:+.2f} over {ppl['n']} model × task cells")
    render_local(data["local_ladders"], out)
    if show_pairs:
        table = Table(title="equal-memory pairs", header_style="bold", pad_edge=False)
        for col in ("task", "larger", "GB", "score", "smaller", "GB ", "score ", "margin"):
            table.add_column(col)
        for p in eq["pairs"]:
            table.add_row(
                p["task"],
                p["larger"],
                f"{p['larger_gb']:.2f}",
                f"{p['larger_score']:.1f}",
                p["smaller"],
                f"{p['smaller_gb']:.2f}",
                f"{p['smaller_score']:.1f}",
                f"{p['margin']:+.1f}",
            )
        out.print(table)


def _pm(value: float | None, se: float | None, digits: int = 1, sign: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text + (f" ± {se:.{digits}f}" if se is not None else "")


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def render_local(local: dict[str, Any], out: Any) -> None:
    """Claim 4: our own ladders (measured here, every number with its n and se)."""
    from rich.table import Table

    out.print(
        "\n[bold]5. Our own ladders, measured here[/] (llama.cpp on this machine's CPU; "
        "scores ± standard error; accuracy in %)"
    )
    eq = local["equal_size"]
    if eq:
        out.print(
            f"Equal file size: the larger model at < 7.5 bits/weight vs the smaller at 8–16 "
            f"(larger file ≤ {local['memory_slack']:.0%} of the smaller); difference = larger − "
            "smaller on the same items, paired se, McNemar exact p (0/1 scores)"
        )
        table = Table(header_style="bold", pad_edge=False)
        for col in ("task", "larger (GB)", "score", "smaller (GB)", "score ", "difference",
                    "p", "n", "verdict"):  # fmt: skip
            table.add_column(col, justify="left" if col in {"task", "verdict"} else "right")
        for r in sorted(eq, key=lambda r: (r["task"], r["larger"], r["smaller"])):
            digits = 1 if r["higher_is_better"] else 3
            table.add_row(
                r["task"], f"{r['larger']} ({r['larger_gb']:.2f})",
                _pm(r["larger_score"], r["larger_se"], digits),
                f"{r['smaller']} ({r['smaller_gb']:.2f})",
                _pm(r["smaller_score"], r["smaller_se"], digits),
                _pm(r["diff"], r["se"], digits, sign=True) + ("" if r["paired"] else " (unpaired)"),
                _p(r["p"]), str(r["n"]), r["verdict"],
            )  # fmt: skip
        out.print(table)
    else:
        out.print("No family measured here at two sizes yet (benchmarks/sweep_qwen_coder.sh).")
    first = local["degrades_first"]
    if first:
        out.print("\nWhat degrades first (share of the above-floor score of the top rung kept):")
        for r in first:
            order = ", ".join(f"{t} {k:.0%}" for t, k in r["order"])
            out.print(f"  {r['model']} {r['format']}: {order}")
    deg = local["degradation"]
    if deg:
        formats = sorted({r["format"] for r in deg}, key=lambda f: -max(
            (x["bits_per_weight"] or 0) for x in deg if x["format"] == f))  # fmt: skip
        table = Table(title="change vs the model's top rung (points ± se; perplexity as is)",
                      title_justify="left", header_style="bold", pad_edge=False)  # fmt: skip
        table.add_column("model")
        table.add_column("task")
        table.add_column("top")
        table.add_column("n", justify="right")
        for f in formats:
            table.add_column(f, justify="right")
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        for r in deg:
            cells.setdefault((r["model"], r["task"]), {"top": r["top"], "n": r["n"]})[
                r["format"]
            ] = r
        for (model, task), row in sorted(cells.items()):
            table.add_row(model, task, row["top"], str(row["n"]), *(
                _pm(row[f]["drop"], row[f]["se"], 1 if row[f]["kept"] is not None or
                    row[f]["metric"] != "perplexity" else 2, sign=True) if f in row else ""
                for f in formats))  # fmt: skip
        out.print(table)
    prox = local["proxies"]
    if prox:
        table = Table(
            title="Which proxy tracks accuracy across a model's rungs (agreement = Spearman ρ "
            "signed so +1 orders rungs exactly by accuracy)",
            title_justify="left", header_style="bold", pad_edge=False,
        )  # fmt: skip
        for col in ("model", "task", "rungs", "perplexity", "KLD", "same top"):
            table.add_column(col, justify="left" if col in {"model", "task"} else "right")
        cells2: dict[tuple[str, str], dict[str, Any]] = {}
        for r in prox:
            c = cells2.setdefault((r["model"], r["task"]), {"rungs": r["rungs"]})
            c[r["proxy"]] = r["agreement"]
        for (model, task), c in sorted(cells2.items()):
            table.add_row(model, task, str(c["rungs"]), *(
                "-" if c.get(p) is None else f"{c[p]:+.2f}"
                for p in ("perplexity", "mean_kld", "same_top_p")))  # fmt: skip
        out.print(table)
        for s in local["proxy_summary"]:
            out.print(f"  {s['proxy']}: mean agreement {s['mean_agreement']:+.2f} over "
                      f"{s['cells']} model × task cells")  # fmt: skip
    kld = local.get("kld_accuracy") or []
    if kld:
        table = Table(
            title="How accuracy falls with KL divergence (share of the above-chance score lost "
            "per 0.1 nat of KLD over the reference file; kept = exp(-rate × ΔKLD))",
            title_justify="left", header_style="bold", pad_edge=False,
        )  # fmt: skip
        for col in ("source", "task kind", "tasks", "points", "lost per 0.1 nat", "rate range"):
            table.add_column(col, justify="right" if col in {"points", "lost per 0.1 nat",
                                                             "rate range"} else "left")  # fmt: skip
        for r in kld:
            low, high = r["rate_range"]
            table.add_row(r["source"], r["kind"], ", ".join(r["tasks"]), str(r["points"]),
                          f"{r['lost_per_0_1_nat_pct']:.1f}%",
                          f"{low:.2f}–{high:.2f}/nat")  # fmt: skip
        out.print(table)
    speed = local["speed"]
    if speed:
        table = Table(title="Decode and prompt speed per rung (pp512 / tg128, tokens/s, this CPU)",
                      title_justify="left", header_style="bold", pad_edge=False)  # fmt: skip
        for col in ("model", "format", "bits/w", "file GB", "pp", "tg", "pp vs top", "tg vs top"):
            table.add_column(col, justify="left" if col in {"model", "format"} else "right")
        for r in speed:
            table.add_row(r["model"], r["format"], f"{r['bits_per_weight']:.2f}",
                          f"{r['file_gb']:.2f}", f"{r['pp_tokens_per_s']:.0f}",
                          f"{r['tg_tokens_per_s']:.1f}", f"{r['pp_vs_top']:.2f}×",
                          f"{r['tg_vs_top']:.2f}×")  # fmt: skip
        out.print(table)
    if local["four_bit_sourced"]:
        out.print(
            "[dim]Limits: " + ", ".join(local["four_bit_sourced"]) + " are ladders made from "
            "4-bit files (the only weights on the package index): their 16-bit rung is a "
            "dequantized base holding 4-bit information, so rungs above ~5 bits cannot differ "
            "by more than noise and the drop at 2–3 bits is on top of the source's own 4-bit "
            "loss; each speed figure is one probe on a shared 2-core machine.[/]"
        )
