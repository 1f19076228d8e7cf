"""The memory guard honours the process's own limits: RLIMIT_AS (a real `ulimit -v` in a
child process), cgroup v1/v2 limits (file trees laid out as the kernel shows them, and a
real child cgroup when this process may make one), and says which limit bound it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.measure.guard import CellCgroup, available_memory, own_memory_cgroup

GIB = 2**30


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_limit_minus_usage_binds(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/self/cgroup": "0::/job/step\n",
            "proc/self/mountinfo": (
                "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
            ),
            "sys/fs/cgroup/job/memory.max": str(3 * GIB),
            "sys/fs/cgroup/job/memory.current": str(GIB),
            "sys/fs/cgroup/job/memory.stat": "anon 1\ninactive_file 0\n",
            "sys/fs/cgroup/job/step/memory.max": "max",
            "sys/fs/cgroup/job/step/memory.current": str(GIB),
            "sys/fs/cgroup/job/step/memory.stat": f"inactive_file {GIB // 2}\n",
        },
    )
    budget = available_memory(root)
    if budget.bound_by.name == "system":
        pytest.skip("this machine has less than 2 GiB free: the system binds first")
    assert budget.bound_by.name == "cgroup v2"
    assert budget.available_bytes == 2 * GIB  # the ancestor's limit applies
    assert "bound by cgroup v2, limit 3.00 GiB" in budget.describe()


def test_cgroup_v1_in_a_container_discounts_page_cache(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/self/cgroup": "4:memory:/docker/abc\n1:cpu:/docker/abc\n",
            "proc/self/mountinfo": (
                "40 31 0:30 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            ),
            "sys/fs/cgroup/memory/memory.limit_in_bytes": str(2 * GIB),
            "sys/fs/cgroup/memory/memory.usage_in_bytes": str(GIB + GIB // 2),
            "sys/fs/cgroup/memory/memory.stat": (
                f"hierarchical_memory_limit {4 * GIB}\ntotal_inactive_file {GIB}\n"
            ),
        },
    )
    kind, folder = own_memory_cgroup(root) or ("", Path())
    assert kind == "v1" and folder == root / "sys/fs/cgroup/memory"
    budget = available_memory(root)
    if budget.bound_by.name == "system":
        pytest.skip("this machine has less than 1.5 GiB free")
    assert budget.bound_by.name == "cgroup v1"
    assert budget.available_bytes == 2 * GIB - GIB // 2


def test_unlimited_cgroups_leave_the_system_bound(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "proc/self/cgroup": "4:memory:/\n0::/\n",
            "proc/self/mountinfo": (
                "40 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            ),
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
            "sys/fs/cgroup/memory/memory.usage_in_bytes": str(GIB),
        },
    )
    assert available_memory(root).bound_by.name in {"system", "RLIMIT_AS"}
    assert available_memory(tmp_path / "nothing-here").limits[0].name == "system"


def test_rlimit_as_binds_in_a_limited_process() -> None:
    code = (
        "import json, resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))\n"
        "from advisor.measure.guard import available_memory\n"
        "b = available_memory()\n"
        "print(json.dumps([b.bound_by.name, b.available_bytes, b.describe()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    name, available, text = json.loads(out.stdout)
    assert name == "RLIMIT_AS"
    assert 0 < available < 3 * GIB
    assert "bound by RLIMIT_AS, limit 3.00 GiB" in text


def test_a_real_cell_cgroup_kills_a_runaway() -> None:
    cell = CellCgroup.create(200 * 2**20)
    if cell is None:
        pytest.skip("this process may not create a memory cgroup here")
    try:
        grow = "x = bytearray(600 * 2**20)\nx[::4096] = b'a' * len(x[::4096])\nprint('lived')"
        proc = subprocess.run(
            [sys.executable, "-c", grow], preexec_fn=cell.enter, capture_output=True, timeout=60
        )
        assert proc.returncode != 0 and b"lived" not in proc.stdout
        assert cell.oom_killed()
    finally:
        cell.remove()
    assert not cell.folder.exists()


def test_cell_cgroup_rejects_a_bad_limit() -> None:
    with pytest.raises(ValueError, match="limit_bytes must be positive"):
        CellCgroup.create(0)


def test_cells_of_dead_drivers_are_removed() -> None:
    probe = CellCgroup.create(200 * 2**20)
    if probe is None:
        pytest.skip("this process may not create a memory cgroup here")
    probe.remove()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = probe.folder.parent / f"advisor-cell-{dead.pid}-0"
    stale.mkdir()  # what a kill -9 of a driver leaves behind
    cell = CellCgroup.create(200 * 2**20)
    assert cell is not None
    cell.remove()
    assert not stale.exists()
