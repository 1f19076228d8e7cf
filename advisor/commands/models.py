"""`advisor models`: GGUF files already on this machine (HF cache, LM Studio, llama.cpp).

Files that cannot be used (damaged, unreadable, not a model) are listed with a one-line
reason after the table; the command exits 0 whenever the scan itself ran.

``--json`` prints ``{"schema": "advisor.models/1", "searched": [{"where", "path",
"exists"}], "items": [FoundModel...]}``; each item has path, where, file_bytes,
file_type, bits_per_weight, n_params, architecture, error and status ("ok", "damaged",
"not a model", "unreadable", "incomplete").
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from advisor.commands._output import (
    add_json_flag,
    add_wide_flag,
    full_width,
    gb,
    params_label,
    print_json,
    text_table,
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "models",
        help="list GGUF models found on this machine",
        description="List GGUF files in the Hugging Face cache, LM Studio's and llama.cpp's "
        "model folders (LLAMA_CACHE), with their type, bits/weight and size; files that "
        "cannot be used are listed with the reason. Example: advisor models | grep Q4_K_M",
    )
    add_wide_flag(p)
    add_json_flag(p, "models")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from advisor.measure.sources import discover, discovery_roots, hf_hub_cache

    found = discover()
    roots = [("hf-cache", hf_hub_cache()), *discovery_roots()]
    if args.json:
        searched = [{"where": w, "path": str(p), "exists": p.is_dir()} for w, p in roots]
        print_json({"searched": searched, "items": [m.to_dict() for m in found]}, "models")
        return 0
    usable = [m for m in found if m.status == "ok"]
    unusable = [m for m in found if m.status != "ok"]
    if usable:
        rows = [
            [
                _short_path(m.path),
                m.where,
                m.file_type or "?",
                f"{m.bits_per_weight:.2f}" if m.bits_per_weight else "",
                params_label(m.n_params),
                gb(m.file_bytes) if m.file_bytes is not None else "",
            ]
            for m in usable
        ]
        headers = ["path", "found in", "type", "bits/w", "params", "size"]
        print(text_table(headers, rows, [False, False, False, True, True, True], shrink=1))
    else:
        print("no usable GGUF files found")
    for m in unusable:
        print(f"{m.status}: {m.error}")
    folders = ", ".join(str(p) for _, p in roots)
    print(f"Searched the HF cache, LM Studio and llama.cpp folders ({folders}). GB = 10^9 bytes.")
    return 0


def _short_path(path: str, width: int = 64) -> str:
    """The home folder as ``~``; in a terminal, long paths cut at the front (the file name
    stays); piped or ``--wide``, the whole path."""
    home = str(Path.home())
    if path.startswith(home + os.sep):
        path = "~" + path[len(home) :]
    if full_width():
        return path
    return path if len(path) <= width else "…" + path[-(width - 1) :]
