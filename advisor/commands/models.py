"""`advisor models`: GGUF files already on this machine (HF cache, LM Studio, llama.cpp)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="list GGUF models found on this machine")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.measure.sources import discover

    found = discover()
    if args.json:
        print(json.dumps([m.to_dict() for m in found], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="GGUF models on this machine")
    for col in ("path", "found in", "type", "bits/w", "params", "size"):
        table.add_column(col)
    for m in found:
        table.add_row(
            m.path,
            m.where,
            m.file_type or (m.error or "?"),
            f"{m.bits_per_weight:.2f}" if m.bits_per_weight else "",
            f"{m.n_params / 1e6:.0f}M" if m.n_params else "",
            f"{m.file_bytes / 1e6:.0f} MB",
        )
    Console().print(table)
    if not found:
        print("no GGUF files found (looked in the HF cache, LM Studio and llama.cpp folders)")
    return 0
