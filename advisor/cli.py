"""The `advisor` command line: one verb per module in :mod:`advisor.commands`.

Each command module exposes ``add_parser(subparsers)`` and keeps heavy imports inside its
``run`` function, so ``advisor recommend`` never loads torch, llama.cpp or textual.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from advisor._version import __version__
from advisor.errors import AdvisorError

# Verb -> module; the order is the order of `advisor --help`.
COMMANDS: dict[str, str] = {
    "recommend": "advisor.commands.recommend",
    "hardware": "advisor.commands.hardware",
    "profiles": "advisor.commands.profiles",
    "memory": "advisor.commands.memory",
    "measure": "advisor.commands.measure",
    "sweep": "advisor.commands.sweep",
    "models": "advisor.commands.models",
    "results": "advisor.commands.results",
    "fit": "advisor.commands.fit",
    "findings": "advisor.commands.findings",
    "plot": "advisor.commands.plot",
    "tui": "advisor.commands.tui",
}


class HelpFormatter(argparse.HelpFormatter):
    """Every valued option says its default: argparse's ``(default: …)`` is added unless
    the help already says it (``(default mmlu)``, ``default: detected``); flags and
    options whose default is "not given" say what that means in their own words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" in text.lower()
            or not action.option_strings
            or action.nargs == 0
            or action.default in (None, argparse.SUPPRESS)
        ):
            return text
        return text + " (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        # Descriptions are not %-formatted (no %(prog)s in ours): "90%%" means "90%".
        text = text.replace("%%", "%")
        # The example stays on a line of its own, whole, so it can be copied.
        head, sep, example = text.partition("Example: ")
        filled = super()._fill_text(head, width, indent)
        return f"{filled}\n\n{indent}{sep}{example.strip()}" if sep else filled


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        # "-3GB" reads as a (bad) value, not an unknown option, so the size parser says why.
        self._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?[A-Za-z]*$")

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line, exit 2, like ours.
        self.exit(2, f"advisor: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="advisor",
        description="Which LLM, at which bit-width, fits your memory: measured, fitted, "
        "recommended. Example: advisor recommend --vram 24GB --task gsm8k",
        epilog="`advisor COMMAND --help` for each command; with no command in a terminal, "
        "the TUI starts. --json documents: docs/json.md.",
    )
    parser.add_argument("--version", action="version", version=f"advisor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a command still being built is simply absent
        module.add_parser(sub)
    return parser


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"advisor: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if (
        not args_list
        and sys.stdin.isatty()
        and sys.stdout.isatty()
        and "advisor.commands.tui" in COMMANDS.values()
    ):
        args_list = ["tui"]
    warnings.showwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from advisor.commands._output import set_wide

    set_wide(getattr(args, "wide", False))
    try:
        return int(args.func(args) or 0)
    except AdvisorError as exc:
        print(f"advisor: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("advisor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
