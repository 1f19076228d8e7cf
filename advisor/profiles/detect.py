"""Detect the memory this machine offers (GPUs via NVML, system RAM, Apple unified memory)
and a fingerprint of it for measurement provenance. NVML is optional: without it, or
without an NVIDIA driver, the GPU list is empty.

For speed estimates, :func:`local_profiles` maps each detected GPU (by its NVML name) and
an Apple chip (by its brand string) to a bundled profile, and :func:`memory_bandwidth_probe`
measures the host's RAM bandwidth with a short copy (labelled "measured here"). Neither
runs unless asked; ``import advisor`` does not import this module."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from advisor.profiles.hardware import HardwareProfile


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Hardware:
    cpu: str
    cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: tuple[GPU, ...] = field(default_factory=tuple)
    unified_memory: bool = False  # Apple silicon: the GPU shares system RAM
    gpu_error: str | None = None  # why no GPU could be read, when it matters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cpu_name() -> str:
    system = platform.system()
    if system == "Linux":
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                for line in fh:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
    if system == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            )
            if out.stdout.strip():
                return out.stdout.strip()
        except OSError:
            pass
    return platform.processor() or platform.machine()


def _nvidia_gpus() -> tuple[tuple[GPU, ...], str | None]:
    try:
        import pynvml
    except ImportError:
        return (), "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver / no device: NVMLError subclasses
        return (), f"NVML unavailable ({exc})"
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            gpus.append(GPU(i, name, int(mem.total), int(mem.free)))
        return tuple(gpus), None
    finally:
        pynvml.nvmlShutdown()


@cache
def detect() -> Hardware:
    """What this machine has now. Cached: call once per process."""
    import psutil

    vm = psutil.virtual_memory()
    gpus, gpu_error = _nvidia_gpus()
    apple = platform.system() == "Darwin" and platform.machine() == "arm64"
    return Hardware(
        cpu=_cpu_name(),
        cores=os.cpu_count() or 1,
        ram_total_bytes=int(vm.total),
        ram_available_bytes=int(vm.available),
        gpus=gpus,
        unified_memory=apple,
        gpu_error=gpu_error,
    )


def fingerprint() -> dict[str, Any]:
    """A compact record of the hardware, stored with every measurement."""
    hw = detect()
    return {
        "cpu": hw.cpu,
        "cores": hw.cores,
        "ram_bytes": hw.ram_total_bytes,
        "gpus": [{"name": g.name, "total_bytes": g.total_bytes} for g in hw.gpus],
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
    }


@dataclass(frozen=True)
class BandwidthProbe:
    """RAM bandwidth measured here: bytes read plus written by a parallel array copy over
    the best pass's wall time."""

    gbs: float
    bytes_moved: int
    seconds: float
    threads: int
    method: str = "numpy copy of a 128 MiB array, best of 3 passes, 1 thread and all threads"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROBE_BYTES = 128 * 2**20  # well past the last-level cache of desktop CPUs


