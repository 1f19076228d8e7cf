"""The Ray executor on a local Ray cluster this test starts (2 CPUs, no dashboard): configs
run as Ray tasks with declared resources, events stream back, the driver writes every
record once, and a killed Ray worker becomes failed records, not lost ones. Slow: Ray
starts in ~5 s and the real SmolLM2 model is measured."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """One local cluster for the module (starting Ray takes seconds on 2 cores)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _configs(tmp_path: Path, gguf: Path, formats: tuple[str, ...]) -> tuple[Any, Any, Path]:
    from advisor.measure.plan import load_plan
    from advisor.measure.runner import plan_sweep

    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        f'models = ["{gguf}"]\nformats = {list(formats)!r}\ntasks = ["arithmetic"]\n'
        "limit = 2\ncontext = 256\nthreads = 1\n".replace("'", '"')
    )
    plan = load_plan(plan_file)
    opts = replace(plan.options, speed=False)
    store = tmp_path / "s.jsonl"
    configs = plan_sweep([str(gguf)], list(plan.formats), list(plan.tasks), store, opts)
    return configs, opts, store


def test_ray_runs_cells_and_the_driver_writes_them(
    ray_cluster: Any, tmp_path: Path, smollm2_gguf: Path
) -> None:
    from advisor.measure.executors.ray import RayExecutor
    from advisor.measure.runner import SweepEvent, execute, sweep_exit_code
    from advisor.measure.store import read_store

    configs, opts, store = _configs(tmp_path, smollm2_gguf, ("Q4_1", "Q4_0"))
    events: list[SweepEvent] = []
    rows = execute(configs, store, opts, events.append, RayExecutor())
    assert sweep_exit_code(rows) == 0, rows
    assert sorted((r["format"], r["status"]) for r in rows) == [("Q4_0", "ok"), ("Q4_1", "ok")]
    workers = {e.data["pid"] for e in events if e.kind == "started"}
    assert len(workers) == 2 and os.getpid() not in workers
    assert [e.kind for e in events].count("task_done") == 2
    assert any(e.kind == "progress" for e in events)  # streamed, not only at the end
    records = read_store(store)[0]
    assert sorted(m.format for m in records) == ["Q4_0", "Q4_1"]
    assert all(m.status == "ok" and m.n == 2 for m in records)
    again = execute(configs, store, opts, None, RayExecutor())  # claimed under the lock: done
    assert all(r["status"] == "skipped (already stored)" for r in again)
    assert len(read_store(store)[0]) == 2


def test_a_killed_ray_worker_is_a_failed_record(
    ray_cluster: Any, tmp_path: Path, smollm2_gguf: Path
) -> None:
    import psutil

    from advisor.measure.executors.ray import RayExecutor
    from advisor.measure.runner import SweepEvent, execute, sweep_exit_code
    from advisor.measure.store import read_store

    configs, opts, store = _configs(tmp_path, smollm2_gguf, ("Q4_1",))
    killed: list[int] = []

    def on_event(ev: SweepEvent) -> None:
        if ev.kind == "started" and not killed:
            ray_worker = psutil.Process(int(ev.data["pid"])).parent()
            assert ray_worker is not None and ray_worker.pid != os.getpid()
            killed.append(ray_worker.pid)
            os.kill(ray_worker.pid, signal.SIGKILL)

    rows = execute(configs, store, opts, on_event, RayExecutor())
    assert killed and sweep_exit_code(rows) == 1
    (row,) = rows
    assert row["status"] == "failed" and "ray task lost" in row["error"]
    (record,) = read_store(store)[0]
    assert record.status == "failed" and "ray task lost" in (record.error or "")
    rows = execute(configs, store, opts, None, RayExecutor())  # a resumed sweep retries it
    assert [r["status"] for r in rows] == ["ok"]
    assert sys.modules.get("ray") is not None  # imported by the executor, here only
