"""`advisor findings`: the seed findings, checked on the bundled and measured data."""

from __future__ import annotations

import argparse
from typing import Any

from advisor.commands._output import add_json_flag, console, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "findings",
        help="check the seed findings (bigger@4-bit vs smaller@8/16-bit, ...) on the data",
        description="At equal weight memory, does a larger model at 4 bits beat a smaller one "
        "at 8/16 bits? Where does that fail (2-3 bits; math and cloze vs knowledge tasks)? How "
        "well does perplexity rank quantized variants by accuracy? Each claim with its numbers.",
    )
    p.add_argument("--task", default="mmlu", help="task for the curve-based comparison (mmlu)")
    p.add_argument("--pairs", action="store_true", help="also list every equal-memory pair")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.curves.findings import gather

    data = gather(args.task)
    if args.json:
        print_json(data)
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
