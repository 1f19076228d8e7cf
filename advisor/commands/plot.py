"""`advisor plot`: accuracy vs memory for a task, measured/published points and predicted curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.commands._output import add_json_flag, print_json
from advisor.errors import AdvisorError, MissingDependencyError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plot",
        help="plot score vs memory (PNG): evidence points, predicted curves, Pareto frontier",
        description="Write a PNG of score vs memory for a task: published/measured points, "
        "predicted curves (one line per bit-width, ±interval shaded), the Pareto frontier of "
        "the best evidence, and the budget line.",
    )
    p.add_argument("--task", default="mmlu", help="task or group (default mmlu)")
    p.add_argument("--budget", default="24GB", help="memory budget line, e.g. 24GB (default)")
    p.add_argument(
        "--family", action="append", help="families to draw (repeatable; default qwen2.5)"
    )
    p.add_argument("-o", "--output", type=Path, default=Path("plot.png"), help="PNG path")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.plotting import draw, plot_data
    from advisor.units import parse_size

    families = args.family or ["qwen2.5"]
    data = plot_data(args.task, parse_size(args.budget), families)
    if not data["lines"] and not data["observed"]:
        raise AdvisorError(
            f"nothing to plot for {', '.join(families)} on {data['task']}: no evidence and no "
            "curve (see `advisor profiles` for families, `advisor fit` for curves)"
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("matplotlib", "plot", "advisor plot") from None
    out = draw(data, args.output)
    if args.json:
        print_json({"output": str(out), **data}, "plot")
    else:
        print(f"wrote {out}")
    return 0
