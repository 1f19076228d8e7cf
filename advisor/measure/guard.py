"""The memory guard: how much memory a measurement may use here, and the cgroup that
holds one cell to its limit.

:func:`available_memory` is the smallest of

* the system's available memory (``psutil``: free + reclaimable),
* the ``RLIMIT_AS`` headroom of this process (``ulimit -v``: soft limit minus the address
  space in use),
* every cgroup memory limit above this process, minus its usage (v2 ``memory.max`` −
  ``memory.current``, v1 ``memory.limit_in_bytes`` − ``memory.usage_in_bytes``; page cache
  the kernel can drop, ``inactive_file``, is not counted as used, as container runtimes do),

and says which one bound it: containers and cluster nodes usually limit a process far
below the machine's free memory.

:class:`CellCgroup` makes a child cgroup with a memory limit for one worker when this
process may (a v2 cgroup that delegates the memory controller, or a writable v1 memory
hierarchy), so the kernel holds the worker to its limit and reports an OOM kill.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
# v1 writes "unlimited" as a huge page-rounded number (0x7FFFFFFFFFFFF000).
_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class MemoryLimit:
    """One limit on this process's memory and what is left under it."""

    name: str  # "system", "RLIMIT_AS", "cgroup v2", "cgroup v1"
    available_bytes: int
    limit_bytes: int | None  # the limit itself (None for the system's available memory)
    where: str  # a file or a call, for the message


