"""`advisor profiles`: what is bundled (architectures, published points, hardware)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from advisor.commands._output import (
    add_json_flag,
    add_wide_flag,
    console,
    gb,
    params_label,
    print_json,
)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "profiles",
        help="list the bundled architectures, published data and hardware",
        description="List what the advisor knows without measuring: model architectures "
        "(what the memory model needs: layers, KV heads, head size, vocabulary), the "
        "published score tables (each row keeps its source), or the hardware profiles "
        "(memory, bandwidth) that --hardware names. profiles/SOURCES.md says where each "
        "file comes from. Example: advisor profiles hardware",
    )
    p.add_argument(
        "kind",
        nargs="?",
        default="architectures",
        choices=["architectures", "published", "hardware"],
        help="what to list (default architectures)",
    )
    add_wide_flag(p)
    add_json_flag(p, "profiles.<kind>")
    p.set_defaults(func=run)


def _table() -> Any:
    """A table whose cells wrap instead of being cut with an ellipsis."""
    from rich.table import Table

    return Table(header_style="bold")


def _column(table: Any, name: str, right: bool = False) -> None:
    table.add_column(name, overflow="fold", justify="right" if right else "left")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from advisor import profiles
    from advisor.memory import kv_bytes_per_token

    out = console()
    if args.kind == "architectures":
        archs = sorted(profiles.architectures().values(), key=lambda a: (a.family, a.params_total))
        if args.json:
            print_json(
                [asdict(a) | {"kv_bytes_per_token_f16": kv_bytes_per_token(a)} for a in archs],
                "profiles.architectures",
            )
            return 0
        table = _table()
        numeric = {"params", "layers", "kv heads", "head dim", "vocab", "KV/token (f16)"}
        for col in ["model", "family", "params", "layers", "kv heads", "head dim", "vocab",
                    "tied", "attention", "KV/token (f16)"]:  # fmt: skip
            _column(table, col, right=col in numeric)
        for a in archs:
            attention = a.attention + (f" {a.sliding_window}" if a.sliding_window else "")
            table.add_row(a.model_id, a.family, params_label(a.params_total), str(a.n_layers),
                          str(a.n_kv_heads), str(a.head_dim), str(a.vocab_size),
                          "yes" if a.tied_embeddings else "no", attention,
                          f"{kv_bytes_per_token(a) / 1024:.0f} KiB")  # fmt: skip
        out.print(table)
        out.print(
            f"[dim]{len(archs)} architectures from {profiles.profiles_dir()}; KiB = 2^10 bytes[/]",
            highlight=False,
        )
    elif args.kind == "published":
        points = profiles.published()
        if args.json:
            print_json([asdict(p) for p in points], "profiles.published")
            return 0
        table = _table()
        for col in ["source file", "rows", "tasks", "models"]:
            _column(table, col, right=col != "source file")
        by_file = Counter(p.file for p in points)
        for file, n in sorted(by_file.items()):
            tasks = {p.task for p in points if p.file == file}
            models = {p.model for p in points if p.file == file}
            table.add_row(file, str(n), str(len(tasks)), str(len(models)))
        out.print(table)
        out.print(f"[dim]{len(points)} published points; each keeps its source (see --json)[/]")
    else:
        hw = profiles.hardware_profiles()
        if args.json:
            print_json([asdict(h) for h in hw.values()], "profiles.hardware")
            return 0
        table = _table()
        for col in ["id", "name", "kind", "memory", "bandwidth"]:
            _column(table, col, right=col == "bandwidth")
        for h in hw.values():
            bw = f"{h.bandwidth_gb_s:.0f} GB/s" if h.bandwidth_gb_s else "-"
            table.add_row(
                h.id, h.name, h.kind, f"{gb(h.memory_bytes, 'GiB')} ({h.memory_label})", bw
            )
        out.print(table)
    return 0
