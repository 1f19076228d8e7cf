"""`advisor results` lists what a store holds, with --json and --markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.cli import main
from advisor.measure.store import Measurement, append


def _record(fmt: str, value: float) -> Measurement:
    return Measurement(
        key=f"k-{fmt}", status="ok", model_name="Tiny-1M", backend="llama.cpp", format=fmt,
        task="arc_easy", task_version=1, metric="acc", value=value, stderr=0.02, n=300,
        bits_per_weight={"F16": 16.0, "Q4_0": 4.5}[fmt], footprint={"peak_rss_bytes": 123_000_000},
        speed={"prompt_tokens_per_s": 900.0, "gen_tokens_per_s": 80.0},
        hardware={"cpu": "Test CPU"}, created="2026-11-24T00:00:00+00:00",
    )  # fmt: skip


def test_results_lists_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.jsonl"
    append(store, _record("F16", 0.51))
    append(store, _record("Q4_0", 0.47))
    assert main(["results", "--store", str(store), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert (
        "| Tiny-1M | llama.cpp | F16 | 16.00 | arc_easy | acc | 51.0 ± 2.0 se | 300 | 123 |" in out
    )
    assert main(["results", "--store", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "advisor.results/2"
    assert [d["format"] for d in data["results"]] == ["F16", "Q4_0"]
    # accuracy in percent, as everywhere else; the store keeps the fraction
    assert data["results"][0]["value"] == pytest.approx(51.0)
    assert data["results"][0]["unit"] == "percent"


def test_results_missing_store_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["results", "--store", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such store" in capsys.readouterr().err
