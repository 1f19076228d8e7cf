"""`advisor profiles`: what is bundled (architectures, published points, hardware)."""

from __future__ import annotations

import argparse
from collections import Counter

from advisor.commands._output import add_json_flag, console, gb, params_label, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "profiles", help="list the bundled architectures, published data and hardware"
    )
    p.add_argument(
        "kind",
        nargs="?",
        default="architectures",
        choices=["architectures", "published", "hardware"],
        help="what to list",
    )
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rich.table import Table

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
        table = Table(header_style="bold")
        for col in [
            "model",
            "family",
            "params",
            "layers",
            "kv heads",
            "head dim",
            "vocab",
            "tied",
            "attention",
            "KV/token (f16)",
        ]:
            table.add_column(col)
        for a in archs:
            attention = a.attention + (f" {a.sliding_window}" if a.sliding_window else "")
            table.add_row(a.model_id, a.family, params_label(a.params_total), str(a.n_layers),
                          str(a.n_kv_heads), str(a.head_dim), str(a.vocab_size),
                          "yes" if a.tied_embeddings else "no", attention,
                          f"{kv_bytes_per_token(a) / 1024:.0f} KiB")  # fmt: skip
        out.print(table)
        out.print(f"[dim]{len(archs)} architectures from {profiles.profiles_dir()}[/]")
    elif args.kind == "published":
        points = profiles.published()
        if args.json:
            print_json([asdict(p) for p in points], "profiles.published")
            return 0
        table = Table(header_style="bold")
        for col in ["source file", "rows", "tasks", "models"]:
            table.add_column(col)
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
        table = Table(header_style="bold")
        for col in ["id", "name", "kind", "memory", "bandwidth"]:
            table.add_column(col)
        for h in hw.values():
            bw = f"{h.bandwidth_gb_s:.0f} GB/s" if h.bandwidth_gb_s else "-"
            table.add_row(
                h.id, h.name, h.kind, f"{gb(h.memory_bytes, 'GiB')} ({h.memory_label})", bw
            )
        out.print(table)
    return 0
