"""`advisor tui`: the interactive trade-off explorer (needs the `tui` extra)."""

from __future__ import annotations

import argparse
import sys

from advisor._version import install_hint
from advisor.memory import DEFAULT_CONTEXT_TOKENS

INSTALL_HINT = f"advisor: the TUI needs textual: install with {install_hint('tui')}"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tui",
        help="explore the memory/quality trade-off interactively (the default in a terminal)",
        description="Pick a model and bit-width by looking at the trade-off: inputs on top, "
        "ranked configs, score-vs-memory chart, memory breakdown. Press ? inside for keys.",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--vram", metavar="SIZE", help="GPU memory budget (default: detected)")
    budget.add_argument("--ram", metavar="SIZE", help="system memory budget (default: detected)")
    p.add_argument("--task", default="mmlu", help="task or group to rank on (default mmlu)")
    p.add_argument(
        "--context",
        type=int,
        default=DEFAULT_CONTEXT_TOKENS,
        help=f"tokens of context to budget for (default {DEFAULT_CONTEXT_TOKENS})",
    )
    p.add_argument(
        "--kv-cache", default="f16", choices=["f16", "q8_0", "q4_0"], help="KV cache type"
    )
    p.add_argument(
        "--backend", default="any", choices=["gguf", "bnb", "any"], help="formats to consider"
    )
    p.add_argument(
        "--theme",
        default=None,
        help="dark, light, ansi (the terminal's own colours) or any Textual theme; "
        "default: light or dark from $COLORFGBG",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import textual  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    from advisor.tui import create_app
    from advisor.tui.measuring import default_measurer

    device = "cpu" if args.ram else ("cuda" if args.vram else None)
    app = create_app(
        budget=args.vram or args.ram,
        device=device,
        task=args.task,
        context_tokens=args.context,
        kv_cache=args.kv_cache,
        backend=args.backend,
        measurer=default_measurer(),
        theme=args.theme,
    )
    app.run()
    return 0
