"""`advisor plot`: accuracy vs memory for a task, measured/published points and predicted curves."""

from __future__ import annotations

import argparse
from pathlib import Path

from advisor.commands._output import add_json_flag, add_store_flag, print_json, use_store
from advisor.errors import AdvisorError, MissingDependencyError

IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "plot",
        help="plot score vs memory (PNG): evidence points, predicted curves, Pareto frontier",
        description="Write a PNG of score vs memory for a task: published/measured points "
        "(each labelled with its model and format), predicted curves (one line per bit-width, "
        "90%% interval shaded), the Pareto frontier of the best evidence, and the budget line; "
        "the legend sits outside the data. Example: advisor plot --task mmlu --budget 24GB "
        "--family qwen2.5 -o docs/plot-mmlu.png",
    )
    p.add_argument("--task", default="mmlu", help="task or group (default mmlu)")
    p.add_argument(
        "--budget", default="24GB", help="memory budget line, e.g. 24GB or 16GiB (default 24GB)"
    )
    p.add_argument(
        "--family",
        action="append",
        help="families to draw (repeatable; default qwen2.5); see `advisor profiles`",
    )
    p.add_argument(
        "--variant",
        default="base",
        choices=["base", "instruct", "any"],
        help="base or instruct models (a curve through both zig-zags between a model and its "
        "fine-tune) (default base)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default="plot.png",
        help="image file: .png, .svg or .pdf (default plot.png)",
    )
    add_store_flag(p)
    add_json_flag(p, "plot")
    p.set_defaults(func=run)


def output_path(raw: str) -> Path:
    """The image file, refused before anything is computed when it cannot be one."""
    if not raw.strip():
        raise AdvisorError("--output is empty: give an image path, e.g. -o plot.png")
    path = Path(raw).expanduser()
    if path.is_dir():
        raise AdvisorError(f"--output {path} is a folder: give an image path inside it")
    if path.exists() and not path.is_file():
        raise AdvisorError(f"--output {path} is not a regular file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise AdvisorError(
            f"--output {path}: give a {', '.join(IMAGE_SUFFIXES)} path (the suffix picks the "
            "image format)"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AdvisorError(f"--output {path}: {parent} is a file, not a folder")
            break
    return path


def run(args: argparse.Namespace) -> int:
    from advisor.plotting import draw, plot_data
    from advisor.units import parse_size

    output = output_path(args.output)
    families = args.family or ["qwen2.5"]
    if any(not f.strip() for f in families):
        raise AdvisorError("--family is empty: give a family name, e.g. --family qwen2.5")
    use_store(args.store)
    data = plot_data(args.task, parse_size(args.budget), families, variant=args.variant)
    if not data["lines"] and not data["observed"]:
        raise AdvisorError(
            f"nothing to plot for {', '.join(families)} on {data['task']}: no evidence and no "
            "curve (see `advisor profiles` for families, `advisor fit` for curves)"
        )
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("matplotlib", "plot", "advisor plot") from None
    out = draw(data, output)
    if args.json:
        print_json({"output": str(out), **data}, "plot")
    else:
        print(f"wrote {out}")
    return 0
