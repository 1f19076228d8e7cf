"""The command line as a user meets it: exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        cwd=REPO,
        timeout=120,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_recommend_24gb_json() -> None:
    result = run_cli("recommend", "--vram", "24GB", "--json", "--top", "5")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["budget_bytes"] == 24 * 10**9
    assert data["device"] == "cuda"
    assert len(data["candidates"]) == 5
    for cand in data["candidates"]:
        fp = cand["memory"]
        assert fp["total_bytes"] <= data["usable_bytes"]
        assert fp["total_bytes"] == sum(
            fp[k] for k in ("weight_bytes", "kv_bytes", "compute_bytes", "overhead_bytes")
        )
        if cand["score"] is not None:
            score = cand["score"]
            assert score["kind"] in {"measured", "published", "predicted"}
            assert score["low"] <= score["mean"] <= score["high"]
            assert all(e["source"] for e in cand["evidence"])


def test_recommend_table_names_units_and_sources() -> None:
    result = run_cli("recommend", "--ram", "16GB", "--task", "gsm8k")
    assert result.returncode == 0, result.stderr
    assert "16.00 GB (14.90 GiB) of system RAM" in result.stdout
    assert "gsm8k" in result.stdout
    assert "GB = 10^9 bytes" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["recommend", "--vram", "24XB"], "unknown memory unit"),
        (["recommend", "--vram", "-3GB"], "must be positive"),
        (["recommend", "--vram", "0"], "must be positive"),
        (["recommend", "--vram", "24GB", "--context", "0"], "must be positive"),
        (["recommend", "--vram", "24GB", "--task", "astrology"], "unknown task"),
        (["recommend", "--vram", "24GB", "--backend", "tpu"], "invalid choice"),
        (["memory", "missing.gguf"], "no such file"),
        (["memory", "README.md"], "not a GGUF file"),
        (["memory", "Llama-3.1-8B", "--format", "Q9_X"], "unknown format"),
        (["memory", "no-such-model"], "unknown model"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    assert_clean_error(run_cli(*args), needle)


def test_nothing_fits_names_the_smallest_candidate() -> None:
    result = run_cli("recommend", "--vram", "50MB")
    assert_clean_error(result, "nothing fits", "needs")


def test_malformed_profile_is_one_line(tmp_path: Path) -> None:
    for name in ("architectures.csv", "published.csv", "hardware.csv"):
        (tmp_path / name).write_bytes((REPO / "profiles" / name).read_bytes())
    (tmp_path / "architectures.csv").write_text("model_id,name\nfoo,bar\n")
    result = run_cli("recommend", "--vram", "24GB", env={"ADVISOR_PROFILES": str(tmp_path)})
    assert_clean_error(result, "architectures.csv", "missing columns")
    good = (REPO / "profiles" / "architectures.csv").read_text().splitlines()
    good[1] = good[1].replace(",full,", ",sideways,", 1)
    (tmp_path / "architectures.csv").write_text("\n".join(good) + "\n")
    result = run_cli("recommend", "--vram", "24GB", env={"ADVISOR_PROFILES": str(tmp_path)})
    assert_clean_error(result, "architectures.csv:2", "attention")


def test_listing_commands_have_json() -> None:
    for args in (["hardware"], ["profiles"], ["profiles", "hardware"], ["profiles", "published"]):
        result = run_cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)


def test_import_and_recommend_stay_light() -> None:
    heavy = ["torch", "transformers", "llama_cpp", "textual", "bitsandbytes", "matplotlib"]
    code = (
        "import sys, io, contextlib, advisor\n"
        "from advisor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['recommend', '--vram', '24GB'])\n"
        "r = advisor.recommend(budget='24GB', task='mmlu')\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the --json documents are documented ---------------------------------------------------

JSON_DOC = (REPO / "docs" / "json.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ["recommend", "--vram", "24GB", "--top", "2"],
        ["memory", "Qwen2.5-7B-Instruct"],
        ["hardware"],
        ["profiles", "architectures"],
        ["profiles", "published"],
        ["profiles", "hardware"],
        ["results"],
        ["models"],
        ["findings"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_json_documents_carry_a_documented_schema_and_keys(args: list[str]) -> None:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    schema = data["schema"]
    assert re.fullmatch(r"advisor\.[a-z.]+/\d+", schema), schema
    assert f"`{schema}`" in JSON_DOC, f"{schema} is not in docs/json.md"
    undocumented = [k for k in data if k != "schema" and f"`{k}`" not in JSON_DOC]
    assert not undocumented, f"{schema}: keys missing from docs/json.md: {undocumented}"
    for item in data.get("items") or data.get("candidates") or []:
        missing = [k for k in item if f"`{k}`" not in JSON_DOC]
        if args[0] != "profiles":  # profiles rows are the CSV columns, named by the doc
            assert not missing, f"{schema}: item keys missing from docs/json.md: {missing}"
        break


def test_every_json_flag_names_its_schema_and_the_doc() -> None:
    import argparse

    from advisor.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subs.choices.items():
        flags = [a for a in sub._actions if "--json" in a.option_strings]
        if not flags:
            continue
        assert "docs/json.md" in (flags[0].help or ""), name
        tag = re.search(r"advisor\.[a-z.<>]+/\d", flags[0].help or "")
        assert tag, f"{name}: --json help does not name its schema"
        for schema in (tag.group(0).replace("<kind>", k) for k in
                       ("architectures", "published", "hardware")):  # fmt: skip
            assert f"`{schema}" in JSON_DOC, schema
    for schema in ("advisor.fit/1", "advisor.plot/1", "advisor.measure/2",
                   "advisor.sweep/2", "advisor.speed-estimate/1"):  # fmt: skip
        assert f"`{schema}`" in JSON_DOC


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["recommend", "--vram", "2x99999TB"], "100 TB"),
        (["recommend", "--ram", "200TB"], "100 TB"),
        (["recommend", "--vram", "24GB", "--store", ""], "--store is empty"),
        (["recommend", "--vram", "24GB", "--store", "README.md/x"], "no such store"),
        (["recommend", "--vram", "24GB", "--store", "docs"], "is a folder"),
        (["findings", "--store", "nope.jsonl"], "no such store"),
        (["plot", "-o", "plot.gguf"], ".png"),
        (["plot", "-o", "README.md/p.png"], "is a file"),
        (["plot", "--family", ""], "--family is empty"),
        (["fit", "-o", "docs"], "is a folder"),
        (["fit", "--bootstrap", "10001"], "10,000"),
        (["tui", "--vram", "200TB"], "100 TB"),
        (["tui", "--ram", "16GB", "--task", ""], "--task is empty"),
        (["tui", "--theme", ""], "--theme is empty"),
        (["tui", "--store", "nope.jsonl"], "no such store"),
    ],
)
def test_faces_refuse_bad_input_in_one_line(args: list[str], needle: str) -> None:
    assert_clean_error(run_cli(*args), needle)
