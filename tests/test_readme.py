"""The README stays true: its Python examples run, and CI runs its test command."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.S)


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_python_examples_run(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.returncode == 0, result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    assert "<!-- ci:test -->" in README
    assert "ci:test" in (REPO / ".ci" / "run").read_text()
    assert "advisor recommend --vram 24GB" in README