@dataclass(frozen=True)
class MemoryBudget:
    """The memory a measurement may use now: the smallest of every limit that applies."""

    available_bytes: int
    bound_by: MemoryLimit
    limits: tuple[MemoryLimit, ...]

    def describe(self) -> str:
        b = self.bound_by
        text = f"{self.available_bytes / GIB:.2f} GiB available"
        if b.name == "system":
            return text + " (system memory)"
        limit = f", limit {b.limit_bytes / GIB:.2f} GiB" if b.limit_bytes is not None else ""
        return text + f" (bound by {b.name}{limit}: {b.where})"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _stat_value(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


@dataclass(frozen=True)
class _Mount:
    point: Path
    root: str  # the cgroup path this mount shows at its top (container namespaces)
    fstype: str
    options: frozenset[str]


def _mounts(root: Path) -> list[_Mount]:
    out: list[_Mount] = []
    with contextlib.suppress(OSError):
        for line in (root / "proc/self/mountinfo").read_text().splitlines():
            pre, _, post = line.partition(" - ")
            parts, tail = pre.split(), post.split()
            if len(parts) < 5 or len(tail) < 3:
                continue
            opts = frozenset(tail[2].split(",")) | frozenset(parts[5].split(","))
            point = root / parts[4].lstrip("/")
            out.append(_Mount(point, parts[3], tail[0], opts))
    return out


def _own_cgroups(root: Path) -> dict[str, str]:
    """{"v2": path} and/or {"v1": path} of this process's memory cgroup."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in (root / "proc/self/cgroup").read_text().splitlines():
            num, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            if num == "0" and controllers == "":
                found["v2"] = path
            elif "memory" in controllers.split(","):
                found["v1"] = path
    return found


def _cgroup_dir(mount: _Mount, path: str) -> Path:
    """The folder of cgroup ``path`` under ``mount``; inside a container the mount's top
    is the container's own cgroup, so the path is taken relative to the mount's root."""
    rel = path
    if mount.root not in ("/", "") and path.startswith(mount.root):
        rel = path[len(mount.root) :]
    candidate = mount.point / rel.lstrip("/")
    return candidate if candidate.is_dir() else mount.point


def own_memory_cgroup(root: Path = Path("/")) -> tuple[str, Path] | None:
    """("v2" | "v1", folder) of this process's memory cgroup, if one is mounted."""
    own = _own_cgroups(root)
    mounts = _mounts(root)
    if "v2" in own:
        for m in mounts:
            if m.fstype == "cgroup2":
                d = _cgroup_dir(m, own["v2"])
                if (d / "memory.max").exists() or (d / "memory.current").exists():
                    return "v2", d
    if "v1" in own:
        for m in mounts:
            if m.fstype == "cgroup" and "memory" in m.options:
                return "v1", _cgroup_dir(m, own["v1"])
    return None


def _cgroup_limits(root: Path) -> list[MemoryLimit]:
    found = own_memory_cgroup(root)
    if found is None:
        return []
    kind, folder = found
    out: list[MemoryLimit] = []
    if kind == "v2":
        top = next((m.point for m in _mounts(root) if m.fstype == "cgroup2"), folder)
        d = folder
        while True:  # every ancestor's memory.max applies
            limit = _read_int(d / "memory.max")
            if limit is not None and (d / "memory.max").exists():
                used = (_read_int(d / "memory.current") or 0) - _stat_value(
                    d / "memory.stat", "inactive_file"
                )
                out.append(MemoryLimit("cgroup v2", limit - max(0, used), limit, str(d)))
            if d == top or d.parent == d:
                break
            d = d.parent
        return out
    limit = _read_int(folder / "memory.limit_in_bytes")
    hier = _stat_value(folder / "memory.stat", "hierarchical_memory_limit")
    candidates = [x for x in (limit, hier) if x and x < _UNLIMITED]
    if candidates:
        lim = min(candidates)
        used = (_read_int(folder / "memory.usage_in_bytes") or 0) - _stat_value(
            folder / "memory.stat", "total_inactive_file"
        )
        out.append(MemoryLimit("cgroup v1", lim - max(0, used), lim, str(folder)))
    return out


def _rlimit_as() -> MemoryLimit | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    import psutil

    vms = int(psutil.Process().memory_info().vms)
    return MemoryLimit("RLIMIT_AS", soft - vms, int(soft), "ulimit -v (address space)")


def available_memory(root: Path = Path("/")) -> MemoryBudget:
    """The memory a measurement may use now, and which limit bound it."""
    import psutil

    limits = [MemoryLimit("system", int(psutil.virtual_memory().available), None, "psutil")]
    rl = _rlimit_as()
    if rl is not None:
        limits.append(rl)
    limits += _cgroup_limits(root)
    bound = min(limits, key=lambda x: x.available_bytes)
    return MemoryBudget(max(0, bound.available_bytes), bound, tuple(limits))


# -- one cell's cgroup ----------------------------------------------------------------------
_SEQ = itertools.count()


def _remove_stale_cells(parent: Path) -> None:
    """Cell cgroups of drivers that are gone (a ``kill -9`` leaves them, empty)."""
    with contextlib.suppress(OSError):
        for d in parent.glob("advisor-cell-*-*"):
            try:
                pid = int(d.name.split("-")[2])
                os.kill(pid, 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):  # still holds a process: leave it
                    d.rmdir()
            except (ValueError, IndexError, PermissionError):
                continue


class CellCgroup:
    """A child memory cgroup holding one worker to ``limit_bytes``; :meth:`create`
    returns None where this process may not make one (then RLIMIT_AS is the fallback)."""

    def __init__(self, kind: str, folder: Path, limit_bytes: int) -> None:
        self.kind, self.folder, self.limit_bytes = kind, folder, limit_bytes

    @classmethod
    def create(cls, limit_bytes: int, root: Path = Path("/")) -> CellCgroup | None:
        if limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be positive, not {limit_bytes}")
        found = own_memory_cgroup(root)
        if found is None:
            return None
        kind, parent = found
        if kind == "v2":
            try:
                delegated = "memory" in (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                delegated = False
            if not delegated:
                return None
        _remove_stale_cells(parent)
        folder = parent / f"advisor-cell-{os.getpid()}-{next(_SEQ)}"
        try:
            folder.mkdir()
        except OSError:
            return None
        cell = cls(kind, folder, limit_bytes)
        try:
            if kind == "v2":
                (folder / "memory.max").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (folder / "memory.swap.max").write_text("0")
            else:
                (folder / "memory.limit_in_bytes").write_text(str(limit_bytes))
                with contextlib.suppress(OSError):
                    (folder / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        except OSError:
            cell.remove()
            return None
        return cell

    def enter(self) -> None:
        """Move the calling process in (a worker calls this between fork and exec)."""
        with open(self.folder / "cgroup.procs", "w") as fh:
            fh.write(str(os.getpid()))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for memory."""
        if self.kind == "v2":
            return _stat_value(self.folder / "memory.events", "oom_kill") > 0
        if _stat_value(self.folder / "memory.oom_control", "oom_kill") > 0:
            return True
        return (_read_int(self.folder / "memory.failcnt") or 0) > 0 and not (
            self.folder / "memory.oom_control"
        ).exists()

    def peak_bytes(self) -> int | None:
        name = "memory.peak" if self.kind == "v2" else "memory.max_usage_in_bytes"
        return _read_int(self.folder / name)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.folder.rmdir()


__all__ = ["CellCgroup", "MemoryBudget", "MemoryLimit", "available_memory", "own_memory_cgroup"]
