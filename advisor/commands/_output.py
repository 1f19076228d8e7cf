"""Rendering helpers shared by the commands: JSON out, rich tables, units."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from advisor.units import format_bytes


def schema_name(command: str, version: int = 1) -> str:
    """The tag every --json document carries, e.g. ``advisor.recommend/1`` (docs/json.md)."""
    return f"advisor.{command}/{version}"


def print_json(data: Any, command: str | None = None, version: int = 1) -> None:
    """Write one JSON document to stdout. With ``command``, the document is an object that
    starts with ``"schema": "advisor.<command>/<version>"``; a list becomes ``"items"``."""
    if command is not None:
        body = data if isinstance(data, dict) else {"items": data}
        data = {"schema": schema_name(command, version), **body}
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


def styled(text: str, style: str = "bold") -> str:
    """ANSI styling when writing to a terminal that wants colour (NO_COLOR respected)."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    codes = {"bold": "1", "dim": "2", "yellow": "33"}
    return f"\033[{codes[style]}m{text}\033[0m"


def text_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool],
    shrink: int = 1,
) -> str:
    """A plain aligned table, narrowed to the terminal by truncating column ``shrink``.

    `advisor recommend` renders with this rather than rich: importing rich costs more than
    the whole recommendation (see benchmarks/recommend_latency.py).
    """
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    total = sum(widths) + 2 * (len(widths) - 1)
    limit = shutil.get_terminal_size((100, 24)).columns
    if total > limit:
        widths[shrink] = max(8, widths[shrink] - (total - limit))

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "…"
        return text.rjust(widths[i]) if right[i] else text.ljust(widths[i])

    lines = ["  ".join(cell(h, i) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell(v, i) for i, v in enumerate(r)).rstrip() for r in rows)
    return "\n".join(lines)
