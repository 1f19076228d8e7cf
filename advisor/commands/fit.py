"""`advisor fit`: refit the scale–precision curves and write ``measurements/curves.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advisor.commands._output import add_json_flag, console, print_json
from advisor.errors import AdvisorError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "fit",
        help="refit the scale–precision curves from the published and measured points",
        description="Refit the 16-bit size laws and the quantization degradation law from the "
        "bundled published grids and the local measurement stores, cross-validate them "
        "(leave-one-config-out, leave-one-model-out, against 'no degradation' and 'constant "
        "penalty per format'), and write the coefficients. Deterministic: same data, same file.",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="coefficients file (default: measurements/curves.json of the checkout)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=60,
        help="bootstrap resamples over models for the intervals (default 60)",
    )
    p.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    add_json_flag(p)
    p.set_defaults(func=run)


def gather(bootstrap: int) -> dict[str, Any]:
    """Fit everything; the payload of ``curves.json``."""
    if bootstrap < 2:
        raise AdvisorError(f"--bootstrap needs at least 2 resamples, got {bootstrap}")
    from advisor.curves.fitting import build

    return build(n_bootstrap=bootstrap)


def write(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AdvisorError(f"cannot write {path}: {exc.strerror}; pass -o PATH") from None


def run(args: argparse.Namespace) -> int:
    from advisor import curves

    data = gather(args.bootstrap)
    path = args.output or curves.coefficients_path()
    if not args.dry_run:
        write(data, path)
    if args.json:
        print_json({"written": None if args.dry_run else str(path), **data}, "fit")
        return 0
    render(data, None if args.dry_run else path)
    return 0


def render(data: dict[str, Any], path: Path | None) -> None:
    from rich.table import Table

    out = console()
    d = data["data"]
    out.print(
        f"[bold]Degradation law[/] fitted on {d['quantized_points']} quantized points "
        f"({d['published_points']} published, {d['measured_points']} measured) of "
        f"{d['models']} models; {len(data['size_laws'])} family × task size laws."
    )
    table = Table(header_style="bold", pad_edge=False)
    for col in (
        "task",
        "bits",
        "n",
        "LOCO MAE",
        "LOMO MAE",
        "no degradation",
        "const/format",
        "const/task×format",
        "90% cover",
    ):
        table.add_column(col, justify="left" if col == "task" else "right")
    lomo = {(r["task"], r["band"]): r for r in data["cv"]["lomo"]}
    for row in data["cv"]["loco"]:
        other = lomo[(row["task"], row["band"])]
        best = row["mae"] <= min(
            row["mae_no_degradation"], row["mae_constant_penalty"], row["mae_constant_per_format"]
        )
        mark = "" if best else " [yellow]*[/]"
        unit = "%" if row["unit"] != "points" else ""
        table.add_row(
            row["task"], row["band"], str(row["n"]), f"{row['mae']:.2f}{unit}{mark}",
            f"{other['mae']:.2f}{unit}", f"{row['mae_no_degradation']:.2f}{unit}",
            f"{row['mae_constant_per_format']:.2f}{unit}",
            f"{row['mae_constant_penalty']:.2f}{unit}", f"{other['coverage']:.0%}",
        )  # fmt: skip
    out.print(table)
    out.print(
        "[dim]MAE in accuracy points (perplexity: % of ppl). * = a baseline does better in "
        "this cell. Coverage: share of leave-one-model-out errors inside the 90% interval.[/]"
    )
    if path is not None:
        out.print(f"wrote {path}")
