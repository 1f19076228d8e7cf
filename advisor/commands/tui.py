"""`advisor tui`: the interactive trade-off explorer (needs the `tui` extra).

Every option is checked before the screen is drawn: a bad budget, context, task or theme
is one line and exit 2, as for every other command.
"""

from __future__ import annotations

import argparse
import sys

from advisor._version import install_hint
from advisor.commands._output import add_store_flag, check_budget_text, use_store
from advisor.errors import AdvisorError
from advisor.memory import DEFAULT_CONTEXT_TOKENS

INSTALL_HINT = f"advisor: the TUI needs textual: install with {install_hint('tui')}"
THEME_NAMES = ("dark", "light", "ansi", "textual-ansi")
# The recommender's own limit (advisor.recommender.ranking.MAX_CONTEXT_TOKENS), kept literal
# so that parsing the command line imports no ranking code.
MAX_CONTEXT_TOKENS = 10_000_000


def _context(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of tokens, got {text!r}"
        ) from None
    if not 0 < value <= MAX_CONTEXT_TOKENS:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {MAX_CONTEXT_TOKENS:,} tokens, got {text}"
        )
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tui",
        help="explore the memory/quality trade-off interactively (the default in a terminal)",
        description="Pick a model and bit-width by looking at the trade-off: inputs on top, "
        "ranked configs with decode speed and where each runs, a score-vs-memory (or "
        "score-vs-speed) chart, the memory breakdown and the command that runs the pick. "
        "The budget starts from what was detected (the largest GPU's free memory, else Apple "
        "unified memory, else system RAM); press ? inside for keys. "
        "Example: advisor tui --vram 24GB --task gsm8k",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--vram", metavar="SIZE", help="GPU memory budget (default: detected)")
    budget.add_argument("--ram", metavar="SIZE", help="system memory budget (default: detected)")
    p.add_argument("--task", default="mmlu", help="task or group to rank on (default mmlu)")
    p.add_argument(
        "--context",
        type=_context,
        default=DEFAULT_CONTEXT_TOKENS,
        help=f"tokens of context to budget for (default {DEFAULT_CONTEXT_TOKENS})",
    )
    p.add_argument(
        "--kv-cache",
        default="f16",
        choices=["f16", "q8_0", "q4_0"],
        help="KV cache type (default f16)",
    )
    p.add_argument(
        "--backend",
        default="any",
        choices=["gguf", "bnb", "any"],
        help="formats to consider (default any)",
    )
    p.add_argument(
        "--theme",
        default=None,
        help="dark, light, ansi (the terminal's own colours) or any Textual theme "
        "(default: light or dark from $COLORFGBG)",
    )
    add_store_flag(p)
    p.set_defaults(func=run)


def check(args: argparse.Namespace) -> None:
    """Refuse bad options before anything is drawn (exit 2, one line)."""
    from advisor.evidence import resolve_task
    from advisor.units import parse_size

    for flag, value in (("--vram", args.vram), ("--ram", args.ram)):
        check_budget_text(flag, value)
        if value is not None:
            parse_size(value)
    if not args.task.strip():
        raise AdvisorError("--task is empty: give a task name, e.g. --task mmlu")
    resolve_task(args.task)
    if args.theme is not None and not args.theme.strip():
        raise AdvisorError("--theme is empty: give dark, light or ansi")


def check_theme(theme: str | None) -> None:
    """A theme name Textual knows (needs textual imported)."""
    if theme is None or theme in THEME_NAMES:
        return
    from textual.theme import BUILTIN_THEMES

    if theme not in BUILTIN_THEMES:
        known = ", ".join([*THEME_NAMES, *sorted(BUILTIN_THEMES)])
        raise AdvisorError(f"unknown theme {theme!r}: use one of {known}")


def run(args: argparse.Namespace) -> int:
    check(args)
    try:
        import textual  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    check_theme(args.theme)
    use_store(args.store)
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
