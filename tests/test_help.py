"""Help that helps: every command has a description with one example, every option has a
help string, and every option that takes a value says its default."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from advisor.cli import COMMANDS, HelpFormatter, build_parser
from tests.conftest import REPO


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


PARSER = build_parser()
COMMAND_PARSERS = _subparsers(PARSER)


def test_every_command_is_built() -> None:
    assert sorted(COMMAND_PARSERS) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_a_description_with_one_example(name: str) -> None:
    sub = COMMAND_PARSERS[name]
    text = f"{sub.description or ''} {sub.epilog or ''}"
    assert sub.description and len(sub.description) > 40, f"{name}: no description"
    assert text.count("Example: ") == 1, f"{name}: give exactly one 'Example: advisor {name} ...'"
    example = text.split("Example: ", 1)[1]
    assert example.startswith(f"advisor {name}"), f"{name}: the example runs another command"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_says_its_default(name: str) -> None:
    sub = COMMAND_PARSERS[name]
    formatter = HelpFormatter(prog=f"advisor {name}")
    for action in sub._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        label = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS, f"{name} {label}: no help"
        assert len(action.help) > 10, f"{name} {label}: help too short to explain anything"
        takes_value = action.option_strings and action.nargs != 0
        if takes_value:
            shown = formatter._get_help_string(action) or ""
            assert "default" in shown.lower(), f"{name} {label}: the help does not say the default"


def test_help_renders_for_every_command_without_a_traceback() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    for name in ("", *sorted(COMMANDS)):
        argv = [sys.executable, "-m", "advisor", *([name] if name else []), "--help"]
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "usage: advisor" in result.stdout
        assert "%%" not in result.stdout and "%(" not in result.stdout
        assert "Example: advisor" in result.stdout, name


def test_hardware_help_has_a_description() -> None:
    text = COMMAND_PARSERS["hardware"].format_help()
    assert "GPU" in text and "RAM" in text and "Example: advisor hardware" in text


def test_defaults_are_shown_once() -> None:
    text = " ".join(COMMAND_PARSERS["memory"].format_help().split())
    assert "(default: Q4_K_M)" in text and "(default: 4096)" in text
    assert "(default: None)" not in text
    assert text.count("(default: f16)") == 1
