"""`advisor recommend --json` for fixed questions, recorded before the package moved into
rooms (issue 9) and compared after: a layout change must not change an answer. A change
of behaviour made on purpose regenerates the files (``python tests/test_recommend_golden.py``)
and says why in its commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "data" / "recommend_golden"
QUESTIONS = {
    "vram24": ["--vram", "24GB"],
    "vram8": ["--vram", "8GB"],
    "vram80_gsm8k": ["--vram", "80GB", "--task", "gsm8k"],
    "ram16_wikitext2": ["--ram", "16GB", "--task", "wikitext2"],
    "m4pro": ["--hardware", "apple-m4-pro-48gb"],
    "vram12_hellaswag": ["--vram", "12GB", "--task", "hellaswag", "--context", "8192",
                         "--kv-cache", "q8_0"],
    "vram24_arc_all": ["--vram", "24GB", "--all-formats", "--backend", "gguf", "--task",
                       "arc_challenge"],
}  # fmt: skip
IGNORED = {"schema"}  # fields added after the recording


def _answer(args: list[str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "advisor", "recommend", *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: v for k, v in json.loads(out).items() if k not in IGNORED}


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_answer_unchanged(name: str) -> None:
    recorded = json.loads((GOLDEN / f"{name}.json").read_text())
    assert _answer(QUESTIONS[name]) == {k: v for k, v in recorded.items() if k not in IGNORED}


if __name__ == "__main__":
    for name, args in QUESTIONS.items():
        (GOLDEN / f"{name}.json").write_text(json.dumps(_answer(args), indent=2) + "\n")
