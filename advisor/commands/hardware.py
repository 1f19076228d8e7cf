"""`advisor hardware`: what memory this machine offers."""

from __future__ import annotations

import argparse

from advisor.commands._output import add_json_flag, add_wide_flag, console, gb, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "hardware",
        help="show detected GPUs, RAM and unified memory",
        description="Show what this machine offers a model: the CPU, system RAM (total and "
        "available), each NVIDIA GPU's total and free memory (via NVML), or Apple unified "
        "memory. `advisor recommend` without --vram/--ram budgets the largest of these. "
        "Sizes in GiB (2^30 bytes) and GB (10^9 bytes). Example: advisor hardware --json",
    )
    add_wide_flag(p)
    add_json_flag(p, "hardware")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.profiles.detect import detect

    hw = detect()
    if args.json:
        print_json(hw.to_dict(), "hardware")
        return 0
    out = console()
    out.print(f"[bold]CPU[/]  {hw.cpu} ({hw.cores} logical cores)", highlight=False)
    kind = "unified memory (shared with the GPU)" if hw.unified_memory else "system RAM"
    out.print(
        f"[bold]RAM[/]  {gb(hw.ram_total_bytes, 'GiB')} total ({gb(hw.ram_total_bytes)}), "
        f"{gb(hw.ram_available_bytes, 'GiB')} available — {kind}",
        highlight=False,
    )
    if not hw.gpus:
        out.print(
            f"[bold]GPU[/]  none detected ({hw.gpu_error or 'no NVIDIA GPU'})", highlight=False
        )
    for g in hw.gpus:
        out.print(
            f"[bold]GPU {g.index}[/]  {g.name}: {gb(g.total_bytes, 'GiB')} total "
            f"({gb(g.total_bytes)}), {gb(g.free_bytes, 'GiB')} free",
            highlight=False,
        )
    return 0
