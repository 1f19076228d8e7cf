"""`advisor fit`: refit the scale–precision curves and write ``measurements/curves.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advisor.commands._output import (
    add_json_flag,
    add_wide_flag,
    console,
    existing_store,
    print_json,
)
from advisor.errors import AdvisorError

# Each resample refits the laws (about 0.1 s): 10,000 is some 20 minutes, far past the
# point where the intervals stop moving.
MAX_BOOTSTRAP = 10_000


def _bootstrap(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 2 <= value <= MAX_BOOTSTRAP:
        raise argparse.ArgumentTypeError(
            f"must be between 2 and {MAX_BOOTSTRAP:,} resamples, got {value}"
        )
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "fit",
        help="refit the scale–precision curves from the published and measured points",
        description="Refit the 16-bit size laws and the quantization degradation law from the "
        "bundled published grids and the local measurement stores, cross-validate them "
        "(leave-one-family-out and leave-one-model-out, against 'no degradation' and the "
        "constant per format), calibrate the 90%% intervals on the held-out errors, and write "
        "the coefficients. Deterministic: same data, same file. Example: advisor fit --dry-run",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        default=None,
        help="coefficients file (default: measurements/curves.json of the checkout)",
    )
    p.add_argument(
        "--bootstrap",
        type=_bootstrap,
        default=60,
        help=f"bootstrap resamples over models for the intervals, 2 to {MAX_BOOTSTRAP:,} "
        "(default 60)",
    )
    p.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    p.add_argument(
        "--store",
        action="append",
        metavar="PATH",
        default=None,
        help="also fit on the measurements of this store, ~ expanded; a missing file is an "
        "error (repeatable; default: the bundled measurements and $ADVISOR_STORE)",
    )
    add_wide_flag(p)
    add_json_flag(p, "fit")
    p.set_defaults(func=run)


def gather(bootstrap: int, stores: list[str] | None = None) -> dict[str, Any]:
    """Fit everything; the payload of ``curves.json``."""
    if not 2 <= bootstrap <= MAX_BOOTSTRAP:
        raise AdvisorError(f"--bootstrap needs 2 to {MAX_BOOTSTRAP:,} resamples, got {bootstrap}")
    from advisor.curves.fitting import build

    paths = None
    if stores:
        from advisor.evidence import store_paths

        given = [existing_store(str(s)) for s in stores]
        paths = [*store_paths(), *given]
    return build(measurement_paths=paths, n_bootstrap=bootstrap)


def output_path(raw: str | None) -> Path | None:
    """The -o file, refused before anything is fitted when it cannot be one: empty, a
    folder, or under a file."""
    if raw is None:
        return None
    if not raw.strip():
        raise AdvisorError("--output is empty: give a file path, e.g. -o curves.json")
    path = Path(raw).expanduser()
    if path.is_dir():
        raise AdvisorError(f"--output {path} is a folder: give a file path inside it")
    if path.exists() and not path.is_file():
        raise AdvisorError(f"--output {path} is not a regular file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise AdvisorError(f"--output {path}: {parent} is a file, not a folder")
            break
    return path


def write(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AdvisorError(f"cannot write {path}: {exc.strerror}; pass -o PATH") from None


def run(args: argparse.Namespace) -> int:
    from advisor import curves

    output = output_path(args.output)
    data = gather(args.bootstrap, args.store)
    path = output or curves.coefficients_path()
    if not args.dry_run:
        write(data, path)
    if args.json:
        print_json({"written": None if args.dry_run else str(path), **data}, "fit")
        return 0
    render(data, None if args.dry_run else path)
    return 0


GROUP_LABELS = {
    "gguf": "llama.cpp (imatrix, AutoRound)", "gguf-plain": "llama.cpp (plain)",
    "rtn": "RTN/GPTQ/AWQ/bnb", "rtn-simple": "RTN (2nd source)",
}  # fmt: skip


def render(data: dict[str, Any], path: Path | None) -> None:
    from rich.table import Table

    out = console()
    d = data["data"]
    deg = data["degradation"]
    beta = deg["w"][deg["names"].index("beta")]
    out.print(
        f"[bold]Degradation law[/] fitted on {d['quantized_points']} quantized points "
        f"({d['published_points']} published, {d['measured_points']} measured; "
        f"{d['paired_with_a_higher_bit_file']} paired with a higher-bit file of the same "
        f"evaluation) of {d['models']} models in {d['families']} families; "
        f"{len(data['size_laws'])} family × task size laws. beta (training tokens per "
        f"parameter) = {beta:.2f} ± {data['coefficient_sd']['beta']:.2f} (bootstrap sd)."
    )
    table = Table(
        header_style="bold", pad_edge=False, title="Leave-one-family-out (a family the fit has "
        "not seen, given only its 16-bit scores)",
    )  # fmt: skip
    for col in ("methods", "task kind", "bits", "n", "ours MAE", "no degradation",
                "constant/format", "ours − better", "90% coverage",
                "median width"):  # fmt: skip
        table.add_column(
            col, justify="left" if col in {"methods", "task kind"} else "right", overflow="fold"
        )
    for row in data["cv"]["lofo"]:
        best = row["mae"] <= min(row["mae_no_degradation"], row["mae_constant_per_format"])
        mark = "" if best else " †"
        unit = "%" if row["unit"] != "points" else ""
        gap = row["vs_best_baseline"]
        table.add_row(
            GROUP_LABELS.get(row["group"], row["group"]), row["kind"], row["band"], str(row["n"]),
            f"{row['mae']:.2f}{unit}{mark}", f"{row['mae_no_degradation']:.2f}{unit}",
            f"{row['mae_constant_per_format']:.2f}{unit}",
            f"{gap['mean']:+.2f} [{gap['low']:+.2f}, {gap['high']:+.2f}]"
            if gap["families"] > 1 else f"{gap['mean']:+.2f} (1 family)",
            f"{row['coverage']:.0%}", f"{row['median_width']:.1f}{unit}",
        )  # fmt: skip
    out.print(table)
    out.print(
        "MAE in accuracy points (perplexity: % of ln ppl). † = a baseline does at least as "
        "well in this cell. ours − better: our MAE minus the better baseline's, with its 90% "
        "interval resampling whole families (an interval across 0: this data does not resolve "
        "the difference). Coverage and width: the 90% intervals, their noise calibrated "
        "without the family they are judged on. Task kinds: mc multiple choice, cloze, gen "
        "generated (math, code, instructions), ppl perplexity.",
        style="dim",
    )
    if path is not None:
        out.print(f"wrote {path}")