@cache
def memory_bandwidth_probe(size_bytes: int = PROBE_BYTES, passes: int = 3) -> BandwidthProbe:
    """Measure this machine's RAM bandwidth (cached per process; well under a second on an
    idle desktop, mostly first-touch page faults).

    A copy reads and writes every byte, so the bytes moved are twice the array. Threads
    split the array (numpy releases the GIL while copying); one core rarely saturates a
    multi-channel memory, so the best of one thread and all threads is kept. Expect 60-85 %
    of the theoretical channels x MT/s x 8 figure on a desktop.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    if size_bytes < 16 * 2**20 or passes < 1:
        raise ValueError("probe at least 16 MiB once")
    n = size_bytes // 8
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page before timing
    best = (0.0, 1.0, 1)
    for threads in sorted({1, max(1, min(os.cpu_count() or 1, 16))}):
        bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
        chunks = [(int(a), int(b)) for a, b in pairwise(bounds)]

        def copy(chunk: tuple[int, int]) -> None:
            np.copyto(dst[chunk[0] : chunk[1]], src[chunk[0] : chunk[1]])

        with ThreadPoolExecutor(threads) as pool:
            for _ in range(passes):
                start = time.perf_counter()
                list(pool.map(copy, chunks))
                seconds = time.perf_counter() - start
                rate = 2 * src.nbytes / seconds / 1e9
                if rate > best[0]:
                    best = (rate, seconds, threads)
    return BandwidthProbe(round(best[0], 2), 2 * int(src.nbytes), best[1], best[2])


_SIZE_TOKEN = re.compile(r"^\d+gb$")
_FORM = {"sxm", "sxm4", "sxm5", "pcie", "nvl"}  # form factors, not model numbers
_NOISE = {"nvidia", "geforce", "tesla", "graphics", "generation", "edition", "hbm3", "hbm2e"}


def _name_tokens(name: str) -> set[str]:
    text = re.sub(r"[^a-z0-9]+", " ", name.lower().replace("-", " "))
    return {t for t in text.split() if t and t not in _NOISE}


def gpu_profile_for(name: str, total_bytes: int) -> HardwareProfile | None:
    """The bundled profile of a GPU as NVML names it, e.g. "NVIDIA GeForce RTX 4090" or
    "NVIDIA A100-SXM4-80GB"; memory size breaks ties between variants. None when no
    profile's model tokens match."""
    from advisor.profiles.hardware import hardware_profiles

    got = _name_tokens(name)
    best: tuple[float, HardwareProfile] | None = None
    for p in hardware_profiles().values():
        if p.kind == "cpu" or p.vendor == "Apple":
            continue
        want = {t for t in _name_tokens(p.name) if not _SIZE_TOKEN.match(t)}
        model = {t for t in want if any(c.isdigit() for c in t) and t not in _FORM}
        if not model or not model <= got:
            continue
        if {"ti", "super"} & (got ^ want):  # "RTX 4070" is not "RTX 4070 Ti"
            continue
        if any((f in got) != (f in want) for f in ("pcie", "nvl")):  # NVML names these
            continue
        extra = {
            t
            for t in got
            if any(c.isdigit() for c in t) and not _SIZE_TOKEN.match(t) and t not in _FORM
        }
        if extra - model:
            continue
        score = len(want & got) - abs(p.memory_bytes - total_bytes) / max(total_bytes, 1)
        if best is None or score > best[0]:
            best = (score, p)
    return best[1] if best else None


def apple_profile_for(chip: str, memory_bytes: int) -> HardwareProfile | None:
    """The bundled Apple profile of a chip brand string ("Apple M2 Pro") with the memory
    size nearest to this machine's."""
    from advisor.profiles.hardware import hardware_profiles

    m = re.match(r"apple (m\d+)( pro| max| ultra)?", chip.strip().lower())
    if not m:
        return None
    family = m.group(1) + (m.group(2) or "")
    candidates = [
        p
        for p in hardware_profiles().values()
        if p.vendor == "Apple"
        and re.match(r"apple (m\d+)( pro| max| ultra)?", p.name.lower())
        and re.match(r"apple (m\d+)( pro| max| ultra)?", p.name.lower()).group(0)  # type: ignore[union-attr]
        == "apple " + family
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda p: abs(p.memory_bytes - memory_bytes))


def local_profiles(
    hw: Hardware | None = None,
) -> tuple[list[HardwareProfile], HardwareProfile | None]:
    """(profiles of the detected NVIDIA GPUs that have one, in NVML order; the Apple chip's
    profile on Apple silicon, else None)."""
    hw = hw or detect()
    gpus = [p for g in hw.gpus if (p := gpu_profile_for(g.name, g.total_bytes)) is not None]
    apple = apple_profile_for(hw.cpu, hw.ram_total_bytes) if hw.unified_memory else None
    return gpus, apple
