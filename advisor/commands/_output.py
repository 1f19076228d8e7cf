"""Rendering helpers shared by the commands: JSON out, rich tables, units."""

from __future__ import annotations

import json
import sys
from typing import Any

from advisor.units import format_bytes


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def gb(n_bytes: float, unit: str = "GB") -> str:
    return format_bytes(n_bytes, unit, digits=2)


def params_label(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    return f"{n / 1e6:.0f}M"


def console() -> Any:
    from rich.console import Console

    return Console()


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
