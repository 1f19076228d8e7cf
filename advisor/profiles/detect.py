"""Detect the memory this machine offers (GPUs via NVML, system RAM, Apple unified memory)
and a fingerprint of it for measurement provenance. NVML is optional: without it, or
without an NVIDIA driver, the GPU list is empty."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any


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
