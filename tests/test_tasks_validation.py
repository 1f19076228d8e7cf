"""Task definitions are validated before anything is read or allocated: every bad file is
one line (TaskDefinitionError, exit 2 from the CLI), never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor.measure.tasks import TaskError, available_tasks, load_items, load_task, task_catalog
from advisor.measure.tasks.schema import TaskDefinitionError

GOOD = """name = "t"
version = 1
kind = "generate"
description = "d"
licence = "MIT"
metrics = ["exact_match"]
primary_metric = "exact_match"

[source]
type = "arithmetic"
generator_seed = 1
pool_per_cell = 10
fewshot = 2
cells = [["+", 1]]

[ranking]
kind = "gen"
floor = 0
quantity = "accuracy"
"""


def _write(tmp_path: Path, text: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_good_definition_loads(tmp_path: Path) -> None:
    task = load_task(str(_write(tmp_path, GOOD)))
    assert len(load_items(task, None)) == 10


BAD = [
    # (replace this, with this, expected message part)
    ("pool_per_cell = 10", "pool_per_cell = 1000000000000", "out of range"),
    ("pool_per_cell = 10", "pool_per_cell = 1e12", "must be an integer"),
    ("fewshot = 2", "fewshot = 1000000000", "out of range"),
    ("fewshot = 2", "fewshot = -1", "out of range"),
    ("fewshot = 2", 'fewshot = "2"', "must be an integer"),
    ("fewshot = 2", "fewshot = true", "must be an integer"),
    ('cells = [["+", 1]]', 'cells = [["-", 1]]', "must be one of"),
    ('cells = [["+", 1]]', 'cells = [["+", 99]]', "out of range"),
    ('cells = [["+", 1]]', "cells = []", "1..64"),
    ('cells = [["+", 1]]', 'cells = "+1"', "1..64"),
    ("version = 1", "version = 0", "out of range"),
    ("version = 1", 'version = "1"', "must be an integer"),
    ("version = 1\n", "", "missing required key 'version'"),
    ('name = "t"\n', "", "missing required key 'name'"),
    ('name = "t"', 'name = "../etc/passwd"', "must match"),
    ('kind = "generate"', 'kind = "telepathy"', "must be one of"),
    ('licence = "MIT"\n', "", "missing required key 'licence'"),
    ('metrics = ["exact_match"]', "metrics = []", "list of 1..64"),
    ('primary_metric = "exact_match"', 'primary_metric = "acc"', "is not in metrics"),
    ('type = "arithmetic"', 'type = "ftp"', "must be one of"),
    ('description = "d"', 'descripton = "d"', "unknown key"),
    ("generator_seed = 1", "generator_sed = 1", "unknown key"),
    ('kind = "gen"\nfloor = 0', 'kind = "gen"\nfloor = 1e400', "out of range"),
    ('kind = "gen"\nfloor = 0', 'kind = "gen"\nfloor = nan', "out of range"),
    ('quantity = "accuracy"', 'quantity = "vibes"', "must be one of"),
    ('quantity = "accuracy"\n', "", "missing required key 'quantity'"),
    ("[ranking]", "[rankings]", "unknown key"),
    ("[source]", "[format]\nmax_tokens = 100000\n[source]", "out of range"),
    ("[source]", "[format]\nuntil = 5\n[source]", "must be a list"),
    ("[source]", "[format]\ntimeout_s = 1e9\n[source]", "out of range"),
    ("[source]", "[format]\nmemory_mb = 1\n[source]", "out of range"),
    ("[source]", "max_bytes = -5\n[source]", "out of range"),
    ("version = 1", "version = 1\nversion = 2", "not valid TOML"),
    ("[source]", "[source", "not valid TOML"),
]


@pytest.mark.parametrize(("old", "new", "match"), BAD)
def test_bad_definitions_are_one_line(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    t0 = time.perf_counter()
    with pytest.raises(TaskError, match=match) as exc:
        task = load_task(str(path))
        load_items(task, None)
    assert time.perf_counter() - t0 < 5
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_folders_binary_and_huge_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "x.toml"
    folder.mkdir()
    with pytest.raises(TaskDefinitionError, match="a folder"):
        load_task(str(folder))
    binary = _write(tmp_path, "", "b.toml")
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(TaskDefinitionError, match="not UTF-8"):
        load_task(str(binary))
    huge = _write(tmp_path, "", "h.toml")
    huge.write_bytes(b"# " + b"x" * (2 << 20))
    with pytest.raises(TaskDefinitionError, match="too large"):
        load_task(str(huge))
    with pytest.raises(TaskError, match="no such task definition"):
        load_task(str(tmp_path / "missing.toml"))
    with pytest.raises(TaskError, match=r"ends in \.toml"):
        load_task("../../etc/passwd")
    with pytest.raises(TaskError):
        load_task("")


def test_published_only_definitions_cannot_be_measured(tmp_path: Path) -> None:
    text = 'name = "p"\nversion = 1\n\n[ranking]\nkind = "mc"\nfloor = 25\nquantity = "accuracy"\n'
    with pytest.raises(TaskError, match="nothing to measure"):
        load_task(str(_write(tmp_path, text)))
    with pytest.raises(TaskError, match="published figures only"):
        load_task("gpqa")


def test_limits_must_be_whole_positive_numbers() -> None:
    task = load_task("arithmetic")
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(TaskError, match="--limit"):
            load_items(task, bad)  # type: ignore[arg-type]


def test_every_bundled_definition_validates_and_records_its_licence() -> None:
    catalog = task_catalog()
    assert {"mmlu", "humaneval", "mbpp", "kld", "truthfulqa", "misinformation"} <= set(
        available_tasks()
    )
    for name in available_tasks():
        task = load_task(name)
        assert task.licence and task.version >= 1 and catalog[name].measurable


def test_cli_exit_2_for_a_bad_task_file(tmp_path: Path, smollm2_gguf: Path) -> None:
    folder = tmp_path / "x.toml"
    folder.mkdir()
    bad = _write(tmp_path, GOOD.replace("fewshot = 2", "fewshot = 1000000000"), "bad.toml")
    for spec in (str(folder), str(bad)):
        proc = subprocess.run(
            [sys.executable, "-m", "advisor.cli", "measure", str(smollm2_gguf), "--tasks", spec,
             "--quants", "Q8_0", "--store", str(tmp_path / "s.jsonl")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert not (tmp_path / "s.jsonl").exists()
